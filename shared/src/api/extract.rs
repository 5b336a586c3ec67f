//! The typed inputs of the handlers, extracted in the one order every endpoint follows:
//! the token (401), the path's ids (422), the caller's account and ownership of the event in
//! one query (403/401 for an account changed since the token, 404 for an event that is not
//! theirs), the media item (404); only then the query string and the body, as [`Input`].
//!
//! The types here can only be made by these functions, and handlers receive nothing else
//! from the request, so no handler can read its query or body before ownership is settled:
//! a stranger learns nothing from validation errors about an event that is not theirs.

use deadpool_postgres::Client;
use lambda_http::{Body, Request};
use uuid::Uuid;

use crate::AppState;
use crate::auth::AuthenticatedUser;
use crate::db::events::{self, Access};
use crate::db::media::{self, Lookup, MediaRow};
use crate::db::shape::Shape;
use crate::db::zones::{self, ZoneLookup, ZoneRow};
use crate::edge::{path_text, path_uuid, single_query_param};
use crate::error::ApiError;
use crate::preview::PreviewSize;
use crate::preview_link::LinkError;
use crate::preview_link::PreviewLinks;

/// An event the caller owns.
pub struct OwnedEvent {
    pub user: AuthenticatedUser,
    pub event_id: Uuid,
    /// Signs the `previews` of the media JSON this request answers.
    pub links: PreviewLinks,
    /// The connection ownership was read on, for the handler's next statements.
    pub client: Client,
    pub shape: Shape,
    _checked: Checked,
}

/// A live media item of an event the caller owns.
pub struct OwnedMedia {
    pub row: MediaRow,
    pub links: PreviewLinks,
    pub client: Client,
    pub shape: Shape,
    _checked: Checked,
}

/// A live zone (album) of an event the caller owns. On the seed-era schema a zone is a
/// media item itself (see [`crate::db::zones`]).
pub struct OwnedZone {
    pub user: AuthenticatedUser,
    pub row: ZoneRow,
    pub links: PreviewLinks,
    pub client: Client,
    pub shape: Shape,
    _checked: Checked,
}

/// A direct upload's id in an event the caller owns (whether the upload exists is the
/// handler's question: a completed upload answers with its media).
pub struct OwnedUpload {
    pub event: OwnedEvent,
    pub upload_id: Uuid,
}

/// What a request holds beyond its path, handed over once ownership is settled.
pub struct Input {
    request: Request,
}

/// Only this module can make the types above.
struct Checked;

impl Input {
    /// A query parameter given at most once (422 when repeated).
    pub fn query(&self, name: &str) -> Result<Option<&str>, ApiError> {
        single_query_param(&self.request, name)
    }

    pub fn body(&self) -> &Body {
        self.request.body()
    }

    /// The path the client asked for (for links to the next page).
    pub fn path(&self) -> &str {
        self.request.uri().path()
    }

    /// The whole request, for readers that need headers and body together (multipart).
    pub fn into_request(self) -> Request {
        self.request
    }

    /// Unit tests of query and body parsing, which need no ownership.
    #[cfg(test)]
    pub(crate) fn unchecked(request: Request) -> Self {
        Self { request }
    }
}

/// A preview the URL's signature allows: the live media item and the size. Made only by
/// [`signed_preview`], after the signature and before any S3 request.
pub struct SignedPreview {
    pub row: MediaRow,
    pub size: PreviewSize,
    /// Whether the variant is recorded as stored, so the answer needs no S3 request.
    pub variant_recorded: bool,
    _checked: Checked,
}

/// `{media_id}` and `{size}` of `path`, authorized by the query's `expires` and `signature`
/// instead of a token: media id (422), size (404), signature (403, checked before the
/// database is asked anything, so forged links cost no query), then the live row (404).
pub async fn signed_preview(
    state: &AppState,
    request: Request,
    path: &str,
) -> Result<SignedPreview, ApiError> {
    let media_id = path_uuid(&request, path, "media_id")?;
    let size = path_text(&request, path, "size")
        .as_deref()
        .and_then(PreviewSize::from_name)
        .ok_or(ApiError::PreviewSizeNotFound)?;
    let query =
        |name| single_query_param(&request, name).map_err(|_| ApiError::PreviewSignatureInvalid);
    let (expires, signature) = (query("expires")?, query("signature")?);
    let now = chrono::Utc::now().timestamp();
    state
        .preview_signer()
        .verify(media_id, size, expires, signature, now)
        .map_err(|err| match err {
            LinkError::BadSignature => ApiError::PreviewSignatureInvalid,
            LinkError::Expired => ApiError::PreviewUrlExpired,
        })?;
    let client = state.db.get().await?;
    let shape = state.db.shape(&client).await?;
    let (row, variant_recorded) =
        media::find_live_with_variant(&client, shape, media_id, size.name())
            .await?
            .ok_or(ApiError::MediaNotFound)?;
    Ok(SignedPreview {
        row,
        size,
        variant_recorded,
        _checked: Checked,
    })
}

