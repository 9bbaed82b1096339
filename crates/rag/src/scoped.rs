//! What every organization-owned aggregate (a table with `"organizationId"`) shares:
//! get, delete, and the in-transaction lookups other repositories link through.

/// Implements `get`, `delete`, `find` and `parent` for an aggregate whose table has an
/// `organizationId` column, plus the module's `not_found`.
macro_rules! org_scoped {
    ($model:ident, $table:ident, $id:ty, $entity:literal, $delete_doc:literal) => {
        impl $model {
            #[doc = concat!("The ", $entity, " with `id` in this organization.")]
            pub async fn get(
                conn: &mut AsyncPgConnection,
                scope: &TenantScope,
                id: &$id,
            ) -> Result<Self, RagError> {
                scope
                    .transaction(conn, async |tx| {
                        Self::find(tx, scope, id)
                            .await?
                            .ok_or_else(|| not_found(id))
                    })
                    .await
            }

            #[doc = $delete_doc]
            pub async fn delete(
                conn: &mut AsyncPgConnection,
                scope: &TenantScope,
                id: &$id,
            ) -> Result<(), RagError> {
                scope
                    .transaction(conn, async |tx| {
                        let n = diesel::delete($table::table)
                            .filter(
                                $table::id
                                    .eq(id)
                                    .and($table::organizationId.eq(scope.organization_id())),
                            )
                            .execute(tx)
                            .await?;
                        if n == 0 { Err(not_found(id)) } else { Ok(()) }
                    })
                    .await
            }

            /// The row, if it is in this organization (inside a scope transaction).
            pub(crate) async fn find(
                tx: &mut AsyncPgConnection,
                scope: &TenantScope,
                id: &$id,
            ) -> Result<Option<Self>, RagError> {
                Ok($table::table
                    .filter(
                        $table::id
                            .eq(id)
                            .and($table::organizationId.eq(scope.organization_id())),
                    )
                    .select(Self::as_select())
                    .first(tx)
                    .await
                    .optional()?)
            }

            /// The row as a parent another row links to: refused unless in this organization.
            pub(crate) async fn parent(
                tx: &mut AsyncPgConnection,
                scope: &TenantScope,
                id: &$id,
            ) -> Result<Self, RagError> {
                Self::find(tx, scope, id)
                    .await?
                    .ok_or_else(|| RagError::ForeignParent {
                        entity: $entity,
                        id: id.to_string(),
                    })
            }
        }

        fn not_found(id: &$id) -> RagError {
            RagError::NotFound {
                entity: $entity,
                id: id.to_string(),
            }
        }
    };
}
pub(crate) use org_scoped;
