//! The functions of the service, as one table. Each entry names its function (the folder
//! under `functions/` and the binary), how it is triggered (an HTTP route, or the schedule),
//! what it needs built at cold start, its fixture under `events/` and what it answers.
//! Everything else is made from this table or checked against it: the `cargo lambda watch`
//! router and the README's endpoint table are made from it (`plugs-media watch-router`,
//! `plugs-media readme-endpoints`); `template.yaml` (routes, environment and IAM),
//! `openapi.yaml` and `events/` are checked by `deploy-checks`; the integration tests and the
//! bench call the endpoints through [`Endpoint::handle`].
//!
//! Adding an endpoint: a variant here with its [`Spec`] and answer, its [`entry`] point and
//! its arm in [`Endpoint::handle`], the handler in `api/`, the function folder, its route in
//! `template.yaml` and `openapi.yaml`, and a fixture. `deploy-checks` names whichever of them
//! is missing.

mod readme;

pub use readme::{
    README_TABLE_BEGIN, README_TABLE_END, readme_endpoint_table, readme_with_endpoint_table,
};

use lambda_http::Request;

use crate::AppState;
use crate::api::{self, extract};
use crate::edge::ApiResult;

/// One HTTP endpoint of the service: a function behind an API Gateway route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    UploadMedia,
    ListMedia,
    GetMedia,
    DownloadMedia,
    StreamMedia,
    DeleteMedia,
    CreateUpload,
    CompleteUpload,
    ListZones,
    GetZone,
    UpdateZone,
    DeleteZone,
    AddZoneFiles,
    CreateMultipartUpload,
    SignMultipartParts,
    ListMultipartParts,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    PreviewMedia,
}

/// What a function is built with at cold start; a function builds nothing else, and its
/// template entry grants nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// A PostgreSQL pool (`DATABASE_URL`).
    Database,
    /// S3 requests of its own through the SDK (reads, writes, copies, deletes).
    S3,
    /// Presigned S3 URLs: signing only, no request of its own, but the URL carries the
    /// function's credentials, so it needs the IAM permission of the presigned operation.
    Presigner,
    /// The key that verifies The Plugs' access tokens (`SECRET_KEY`).
    JwtKey,
    /// The key that signs and checks preview URLs (`PREVIEW_SIGNING_KEY`): the functions that
    /// answer media JSON sign its `previews`, and preview-media checks them.
    PreviewKey,
}

/// An HTTP API route: the method and the path template with `{…}` parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
}

/// One row of the table: a function of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// The function folder under `functions/`, its crate and its binary.
    pub name: &'static str,
    /// The HTTP route; `None` for the scheduled sweep.
    pub route: Option<Route>,
    pub needs: &'static [Capability],
    /// `events/{name}/{fixture}.json`: a payload that invokes the function.
    pub fixture: &'static str,
    /// What it answers when it succeeds, in a few words (the README's endpoint table).
    pub answer: &'static str,
}

impl Spec {
    /// A `const fn`, so that a function's binary can decide at compile time what it builds
    /// (see [`Spec::builds_s3_client`]).
    pub const fn needs(&self, capability: Capability) -> bool {
        let mut i = 0;
        while i < self.needs.len() {
            if self.needs[i] as u8 == capability as u8 {
                return true;
            }
            i += 1;
        }
        false
    }

    /// Whether the function makes an S3 client: for requests of its own or for presigning.
    /// Evaluated at compile time by [`crate::serve!`], so that a function without one links
    /// no S3 code.
    pub const fn builds_s3_client(&self) -> bool {
        self.needs(S3) || self.needs(Presigner)
    }
}

use Capability::{Database, JwtKey, Presigner, PreviewKey, S3};

