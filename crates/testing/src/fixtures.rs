//! Fixture builders with sensible defaults, for rows other crates' tests need as parents.

use diesel::ExpressionMethods;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{OrganizationId, UserId};
use neonhub_schema::schema::{organizations, users};
use neonhub_schema::{TenantScope, time};

/// Inserts an organization with a unique slug; returns its id.
pub async fn organization(conn: &mut AsyncPgConnection) -> OrganizationId {
    let id = OrganizationId::generate();
    let now = time::now();
    diesel::insert_into(organizations::table)
        .values((
            organizations::id.eq(&id),
            organizations::slug.eq(format!("org-{id}")),
            organizations::name.eq("Test Org"),
            organizations::createdAt.eq(now),
            organizations::updatedAt.eq(now),
        ))
        .execute(conn)
        .await
        .expect("insert organization fixture");
    id
}

/// Inserts an organization and returns a trusted scope for it.
pub async fn scoped_organization(conn: &mut AsyncPgConnection) -> TenantScope {
    TenantScope::trusted_system(organization(conn).await)
}

/// Inserts a user with a unique email; returns its id.
pub async fn user(conn: &mut AsyncPgConnection) -> UserId {
    let id = UserId::generate();
    let now = time::now();
    diesel::insert_into(users::table)
        .values((
            users::id.eq(&id),
            users::email.eq(format!("{id}@example.test")),
            users::createdAt.eq(now),
            users::updatedAt.eq(now),
        ))
        .execute(conn)
        .await
        .expect("insert user fixture");
    id
}
