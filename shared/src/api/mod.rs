//! The endpoints. Each module has one `handle`, taking only what the endpoint uses (the
//! read-only ones get no S3 client), and the request; the checks run in the same
//! order everywhere: token (401) → path ids (422) → the event is the caller's (404, the same
//! answer whether it is missing or someone else's) → the media is in that event (404) → the
//! rest.

pub mod complete_upload;
pub mod create_upload;
pub mod delete;
pub mod download;
pub mod get;
pub mod list;
mod presign;
pub mod stream;
pub mod upload;
pub mod upload_form;

use chrono::{DateTime, Utc};
use deadpool_postgres::Client;
use lambda_http::Request;
use serde::Serialize;
use uuid::Uuid;

use crate::auth::{AuthenticatedUser, Authenticator};
use crate::db::Database;
use crate::db::events::{self, Access};
use crate::db::media::{self, Lookup, MediaRow};
use crate::error::ApiError;
use crate::http::path_uuid;
use crate::keys::{S3Key, event_media_key, next_instant};
use crate::storage::StorageError;

/// The routes, as API Gateway and the local router know them.
pub mod routes {
    pub const MEDIA: &str = "/api/v1/events/{event_id}/media";
    pub const MEDIA_ITEM: &str = "/api/v1/events/{event_id}/media/{media_id}";
    pub const DOWNLOAD: &str = "/api/v1/events/{event_id}/media/{media_id}/download";
    pub const STREAM: &str = "/api/v1/events/{event_id}/media/{media_id}/stream";
    pub const UPLOADS: &str = "/api/v1/events/{event_id}/media/uploads";
    pub const UPLOAD_COMPLETE: &str =
        "/api/v1/events/{event_id}/media/uploads/{upload_id}/complete";
}

/// How many neighbouring keys to try when a key is taken (only writes to the same event in
/// the same microsecond collide).
const KEY_ATTEMPTS: usize = 5;

/// Runs `write` with the event's key for `start`, then for the following microseconds, until
/// a write finds its key free (`write` must refuse to overwrite); returns the key and the
/// instant that named it.
pub(crate) async fn write_at_free_key<F, Fut>(
    event_id: Uuid,
    start: DateTime<Utc>,
    extension: &str,
    mut write: F,
) -> Result<(S3Key, DateTime<Utc>), ApiError>
where
    F: FnMut(S3Key) -> Fut,
    Fut: std::future::Future<Output = Result<(), StorageError>>,
{
    let mut at = start;
    for _ in 0..KEY_ATTEMPTS {
        let key = event_media_key(event_id, at, extension);
        match write(key.clone()).await {
            Ok(()) => return Ok((key, at)),
            Err(StorageError::AlreadyExists) => at = next_instant(at),
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::from(StorageError::Other(format!(
        "no free key after {KEY_ATTEMPTS} attempts"
    ))))
}

/// The media JSON of the spec, the same on every endpoint.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct MediaJson {
    pub id: Uuid,
    pub event_id: Uuid,
    pub title: Option<String>,
    pub description: Option<String>,
    pub file_url: String,
    pub s3_key: Option<String>,
    pub file_type: String,
    pub file_size: Option<i32>,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<MediaRow> for MediaJson {
    fn from(row: MediaRow) -> Self {
        Self {
            tags: split_tags(row.tags.as_deref().unwrap_or("")),
            updated_at: row.updated_at.unwrap_or(row.created_at),
            id: row.id,
            event_id: row.event_id,
            title: row.title,
            description: row.description,
            file_url: row.file_url,
            s3_key: row.s3_key,
            file_type: row.file_type,
            file_size: row.file_size,
            created_at: row.created_at,
        }
    }
}

/// Tags as stored (`"a, b"`) or sent (`"a,b"`): trimmed, empties dropped.
pub fn split_tags(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The event named by the request's path, checked in the order every endpoint follows:
/// the token, the path's `event_id`, then the caller's account and ownership of the event in
/// one query. A handler reads its query or body only after this, so a stranger learns
/// nothing from validation errors about an event that is not theirs.
pub(crate) struct OwnedEvent {
    pub user: AuthenticatedUser,
    pub event_id: Uuid,
    /// The connection ownership was read on, for the handler's next statements.
    pub client: Client,
}

pub(crate) async fn owned_event(
    auth: &Authenticator,
    db: &Database,
    request: &Request,
    route: &str,
) -> Result<OwnedEvent, ApiError> {
    let (owned, []) = owned_event_and_ids(auth, db, request, route, []).await?;
    Ok(owned)
}

/// Like [`owned_event`] for a route with more ids than the event's (`names`, in order): all
/// path ids are read before ownership.
pub(crate) async fn owned_event_and_ids<const N: usize>(
    auth: &Authenticator,
    db: &Database,
    request: &Request,
    route: &str,
    names: [&str; N],
) -> Result<(OwnedEvent, [Uuid; N]), ApiError> {
    let user = auth.authenticate(request.headers()).await?;
    let event_id = path_uuid(request, route, "event_id")?;
    let mut ids = [Uuid::nil(); N];
    for (id, name) in ids.iter_mut().zip(names) {
        *id = path_uuid(request, route, name)?;
    }
    let client = db.get().await?;
    match events::access(&client, event_id, user.id).await? {
        Access::Owner => Ok((
            OwnedEvent {
                user,
                event_id,
                client,
            },
            ids,
        )),
        denied => Err(access_error(denied)),
    }
}

/// The media item named by the request's path, if the caller owns its event; with the
/// connection it was read on, for the caller's next statement. Same order as
/// [`owned_event`], then the media id (404 when it is not in that event).
pub(crate) async fn owned_media(
    auth: &Authenticator,
    db: &Database,
    request: &Request,
    route: &str,
) -> Result<(MediaRow, Client), ApiError> {
    let user = auth.authenticate(request.headers()).await?;
    let event_id = path_uuid(request, route, "event_id")?;
    let media_id = path_uuid(request, route, "media_id")?;
    let client = db.get().await?;
    match media::find_owned(&client, event_id, media_id, user.id).await? {
        Lookup::Denied(denied) => Err(access_error(denied)),
        Lookup::NoMedia => Err(ApiError::MediaNotFound),
        Lookup::Found(row) => Ok((row, client)),
    }
}

/// Why access was denied, as the client hears it. A token outlives changes to its user's
/// account: a deactivated account is refused like an inactive token, and a removed one like
/// a token that names no user.
fn access_error(denied: Access) -> ApiError {
    match denied {
        Access::UserInactive => ApiError::UserInactive,
        Access::UserUnknown => ApiError::InvalidToken("the token's user no longer exists".into()),
        Access::NotOwner | Access::Owner => ApiError::EventNotFound,
    }
}

/// `?redirect=false` asks for the presigned URL as JSON instead of a 302 (for browsers,
/// which cannot add the Authorization header when following a link).
fn wants_redirect(request: &Request) -> Result<bool, ApiError> {
    match crate::http::single_query_param(request, "redirect")? {
        None => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(false),
        Some(_) => Err(ApiError::validation(
            &["query", "redirect"],
            "must be true or false",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_trimmed_and_empties_dropped() {
        assert_eq!(
            split_tags("photo, event ,memories"),
            ["photo", "event", "memories"]
        );
        assert_eq!(split_tags(" , ,,"), Vec::<String>::new());
        assert_eq!(split_tags(""), Vec::<String>::new());
    }
}