/// The routes' path templates, as API Gateway and the local router know them.
pub mod paths {
    pub const MEDIA: &str = "/api/v1/events/{event_id}/media";
    pub const MEDIA_ITEM: &str = "/api/v1/events/{event_id}/media/{media_id}";
    pub const DOWNLOAD: &str = "/api/v1/events/{event_id}/media/{media_id}/download";
    pub const STREAM: &str = "/api/v1/events/{event_id}/media/{media_id}/stream";
    pub const UPLOADS: &str = "/api/v1/events/{event_id}/media/uploads";
    pub const UPLOAD_COMPLETE: &str =
        "/api/v1/events/{event_id}/media/uploads/{upload_id}/complete";
    /// An event's media grouped by zone (album).
    pub const MEDIA_GROUPED: &str = "/api/v1/events/{event_id}/media/grouped";
    pub const ZONE: &str = "/api/v1/events/{event_id}/media/zones/{zone_id}";
    pub const ZONE_FILES: &str = "/api/v1/events/{event_id}/media/zones/{zone_id}/files";
    /// Resumable (S3 multipart) uploads.
    pub const MULTIPART: &str = "/api/v1/events/{event_id}/media/multipart";
    pub const MULTIPART_UPLOAD: &str = "/api/v1/events/{event_id}/media/multipart/{upload_id}";
    pub const MULTIPART_PARTS: &str = "/api/v1/events/{event_id}/media/multipart/{upload_id}/parts";
    pub const MULTIPART_COMPLETE: &str =
        "/api/v1/events/{event_id}/media/multipart/{upload_id}/complete";
    /// An image's preview, authorized by the URL's signature instead of a token.
    pub const PREVIEW: &str = "/api/v1/media/{media_id}/preview/{size}";
}

/// The endpoints authorized by a signed URL instead of an access token: the link itself is
/// the credential, made only for the owner (inside media JSON, after the ownership check) and
/// checked by [`crate::preview_link::PreviewSigner::verify`]. Every other endpoint checks a
/// token; a test holds the registry to exactly this list.
pub const SIGNED_URL_ENDPOINTS: [Endpoint; 1] = [Endpoint::PreviewMedia];

/// `sweep-uploads`: the scheduled clean-up, the one function without a route.
pub const SWEEP_UPLOADS: Spec = Spec {
    name: "sweep-uploads",
    route: None,
    needs: &[Database, S3],
    fixture: "scheduled",
    answer: "clean-up report",
};

/// Every function of the service: the endpoints, then the sweep.
pub fn functions() -> impl Iterator<Item = Spec> {
    Endpoint::ALL
        .into_iter()
        .map(Endpoint::spec)
        .chain([SWEEP_UPLOADS])
}

/// The `cargo lambda watch` configuration that routes like API Gateway: a global
/// configuration file (`cargo lambda --global FILE watch`) with `[watch.router]` made from
/// this table, so the local router cannot drift from it.
pub fn watch_router_toml() -> String {
    let mut by_path: std::collections::BTreeMap<&str, Vec<(&str, &str)>> = Default::default();
    for spec in functions() {
        if let Some(route) = spec.route {
            by_path
                .entry(route.path)
                .or_default()
                .push((route.method, spec.name));
        }
    }
    let mut text = String::from(
        "# Made from the endpoint registry (shared/src/endpoint.rs) by `plugs-media watch-router`.\n\
         [watch.router]\n",
    );
    for (path, entries) in by_path {
        text.push_str(&format!("\"{path}\" = [\n"));
        for (method, function) in entries {
            text.push_str(&format!(
                "    {{ method = \"{method}\", function = \"{function}\" }},\n"
            ));
        }
        text.push_str("]\n");
    }
    text
}

impl Endpoint {
    pub const ALL: [Endpoint; 19] = [
        Endpoint::UploadMedia,
        Endpoint::ListMedia,
        Endpoint::GetMedia,
        Endpoint::DownloadMedia,
        Endpoint::StreamMedia,
        Endpoint::DeleteMedia,
        Endpoint::CreateUpload,
        Endpoint::CompleteUpload,
        Endpoint::ListZones,
        Endpoint::GetZone,
        Endpoint::UpdateZone,
        Endpoint::DeleteZone,
        Endpoint::AddZoneFiles,
        Endpoint::CreateMultipartUpload,
        Endpoint::SignMultipartParts,
        Endpoint::ListMultipartParts,
        Endpoint::CompleteMultipartUpload,
        Endpoint::AbortMultipartUpload,
        Endpoint::PreviewMedia,
    ];

