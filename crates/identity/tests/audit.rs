//! The audit log: append-only, written with (and only with) the change it records,
//! listed per organization by time; and two organizations that never see each other.

use diesel::prelude::{ExpressionMethods, QueryDsl};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use neonhub_identity::*;
use neonhub_schema::ids::AuditLogId;
use neonhub_schema::schema::{audit_logs, users};
use neonhub_schema::{Actor, TenantScope};
use neonhub_testing::fixtures::identity::*;
use neonhub_testing::{fixtures, owner_do, test_connection};
use serde_json::json;

/// Runs `statement` in a savepoint and returns its error (the test transaction survives).
async fn refused(conn: &mut AsyncPgConnection, statement: &str) -> String {
    let sql = statement.to_owned();
    conn.transaction::<(), diesel::result::Error, _>(async |tx| {
        diesel::sql_query(sql).execute(tx).await.map(drop)
    })
    .await
    .expect_err(statement)
    .to_string()
}

#[tokio::test]
async fn audit_rows_cannot_be_changed_or_deleted_but_outlive_their_organization() {
    let mut conn = test_connection().await;
    let o = org(&mut conn).await;
    // This test is about the database's own trigger: it acts as the owner throughout.
    owner_do(&mut conn, async |conn| {
        let id: AuditLogId = audit_logs::table
            .filter(audit_logs::organizationId.eq(&o.org.id))
            .select(audit_logs::id)
            .first(conn)
            .await
            .unwrap();
        let update = format!("UPDATE audit_logs SET action = 'forged' WHERE id = '{id}'");
        assert!(refused(conn, &update).await.contains("append-only"));
        let move_org = format!("UPDATE audit_logs SET \"organizationId\" = NULL WHERE id = '{id}'");
        assert!(refused(conn, &move_org).await.contains("append-only"));
        let delete = format!("DELETE FROM audit_logs WHERE id = '{id}'");
        assert!(refused(conn, &delete).await.contains("append-only"));

        // The foreign keys' own SET NULL still works: deleting the organization and the user
        // keeps every audit row, detached.
        let before: i64 = audit_logs::table
            .filter(audit_logs::organizationId.eq(&o.org.id))
            .count()
            .get_result(conn)
            .await
            .unwrap();
        Organization::delete(conn, &o.scope).await.unwrap();
        diesel::delete(users::table.find(&o.owner))
            .execute(conn)
            .await
            .unwrap();
        let rows: Vec<(Option<String>, Option<String>, String)> = audit_logs::table
            .filter(audit_logs::resourceId.eq(o.org.id.as_str()))
            .select((
                audit_logs::organizationId,
                audit_logs::userId,
                audit_logs::action,
            ))
            .order(audit_logs::id)
            .load(conn)
            .await
            .unwrap();
        assert_eq!(
            rows,
            [
                (None, None, actions::ORGANIZATION_CREATED.to_owned()),
                (None, None, actions::ORGANIZATION_DELETED.to_owned()),
            ]
        );
        assert_eq!(before, 1);
    })
    .await;
}

#[tokio::test]
async fn a_rolled_back_change_leaves_no_audit_row_and_a_committed_one_leaves_exactly_one() {
    let mut conn = test_connection().await;
    let o = org(&mut conn).await;
    let user = fixtures::user(&mut conn).await;
    let role = o.role(DefaultRole::Member).id.clone();
    let scope = o.scope.clone();

    // The caller's own transaction fails after the invitation: both vanish together.
    let outcome = conn
        .transaction::<(), IdentityError, _>(async |tx| {
            Membership::invite(tx, &scope, &user, &role).await?;
            Err(IdentityError::NotFound {
                entity: "anything",
                id: "to roll back".into(),
            })
        })
        .await;
    assert!(outcome.is_err());
    assert_eq!(
        audit_actions(&mut conn, &o).await,
        [actions::ORGANIZATION_CREATED]
    );
    let err = Membership::get(&mut conn, &o.scope, &user)
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::NotFound { .. }), "{err}");

    // Refused changes write nothing either.
    Membership::accept(&mut conn, &o.org.id, &user)
        .await
        .unwrap_err();
    Membership::suspend(&mut conn, &o.scope, &o.owner)
        .await
        .unwrap_err();
    assert_eq!(
        audit_actions(&mut conn, &o).await,
        [actions::ORGANIZATION_CREATED]
    );

    Membership::invite(&mut conn, &o.scope, &user, &role)
        .await
        .unwrap();
    let page = AuditEntry::list(
        &mut conn,
        &o.scope,
        &AuditFilter::default(),
        &PageRequest::first(10),
    )
    .await
    .unwrap();
    let newest = &page.items[0];
    assert_eq!(newest.action, actions::MEMBER_INVITED);
    assert_eq!(newest.user_id.as_ref(), Some(&o.owner));
    assert_eq!(newest.actor_type.as_deref(), Some("user"));
    assert_eq!(newest.resource_type.as_deref(), Some("organization_member"));
    assert_eq!(newest.metadata.as_ref().unwrap()["user"], json!(user));
    assert_eq!(newest.metadata.as_ref().unwrap()["role"], json!(role));
}