/// `{event_id}` of `path`, owned by the caller.
pub async fn event(
    state: &AppState,
    request: Request,
    path: &str,
) -> Result<(OwnedEvent, Input), ApiError> {
    let (event, []) = event_and_ids(state, &request, path, []).await?;
    Ok((event, Input { request }))
}

/// `{event_id}` and `{upload_id}` of `path`, the event owned by the caller.
pub async fn upload(
    state: &AppState,
    request: Request,
    path: &str,
) -> Result<(OwnedUpload, Input), ApiError> {
    let (event, [upload_id]) = event_and_ids(state, &request, path, ["upload_id"]).await?;
    Ok((OwnedUpload { event, upload_id }, Input { request }))
}

/// `{event_id}` and `{media_id}` of `path`: the media item, in an event the caller owns.
/// Ownership and the row are read in one query.
pub async fn media(
    state: &AppState,
    request: Request,
    path: &str,
) -> Result<(OwnedMedia, Input), ApiError> {
    let user = state.auth().authenticate(request.headers()).await?;
    let event_id = path_uuid(&request, path, "event_id")?;
    let media_id = path_uuid(&request, path, "media_id")?;
    let client = state.db.get().await?;
    let shape = state.db.shape(&client).await?;
    match media::find_owned(&client, shape, event_id, media_id, user.id).await? {
        Lookup::Denied(denied) => Err(ApiError::denied(denied)),
        Lookup::NoMedia => Err(ApiError::MediaNotFound),
        Lookup::Found(row) => Ok((
            OwnedMedia {
                row: *row,
                links: state.preview_links(request.headers()),
                client,
                shape,
                _checked: Checked,
            },
            Input { request },
        )),
    }
}

/// `{event_id}` and `{zone_id}` of `path`: the live zone, in an event the caller owns.
/// Ownership and the zone are read in one query.
pub async fn zone(
    state: &AppState,
    request: Request,
    path: &str,
) -> Result<(OwnedZone, Input), ApiError> {
    let user = state.auth().authenticate(request.headers()).await?;
    let event_id = path_uuid(&request, path, "event_id")?;
    let zone_id = path_uuid(&request, path, "zone_id")?;
    let client = state.db.get().await?;
    let shape = state.db.shape(&client).await?;
    match zones::find_owned(&client, shape, event_id, zone_id, user.id).await? {
        ZoneLookup::Denied(denied) => Err(ApiError::denied(denied)),
        ZoneLookup::NoZone => Err(ApiError::ZoneNotFound),
        ZoneLookup::Found(row) => Ok((
            OwnedZone {
                user,
                row: *row,
                links: state.preview_links(request.headers()),
                client,
                shape,
                _checked: Checked,
            },
            Input { request },
        )),
    }
}

/// The event of `path` and its other ids (`names`, in order): every path id is read before
/// ownership.
async fn event_and_ids<const N: usize>(
    state: &AppState,
    request: &Request,
    path: &str,
    names: [&str; N],
) -> Result<(OwnedEvent, [Uuid; N]), ApiError> {
    let user = state.auth().authenticate(request.headers()).await?;
    let event_id = path_uuid(request, path, "event_id")?;
    let mut ids = [Uuid::nil(); N];
    for (id, name) in ids.iter_mut().zip(names) {
        *id = path_uuid(request, path, name)?;
    }
    let client = state.db.get().await?;
    let shape = state.db.shape(&client).await?;
    match events::access(&client, event_id, user.id).await? {
        Access::Owner => Ok((
            OwnedEvent {
                user,
                event_id,
                links: state.preview_links(request.headers()),
                client,
                shape,
                _checked: Checked,
            },
            ids,
        )),
        denied => Err(ApiError::denied(denied)),
    }
}