    /// The table.
    pub const fn spec(self) -> Spec {
        let (name, method, path, needs, fixture): (_, _, _, &'static [Capability], _) = match self {
            Self::UploadMedia => (
                "upload-media",
                "POST",
                paths::MEDIA,
                &[JwtKey, Database, S3, PreviewKey],
                "upload-photo",
            ),
            Self::ListMedia => (
                "list-media",
                "GET",
                paths::MEDIA,
                &[JwtKey, Database, PreviewKey],
                "list-all",
            ),
            Self::GetMedia => (
                "get-media",
                "GET",
                paths::MEDIA_ITEM,
                &[JwtKey, Database, PreviewKey],
                "get-one",
            ),
            Self::DownloadMedia => (
                "download-media",
                "GET",
                paths::DOWNLOAD,
                &[JwtKey, Database, S3, Presigner],
                "download",
            ),
            Self::StreamMedia => (
                "stream-media",
                "GET",
                paths::STREAM,
                &[JwtKey, Database, Presigner],
                "stream",
            ),
            Self::DeleteMedia => (
                "delete-media",
                "DELETE",
                paths::MEDIA_ITEM,
                &[JwtKey, Database, S3],
                "delete",
            ),
            Self::CreateUpload => (
                "create-upload",
                "POST",
                paths::UPLOADS,
                &[JwtKey, Database, Presigner],
                "create-video-upload",
            ),
            Self::CompleteUpload => (
                "complete-upload",
                "POST",
                paths::UPLOAD_COMPLETE,
                &[JwtKey, Database, S3, PreviewKey],
                "complete",
            ),
            Self::ListZones => (
                "list-zones",
                "GET",
                paths::MEDIA_GROUPED,
                &[JwtKey, Database],
                "list-grouped",
            ),
            Self::GetZone => (
                "get-zone",
                "GET",
                paths::ZONE,
                &[JwtKey, Database],
                "get-zone",
            ),
            Self::UpdateZone => (
                "update-zone",
                "PATCH",
                paths::ZONE,
                &[JwtKey, Database],
                "update-zone",
            ),
            Self::DeleteZone => (
                "delete-zone",
                "DELETE",
                paths::ZONE,
                &[JwtKey, Database, S3],
                "delete-zone",
            ),
            Self::AddZoneFiles => (
                "add-zone-files",
                "POST",
                paths::ZONE_FILES,
                &[JwtKey, Database, S3, PreviewKey],
                "add-photos",
            ),
            Self::CreateMultipartUpload => (
                "create-multipart-upload",
                "POST",
                paths::MULTIPART,
                &[JwtKey, Database, S3],
                "create-video-upload",
            ),
            Self::SignMultipartParts => (
                "sign-multipart-parts",
                "POST",
                paths::MULTIPART_PARTS,
                &[JwtKey, Database, Presigner],
                "sign-parts",
            ),
            Self::ListMultipartParts => (
                "list-multipart-parts",
                "GET",
                paths::MULTIPART_PARTS,
                &[JwtKey, Database, S3],
                "list-parts",
            ),
            Self::CompleteMultipartUpload => (
                "complete-multipart-upload",
                "POST",
                paths::MULTIPART_COMPLETE,
                &[JwtKey, Database, S3, PreviewKey],
                "complete",
            ),
            Self::AbortMultipartUpload => (
                "abort-multipart-upload",
                "DELETE",
                paths::MULTIPART_UPLOAD,
                &[JwtKey, Database, S3],
                "abort",
            ),
            Self::PreviewMedia => (
                "preview-media",
                "GET",
                paths::PREVIEW,
                &[PreviewKey, Database, S3, Presigner],
                "preview-thumb",
            ),
        };
        Spec {
            name,
            route: Some(Route { method, path }),
            needs,
            fixture,
            answer: self.answer(),
        }
    }