#[tokio::test]
async fn the_log_is_listed_by_organization_and_time_in_keyset_pages() {
    let mut conn = test_connection().await;
    let o = org(&mut conn).await;
    let other = org(&mut conn).await;
    let system = TenantScope::trusted_system(o.org.id.clone());
    for i in 0..7 {
        let id = format!("campaign-{i}");
        let entry = NewAuditEntry::new("campaign.updated", "campaign", &id)
            .with_metadata(json!({ "i": i }));
        let row = AuditEntry::append(&mut conn, &system, &entry)
            .await
            .unwrap();
        assert_eq!(
            (row.actor_type.as_deref(), row.user_id.as_ref()),
            (Some("system"), None)
        );
    }
    AuditEntry::append(
        &mut conn,
        &other.scope,
        &NewAuditEntry::new("campaign.updated", "campaign", "theirs"),
    )
    .await
    .unwrap();

    let filter = AuditFilter {
        action: Some("campaign.updated"),
        ..Default::default()
    };
    let mut seen = Vec::new();
    let mut request = PageRequest::first(3);
    loop {
        let page = AuditEntry::list(&mut conn, &o.scope, &filter, &request)
            .await
            .unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.iter().map(|e| e.resource_id.clone().unwrap()));
        match page.next {
            Some(cursor) => request = PageRequest::after(3, cursor),
            None => break,
        }
    }
    let expected: Vec<String> = (0..7).rev().map(|i| format!("campaign-{i}")).collect();
    assert_eq!(
        seen, expected,
        "newest first, each once, none of the other organization"
    );

    // A time window: everything before the first entry is empty; since it, all 8 rows of o.
    let all = AuditEntry::list(
        &mut conn,
        &o.scope,
        &AuditFilter::default(),
        &PageRequest::first(100),
    )
    .await
    .unwrap();
    assert_eq!(all.items.len(), 8);
    let oldest = all.items.last().unwrap().created_at;
    let before = AuditFilter {
        until: Some(oldest),
        ..Default::default()
    };
    assert!(
        AuditEntry::list(&mut conn, &o.scope, &before, &PageRequest::first(100))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let since = AuditFilter {
        since: Some(oldest),
        ..Default::default()
    };
    assert_eq!(
        AuditEntry::list(&mut conn, &o.scope, &since, &PageRequest::first(100))
            .await
            .unwrap()
            .items
            .len(),
        8
    );

    // Reading the log takes audit:read, which members lack.
    let member_user = member(&mut conn, &o, DefaultRole::Member, true).await;
    let as_member = scope_of(&mut conn, &o, &member_user, keys::CONTENT_READ).await;
    let err = AuditEntry::list(
        &mut conn,
        &as_member,
        &AuditFilter::default(),
        &PageRequest::first(10),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, IdentityError::Denied(Denied::MissingPermission { .. })),
        "{err}"
    );
}

