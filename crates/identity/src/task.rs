//! Tasks: the organization's to-dos, assigned to its members, listed by assignee and due date.

use chrono::NaiveDateTime;
use diesel::prelude::{
    AsChangeset, BoolExpressionMethods, ExpressionMethods, OptionalExtension,
    PgSortExpressionMethods, QueryDsl, Queryable, Selectable, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::InvalidData;
use neonhub_schema::ids::{OrganizationId, TaskId, UserId};
use neonhub_schema::schema::tasks;
use neonhub_schema::{Actor, TenantScope, text_enum, time};
use serde_json::Value;

use crate::catalogue::keys;
use crate::error::IdentityError;
use crate::team::ensure_member;

text_enum! {
    /// Where a task stands.
    TaskStatus, "tasks.status" {
        /// Not started (the default).
        Todo = "todo",
        /// Being worked on.
        InProgress = "in_progress",
        /// Finished.
        Done = "done",
    }
}

text_enum! {
    /// How urgent a task is.
    TaskPriority, "tasks.priority" {
        /// Low.
        Low = "low",
        /// Medium (the default).
        Medium = "medium",
        /// High.
        High = "high",
        /// Urgent.
        Urgent = "urgent",
    }
}

/// A task.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = tasks, check_for_backend(diesel::pg::Pg))]
pub struct Task {
    /// Primary key: UUIDv7 text for rows made here, any text for adopted rows.
    pub id: TaskId,
    /// The organization (tasks made here always have one).
    #[diesel(column_name = organizationId)]
    pub organization_id: Option<OrganizationId>,
    /// Title, as shown to people.
    pub title: String,
    /// Free-text description.
    pub description: Option<String>,
    /// Where the task stands; `complete` moves it to done.
    pub status: TaskStatus,
    /// Priority.
    pub priority: TaskPriority,
    /// Who created it.
    #[diesel(column_name = createdById)]
    pub created_by_id: UserId,
    /// Who it is assigned to.
    #[diesel(column_name = assigneeId)]
    pub assignee_id: Option<UserId>,
    /// Due (UTC).
    #[diesel(column_name = dueDate)]
    pub due_date: Option<NaiveDateTime>,
    /// Completed at.
    #[diesel(column_name = completedAt)]
    pub completed_at: Option<NaiveDateTime>,
    /// Free-form tags.
    pub tags: Option<Vec<Option<String>>>,
    /// Free-form JSON the application keeps with the row.
    pub metadata: Option<Value>,
    /// When it was created (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed (UTC, milliseconds).
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

/// A task to create.
#[derive(Debug, Clone, Default)]
pub struct NewTask<'a> {
    /// Title, as shown to people.
    pub title: &'a str,
    /// Free-text description.
    pub description: Option<&'a str>,
    /// Priority (medium when `None`).
    pub priority: Option<TaskPriority>,
    /// Assignee: a member of the organization.
    pub assignee: Option<&'a UserId>,
    /// Due (UTC).
    pub due_date: Option<NaiveDateTime>,
    /// Free-form tags.
    pub tags: &'a [&'a str],
}