    /// What the endpoint answers when it succeeds (status and body), for the README.
    const fn answer(self) -> &'static str {
        match self {
            Self::UploadMedia => "201 media JSON (several files: 201 batch)",
            Self::ListMedia => "200 array, `X-Total-Count`, `Link` to the next page",
            Self::GetMedia => "200 media JSON",
            Self::DownloadMedia => "200 bytes, or 302",
            Self::StreamMedia => "302",
            Self::DeleteMedia => "204",
            Self::CreateUpload => "201 PUT ticket (several `files`: one ticket each)",
            Self::CompleteUpload => "201 (200 when repeated) media JSON",
            Self::ListZones => "200 `{zones, total_zones, total_files}`, `Link` to the next page",
            Self::GetZone => "200 zone JSON, `Link` to more files",
            Self::UpdateZone => "200 `{zone_id, title, description, tags, file_count, updated_at}`",
            Self::DeleteZone => "204",
            Self::AddZoneFiles => "201 batch",
            Self::CreateMultipartUpload => {
                "201 `{upload_id, key, part_size, part_count, expires_at}`"
            }
            Self::SignMultipartParts => "200 `{parts: [{part_number, url, headers, expires_at}]}`",
            Self::ListMultipartParts => "200 `{parts: [{part_number, size, etag}]}`",
            Self::CompleteMultipartUpload => "201 (200 when repeated) media JSON",
            Self::AbortMultipartUpload => "204",
            Self::PreviewMedia => "302 to the JPEG preview (signed URL, no token)",
        }
    }

    pub const fn name(self) -> &'static str {
        self.spec().name
    }

    /// The path template of the endpoint's route.
    pub const fn path(self) -> &'static str {
        match self.spec().route {
            Some(route) => route.path,
            None => "",
        }
    }

    /// The endpoint named `name` (its folder under `functions/`).
    pub fn by_name(name: &str) -> Option<Endpoint> {
        Self::ALL.into_iter().find(|e| e.name() == name)
    }

    /// Answers one HTTP request. The handler receives its inputs only once they have been
    /// checked in the one order every endpoint follows (token, path ids, account and
    /// ownership; see [`extract`]), so it cannot look at the query or body before that.
    pub async fn handle(self, state: &AppState, request: Request) -> ApiResult {
        match self {
            Self::UploadMedia => entry::upload_media(state, request).await,
            Self::ListMedia => entry::list_media(state, request).await,
            Self::GetMedia => entry::get_media(state, request).await,
            Self::DownloadMedia => entry::download_media(state, request).await,
            Self::StreamMedia => entry::stream_media(state, request).await,
            Self::DeleteMedia => entry::delete_media(state, request).await,
            Self::CreateUpload => entry::create_upload(state, request).await,
            Self::CompleteUpload => entry::complete_upload(state, request).await,
            Self::ListZones => entry::list_zones(state, request).await,
            Self::GetZone => entry::get_zone(state, request).await,
            Self::UpdateZone => entry::update_zone(state, request).await,
            Self::DeleteZone => entry::delete_zone(state, request).await,
            Self::AddZoneFiles => entry::add_zone_files(state, request).await,
            Self::CreateMultipartUpload => entry::create_multipart_upload(state, request).await,
            Self::SignMultipartParts => entry::sign_multipart_parts(state, request).await,
            Self::ListMultipartParts => entry::list_multipart_parts(state, request).await,
            Self::CompleteMultipartUpload => entry::complete_multipart_upload(state, request).await,
            Self::AbortMultipartUpload => entry::abort_multipart_upload(state, request).await,
            Self::PreviewMedia => entry::preview_media(state, request).await,
        }
    }
}

