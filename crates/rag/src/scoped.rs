//! What every aggregate shares: get, delete and the in-transaction lookup, each filtered
//! to the scope's organization; for organization-owned tables (with `"organizationId"`)
//! also the parent check other repositories link through.

/// Implements `get`, `delete` and `find` for an aggregate, each filtered by `$pred` (which
/// sees the scope as `$s`), plus the module's `not_found`.
macro_rules! scoped {
    ($model:ident, $table:ident, $id:ty, $entity:literal, $delete_doc:literal, |$s:ident| $pred:expr) => {
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
                        let $s = scope;
                        let n = diesel::delete($table::table)
                            .filter($table::id.eq(id).and($pred))
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
                let $s = scope;
                Ok($table::table
                    .filter($table::id.eq(id).and($pred))
                    .select(Self::as_select())
                    .first(tx)
                    .await
                    .optional()?)
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
pub(crate) use scoped;

/// [`scoped!`] for a table with an `organizationId` column, plus `parent`: the row as a
/// parent another row links to, refused unless in this organization.
macro_rules! org_scoped {
    ($model:ident, $table:ident, $id:ty, $entity:literal, $delete_doc:literal) => {
        $crate::scoped::scoped!($model, $table, $id, $entity, $delete_doc, |s| {
            $table::organizationId.eq(s.organization_id())
        });

        impl $model {
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
    };
}
pub(crate) use org_scoped;