impl Task {
    /// Creates a task in the organization, by the scope's user (needs `tasks:write`).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "task", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewTask<'_>,
    ) -> Result<Task, IdentityError> {
        scope.require(keys::TASKS_WRITE)?;
        InvalidData::check_fields([("title", Some(new.title)), ("description", new.description)])?;
        InvalidData::check_fields(new.tags.iter().map(|t| ("tags", Some(*t))))?;
        if let Some(due) = new.due_date {
            InvalidData::check_timestamp("dueDate", due)?;
        }
        let Actor::User(creator) = scope.actor() else {
            return Err(IdentityError::UserActorRequired("creating a task"));
        };
        let org = scope.organization_id();
        scope
            .transaction(conn, async |tx| {
                if let Some(assignee) = new.assignee {
                    ensure_member(tx, org, assignee).await?;
                }
                let now = time::now();
                Ok(diesel::insert_into(tasks::table)
                    .values((
                        tasks::id.eq(TaskId::generate()),
                        tasks::organizationId.eq(org),
                        tasks::title.eq(new.title),
                        tasks::description.eq(new.description),
                        tasks::status.eq(TaskStatus::Todo),
                        tasks::priority.eq(new.priority.unwrap_or(TaskPriority::Medium)),
                        tasks::createdById.eq(creator),
                        tasks::assigneeId.eq(new.assignee),
                        tasks::dueDate.eq(new.due_date.map(time::truncate)),
                        tasks::tags.eq(new.tags.iter().map(|t| Some(*t)).collect::<Vec<_>>()),
                        tasks::createdAt.eq(now),
                        tasks::updatedAt.eq(now),
                    ))
                    .returning(Task::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// The task with `id` in this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "task", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &TaskId,
    ) -> Result<Task, IdentityError> {
        scope.require(keys::TASKS_READ)?;
        scope
            .transaction(conn, async |tx| {
                tasks::table
                    .filter(
                        tasks::id
                            .eq(id)
                            .and(tasks::organizationId.eq(scope.organization_id())),
                    )
                    .select(Task::as_select())
                    .first(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| IdentityError::not_found("task", id))
            })
            .await
    }

    /// Assigns the task to a member, or unassigns it with `None` (needs `tasks:write`).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "task", op = "assign"))]
    pub async fn assign(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &TaskId,
        assignee: Option<&UserId>,
    ) -> Result<Task, IdentityError> {
        scope.require(keys::TASKS_WRITE)?;
        let org = scope.organization_id();
        scope
            .transaction(conn, async |tx| {
                if let Some(assignee) = assignee {
                    ensure_member(tx, org, assignee).await?;
                }
                apply(
                    tx,
                    org,
                    id,
                    &TaskUpdate {
                        assignee_id: Some(assignee),
                        ..TaskUpdate::at(time::now())
                    },
                )
                .await
            })
            .await
    }

    /// Marks the task done (needs `tasks:write`); completing a done task changes nothing.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "task", op = "complete"))]
    pub async fn complete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &TaskId,
    ) -> Result<Task, IdentityError> {
        scope.require(keys::TASKS_WRITE)?;
        let org = scope.organization_id();
        scope
            .transaction(conn, async |tx| {
                let task: Task = tasks::table
                    .filter(tasks::id.eq(id).and(tasks::organizationId.eq(org)))
                    .select(Task::as_select())
                    .for_update()
                    .first(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| IdentityError::not_found("task", id))?;
                if task.status == TaskStatus::Done {
                    return Ok(task);
                }
                let now = time::now();
                apply(
                    tx,
                    org,
                    id,
                    &TaskUpdate {
                        status: Some(TaskStatus::Done),
                        completed_at: Some(now),
                        ..TaskUpdate::at(now)
                    },
                )
                .await
            })
            .await
    }

    /// Tasks assigned to `assignee`, optionally of one status: soonest due first (undated
    /// last), then oldest.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "task", op = "for_assignee"))]
    pub async fn for_assignee(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        assignee: &UserId,
        status: Option<TaskStatus>,
    ) -> Result<Vec<Task>, IdentityError> {
        scope.require(keys::TASKS_READ)?;
        scope
            .transaction(conn, async |tx| {
                let mut query = tasks::table
                    .filter(
                        tasks::organizationId
                            .eq(scope.organization_id())
                            .and(tasks::assigneeId.eq(assignee)),
                    )
                    .into_boxed();
                if let Some(status) = status {
                    query = query.filter(tasks::status.eq(status));
                }
                Ok(query
                    .order((
                        tasks::dueDate.asc().nulls_last(),
                        tasks::createdAt,
                        tasks::id,
                    ))
                    .select(Task::as_select())
                    .load(tx)
                    .await?)
            })
            .await
    }

    /// Open (not done) tasks due before `before`, soonest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "task", op = "due_before"))]
    pub async fn due_before(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        before: NaiveDateTime,
    ) -> Result<Vec<Task>, IdentityError> {
        scope.require(keys::TASKS_READ)?;
        InvalidData::check_timestamp("before", before)?;
        scope
            .transaction(conn, async |tx| {
                Ok(tasks::table
                    .filter(tasks::organizationId.eq(scope.organization_id()))
                    .filter(
                        tasks::dueDate
                            .lt(before)
                            .and(tasks::status.ne(TaskStatus::Done)),
                    )
                    .order((tasks::dueDate, tasks::id))
                    .select(Task::as_select())
                    .load(tx)
                    .await?)
            })
            .await
    }
}

/// The columns `assign` and `complete` change; `updatedAt` always.
#[derive(AsChangeset)]
#[diesel(table_name = tasks)]
struct TaskUpdate<'a> {
    #[diesel(column_name = assigneeId)]
    assignee_id: Option<Option<&'a UserId>>,
    status: Option<TaskStatus>,
    #[diesel(column_name = completedAt)]
    completed_at: Option<NaiveDateTime>,
    #[diesel(column_name = updatedAt)]
    updated_at: NaiveDateTime,
}

impl TaskUpdate<'_> {
    /// Changes nothing but `updatedAt`.
    fn at(now: NaiveDateTime) -> Self {
        Self {
            assignee_id: None,
            status: None,
            completed_at: None,
            updated_at: now,
        }
    }
}

/// Writes `update` to the task `id` of `org` and returns it (not found when it is not there).
async fn apply(
    tx: &mut AsyncPgConnection,
    org: &OrganizationId,
    id: &TaskId,
    update: &TaskUpdate<'_>,
) -> Result<Task, IdentityError> {
    diesel::update(tasks::table.filter(tasks::id.eq(id).and(tasks::organizationId.eq(org))))
        .set(update)
        .returning(Task::as_returning())
        .get_result(tx)
        .await
        .optional()?
        .ok_or_else(|| IdentityError::not_found("task", id))
}