/// One entry point per endpoint, named after its function: the inputs extracted in the check
/// order, then the handler. [`Endpoint::handle`] dispatches to them; each function's
/// `main.rs` names its own, so its binary refers to no other handler (a run-time dispatch in
/// `main` would link every handler into every function).
pub mod entry {
    use super::*;

    pub async fn upload_media(state: &AppState, request: Request) -> ApiResult {
        let path = Endpoint::UploadMedia.path();
        let (event, input) = extract::event(state, request, path).await?;
        api::upload::handle(state, event, input).await
    }

    pub async fn list_media(state: &AppState, request: Request) -> ApiResult {
        let path = Endpoint::ListMedia.path();
        let (event, input) = extract::event(state, request, path).await?;
        api::list::handle(event, input).await
    }

    pub async fn get_media(state: &AppState, request: Request) -> ApiResult {
        let path = Endpoint::GetMedia.path();
        let (media, _no_input) = extract::media(state, request, path).await?;
        api::get::handle(media).await
    }

    pub async fn download_media(state: &AppState, request: Request) -> ApiResult {
        let path = Endpoint::DownloadMedia.path();
        let (media, input) = extract::media(state, request, path).await?;
        api::download::handle(state, media, input).await
    }

    pub async fn stream_media(state: &AppState, request: Request) -> ApiResult {
        let path = Endpoint::StreamMedia.path();
        let (media, input) = extract::media(state, request, path).await?;
        api::stream::handle(state, media, input).await
    }

    pub async fn delete_media(state: &AppState, request: Request) -> ApiResult {
        let path = Endpoint::DeleteMedia.path();
        let (media, _no_input) = extract::media(state, request, path).await?;
        api::delete::handle(state, media).await
    }

    pub async fn create_upload(state: &AppState, request: Request) -> ApiResult {
        let path = Endpoint::CreateUpload.path();
        let (event, input) = extract::event(state, request, path).await?;
        api::create_upload::handle(state, event, input).await
    }

    pub async fn complete_upload(state: &AppState, request: Request) -> ApiResult {
        let path = Endpoint::CompleteUpload.path();
        let (upload, _no_input) = extract::upload(state, request, path).await?;
        api::complete_upload::handle(state, upload).await
    }

    pub async fn list_zones(state: &AppState, request: Request) -> ApiResult {
        let path = Endpoint::ListZones.path();
        let (event, input) = extract::event(state, request, path).await?;
        api::list_zones::handle(event, input).await
    }

    pub async fn get_zone(state: &AppState, request: Request) -> ApiResult {
        let path = Endpoint::GetZone.path();
        let (zone, input) = extract::zone(state, request, path).await?;
        api::get_zone::handle(zone, input).await
    }

    pub async fn update_zone(state: &AppState, request: Request) -> ApiResult {
        let path = Endpoint::UpdateZone.path();
        let (zone, input) = extract::zone(state, request, path).await?;
        api::update_zone::handle(zone, input).await
    }

    pub async fn delete_zone(state: &AppState, request: Request) -> ApiResult {
        let path = Endpoint::DeleteZone.path();
        let (zone, _no_input) = extract::zone(state, request, path).await?;
        api::delete_zone::handle(state, zone).await
    }

    pub async fn add_zone_files(state: &AppState, request: Request) -> ApiResult {
        let path = Endpoint::AddZoneFiles.path();
        let (zone, input) = extract::zone(state, request, path).await?;
        api::add_zone_files::handle(state, zone, input).await
    }

    pub async fn create_multipart_upload(state: &AppState, request: Request) -> ApiResult {
        let path = Endpoint::CreateMultipartUpload.path();
        let (event, input) = extract::event(state, request, path).await?;
        api::multipart::create::handle(state, event, input).await
    }

    pub async fn sign_multipart_parts(state: &AppState, request: Request) -> ApiResult {
        let path = Endpoint::SignMultipartParts.path();
        let (upload, input) = extract::upload(state, request, path).await?;
        api::multipart::sign_parts::handle(state, upload, input).await
    }

