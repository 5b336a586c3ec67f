//! `events`: only ownership is read here; events are created by The Plugs backend.

use deadpool_postgres::Client;
use uuid::Uuid;

use super::{DbError, Unnamed};

/// What the caller's account and the event allow, read in one round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The caller is an active user who owns this live event.
    Owner,
    /// The caller is active, but the event is missing, deleted or someone else's.
    NotOwner,
    /// The caller's account has been deactivated since the token was issued.
    UserInactive,
    /// The caller's account no longer exists (removed, or soft-deleted where The Plugs'
    /// `users` table has `is_deleted`).
    UserUnknown,
}

/// The caller's account state as two columns, `user_is_active` and `user_is_deleted`.
/// `to_jsonb(u)` reads `is_deleted` where the table has it and yields null where it does not,
/// so one statement serves both shapes of The Plugs' `users` table without asking the catalog.
pub(crate) const USER_STATE: &str = "u.is_active as user_is_active, \
     coalesce((to_jsonb(u) ->> 'is_deleted')::boolean, false) as user_is_deleted";

/// The caller's access to `event_id`, from `users` and `events` in one statement.
pub async fn access(client: &Client, event_id: Uuid, user_id: Uuid) -> Result<Access, DbError> {
    let sql = format!(
        "select {USER_STATE}, \
                exists (select 1 from events e \
                        where e.id = $1 and e.user_id = u.id and not e.is_deleted) as owner \
         from users u where u.id = $2"
    );
    let row = client
        .query_opt_unnamed(&sql, &[&event_id, &user_id])
        .await?;
    Ok(match row {
        None => Access::UserUnknown,
        Some(row) => access_of(&row),
    })
}

/// The access that a row with [`USER_STATE`] and an `owner` column gives.
pub(crate) fn access_of(row: &tokio_postgres::Row) -> Access {
    let state = (
        row.get("user_is_deleted"),
        row.get("user_is_active"),
        row.get("owner"),
    );
    match state {
        (true, _, _) => Access::UserUnknown,
        (false, false, _) => Access::UserInactive,
        (false, true, false) => Access::NotOwner,
        (false, true, true) => Access::Owner,
    }
}
