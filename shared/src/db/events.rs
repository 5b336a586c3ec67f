//! `events`: only ownership is read here; events are created by The Plugs backend.

use deadpool_postgres::Client;
use uuid::Uuid;

/// Whether `event_id` is a live event owned by `user_id`.
pub async fn is_owned_by(
    client: &Client,
    event_id: Uuid,
    user_id: Uuid,
) -> Result<bool, tokio_postgres::Error> {
    let statement = client
        .prepare_cached("select 1 from events where id = $1 and user_id = $2 and not is_deleted")
        .await?;
    Ok(client
        .query_opt(&statement, &[&event_id, &user_id])
        .await?
        .is_some())
}