    pub async fn list_multipart_parts(state: &AppState, request: Request) -> ApiResult {
        let path = Endpoint::ListMultipartParts.path();
        let (upload, _no_input) = extract::upload(state, request, path).await?;
        api::multipart::list_parts::handle(state, upload).await
    }

    pub async fn complete_multipart_upload(state: &AppState, request: Request) -> ApiResult {
        let path = Endpoint::CompleteMultipartUpload.path();
        let (upload, input) = extract::upload(state, request, path).await?;
        api::multipart::complete::handle(state, upload, input).await
    }

    pub async fn abort_multipart_upload(state: &AppState, request: Request) -> ApiResult {
        let path = Endpoint::AbortMultipartUpload.path();
        let (upload, _no_input) = extract::upload(state, request, path).await?;
        api::multipart::abort::handle(state, upload).await
    }

    /// No token: the URL's signature is checked instead (see [`SIGNED_URL_ENDPOINTS`]).
    pub async fn preview_media(state: &AppState, request: Request) -> ApiResult {
        let path = Endpoint::PreviewMedia.path();
        let target = extract::signed_preview(state, request, path).await?;
        api::preview::handle(state, target).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Media JSON carries signed preview URLs, so a function that answers it without the
    /// preview key would panic on its first image (the key is only loaded where declared).
    #[test]
    fn every_endpoint_answering_media_json_declares_the_preview_key() {
        for endpoint in Endpoint::ALL {
            let answer = endpoint.answer();
            let answers_media = answer.contains("media JSON")
                || answer.contains("batch")
                || endpoint == Endpoint::ListMedia;
            if answers_media {
                assert!(
                    endpoint.spec().needs(Capability::PreviewKey),
                    "{} answers media JSON but does not declare PreviewKey",
                    endpoint.name()
                );
            }
        }
    }

    #[test]
    fn names_are_unique_and_found_again() {
        let mut names: Vec<_> = functions().map(|f| f.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Endpoint::ALL.len() + 1);
        for endpoint in Endpoint::ALL {
            assert_eq!(Endpoint::by_name(endpoint.name()), Some(endpoint));
        }
    }

    /// Every route checks an access token, except the signed-URL endpoints, which check
    /// their URL's signature instead; the sweep has no route and checks neither.
    #[test]
    fn every_endpoint_verifies_a_token_or_else_a_signed_url_and_the_sweep_neither() {
        for endpoint in Endpoint::ALL {
            let spec = endpoint.spec();
            let signed = SIGNED_URL_ENDPOINTS.contains(&endpoint);
            assert_eq!(spec.needs(JwtKey), !signed, "{}", spec.name);
            if signed {
                assert!(spec.needs(PreviewKey), "{}", spec.name);
            }
        }
        assert!(!SWEEP_UPLOADS.needs(JwtKey) && !SWEEP_UPLOADS.needs(PreviewKey));
    }

    /// The S3 client choice: S3 requests or presigning make one; only those functions do.
    #[test]
    fn the_functions_with_an_s3_client_are_those_declaring_s3_or_presigning() {
        let with_client: Vec<_> = functions()
            .filter(Spec::builds_s3_client)
            .map(|spec| spec.name)
            .collect();
        let declaring: Vec<_> = functions()
            .filter(|spec| spec.needs.iter().any(|c| matches!(c, S3 | Presigner)))
            .map(|spec| spec.name)
            .collect();
        assert_eq!(with_client, declaring);
        assert!(!Endpoint::GetMedia.spec().builds_s3_client());
        assert!(Endpoint::StreamMedia.spec().builds_s3_client());
    }

    #[test]
    fn routes_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for endpoint in Endpoint::ALL {
            let route = endpoint.spec().route.unwrap();
            assert!(seen.insert(route), "{route:?} twice");
        }
    }
}