#[tokio::test]
async fn one_organizations_scope_never_reads_or_changes_anothers_rows() {
    let mut conn = test_connection().await;
    let a = org(&mut conn).await;
    let b = org(&mut conn).await;
    let b_member = member(&mut conn, &b, DefaultRole::Member, true).await;
    let b_invited = member(&mut conn, &b, DefaultRole::Viewer, false).await;
    let b_admin_role = b.role(DefaultRole::Admin).id.clone();
    let b_before = audit_actions(&mut conn, &b).await;

    // a's owner is not a member of b.
    let err = authorize(&mut conn, &b.org.id, &a.owner, keys::MEMBERS_READ)
        .await
        .unwrap_err();
    assert!(matches!(err, Denied::NotMember { .. }), "{err}");

    // Everything a's scope does with b's rows finds nothing.
    let not_found = |r: Result<(), IdentityError>| match r {
        Err(IdentityError::NotFound { .. } | IdentityError::RoleNotInOrganization(_)) => {}
        other => panic!("expected not found, got {other:?}"),
    };
    not_found(
        Membership::get(&mut conn, &a.scope, &b_member)
            .await
            .map(drop),
    );
    not_found(
        Membership::change_role(
            &mut conn,
            &a.scope,
            &b_member,
            &a.role(DefaultRole::Admin).id,
        )
        .await
        .map(drop),
    );
    not_found(
        Membership::change_role(&mut conn, &a.scope, &b_member, &b_admin_role)
            .await
            .map(drop),
    );
    not_found(
        Membership::suspend(&mut conn, &a.scope, &b_member)
            .await
            .map(drop),
    );
    not_found(Membership::remove(&mut conn, &a.scope, &b_member).await);
    not_found(Membership::remove(&mut conn, &a.scope, &b_invited).await);
    not_found(
        Role::permissions(&mut conn, &a.scope, &b_admin_role)
            .await
            .map(drop),
    );
    not_found(Role::grant(&mut conn, &a.scope, &b_admin_role, keys::AUDIT_READ).await);
    not_found(Role::revoke(&mut conn, &a.scope, &b_admin_role, keys::MEMBERS_READ).await);
    not_found(Role::delete(&mut conn, &a.scope, &b_admin_role).await);
    let listed = Membership::list(&mut conn, &a.scope, &PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(listed.items.iter().all(|m| m.organization_id == a.org.id));
    assert!(
        Role::list(&mut conn, &a.scope)
            .await
            .unwrap()
            .iter()
            .all(|r| r.organization_id == a.org.id)
    );
    assert!(
        Permission::list(&mut conn, &a.scope)
            .await
            .unwrap()
            .iter()
            .all(|p| p.organization_id == a.org.id)
    );
    assert_eq!(
        Organization::get(&mut conn, &a.scope).await.unwrap().id,
        a.org.id
    );
    let log = AuditEntry::list(
        &mut conn,
        &a.scope,
        &AuditFilter::default(),
        &PageRequest::first(100),
    )
    .await
    .unwrap();
    assert!(
        log.items
            .iter()
            .all(|e| e.organization_id.as_ref() == Some(&a.org.id))
    );

    // b is exactly as it was.
    assert_eq!(audit_actions(&mut conn, &b).await, b_before);
    let m = Membership::get(&mut conn, &b.scope, &b_member)
        .await
        .unwrap();
    assert_eq!(
        (m.status, m.role_id.as_ref()),
        (MemberStatus::Active, Some(&b.role(DefaultRole::Member).id))
    );
    Membership::get(&mut conn, &b.scope, &b_invited)
        .await
        .unwrap();
    assert!(
        Role::permissions(&mut conn, &b.scope, &b_admin_role)
            .await
            .unwrap()
            .contains(&keys::MEMBERS_READ.to_owned())
    );
    assert!(matches!(a.scope.actor(), Actor::User(u) if *u == a.owner));
}

#[tokio::test]
async fn no_session_setting_switches_the_append_only_trigger_off() {
    let mut conn = test_connection().await;
    let o = org(&mut conn).await;
    // As the owner (the application role may not set it): what the COPY fast path sets;
    // ordinary triggers stop firing, ALWAYS ones do not. One batch, so SET LOCAL holds for
    // the UPDATE on any connection.
    let err = owner_do(&mut conn, async |conn| {
        conn.batch_execute(&format!(
            r#"SET LOCAL session_replication_role = replica;
               UPDATE audit_logs SET action = 'forged' WHERE "organizationId" = '{}'"#,
            o.org.id
        ))
        .await
        .unwrap_err()
    })
    .await;
    assert!(err.to_string().contains("append-only"), "{err}");
}
