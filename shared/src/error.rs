//! The one error type every endpoint returns, and its single mapping to a status, a stable
//! machine code and the JSON envelope the existing Plugs clients already parse.
//!
//! The layers below the handlers own their errors ([`TokenError`], [`Rejected`],
//! [`StorageError`], [`DbError`]) and know nothing of HTTP; this module is the one place that
//! says which answer each of them becomes.

use serde::Serialize;

use crate::auth::TokenError;
use crate::db::DbError;
use crate::db::events::Access;
use crate::media_type::Rejected;
use crate::storage::{MultipartError, StorageError};

/// One field that failed validation: where (`["path", "event_id"]`) and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub loc: Vec<String>,
    pub msg: String,
}

impl FieldError {
    pub fn new(loc: &[&str], msg: impl Into<String>) -> Self {
        Self {
            loc: loc.iter().map(|s| (*s).to_owned()).collect(),
            msg: msg.into(),
        }
    }
}

/// Everything that can go wrong in a request. 4xx variants carry a message for the client;
/// 5xx variants carry the cause for the log only.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: no `Authorization: Bearer` header.
    #[error("authentication required: send Authorization: Bearer <token>")]
    AuthenticationRequired,
    /// 401: the token is malformed, wrongly signed or not an access token.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// 401: the token's `exp` has passed.
    #[error("token expired")]
    TokenExpired,
    /// 403: the token belongs to a deactivated user.
    #[error("user account is inactive")]
    UserInactive,
    /// 404: no such event, or it is not the caller's (the two are indistinguishable on purpose).
    #[error("event not found")]
    EventNotFound,
    /// 404: no such media in this event.
    #[error("media not found")]
    MediaNotFound,
    /// 404: no such live zone (album) in this event.
    #[error("zone not found")]
    ZoneNotFound,
    /// 404: the media row exists but its object is missing from the bucket.
    #[error("file not found in storage")]
    FileNotFound,
    /// 404: no such pending direct upload in this event (or it was swept after expiring).
    #[error("upload not found")]
    UploadNotFound,
    /// 409: complete was called before the file reached S3.
    #[error("{0}")]
    UploadIncomplete(String),
    /// 409: the file under the upload URL was replaced while complete was checking it;
    /// nothing was published, and completing again checks the file that is there now.
    #[error(
        "the uploaded file was replaced while it was being checked: complete the upload again to check the file that is there now"
    )]
    UploadChanged,
    /// 409: the database predates The Plugs' zones (seed era): a zone there is one media item
    /// and cannot hold more files.
    #[error(
        "this database predates The Plugs' zones (its schema is from before The Plugs' revision \
         7a9d6f4f8420): a zone is a single media item here and cannot take more files"
    )]
    ZonesUnavailable,
    /// 409: a resumable upload's complete named a part S3 does not hold, or with another
    /// ETag (a part of another upload, a part sent again since): nothing changed, and the
    /// upload stays open; list its parts and upload the missing ones again.
    #[error("{0}")]
    InvalidPart(String),
    /// 409: a resumable upload's key was taken by another file while it was open (another
    /// upload path landed on the same microsecond's key): S3 cannot assemble it there, so the
    /// upload was aborted, and the other file is left alone.
    #[error(
        "another file was stored at this upload's key while it was open; the upload was \
         aborted: create a new one"
    )]
    UploadKeyTaken,
    /// 422: the file that reached S3 is not the one declared (its size differs).
    #[error("{0}")]
    UploadMismatch(String),
    /// 400: the request body cannot be read (not multipart, broken multipart, bad encoding).
    #[error("{0}")]
    MalformedRequest(String),
    /// 422: well-formed but invalid input; `details` says which field and why.
    #[error("{message}")]
    Validation {
        message: String,
        details: Vec<FieldError>,
    },
    /// 422: the uploaded file has no bytes.
    #[error("the file is empty")]
    EmptyFile,
    /// 413: the file exceeds `MAX_FILE_SIZE` (or what Lambda can carry).
    #[error("{message}")]
    FileTooLarge { message: String },
    /// 413: the request is larger than the event Lambda accepts; in AWS, API Gateway refuses
    /// it before any function runs, and locally the edge does the same.
    #[error(
        "the request is larger than the {limit} bytes a function can receive; send files over \
         4.4 MB, or many files at once, with direct uploads (POST \
         /api/v1/events/{{event_id}}/media/uploads, several files per call with `files`); \
         resumable uploads for very large files are not available yet"
    )]
    RequestTooLarge { limit: usize },
    /// 415: the file's type is not on the allow-list, or its bytes contradict its name.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 403: a preview URL whose signature does not match its media, size and expiry (or has
    /// none): the signature is the preview's only authorization.
    #[error("the preview URL's signature is not valid: ask the API for the media again")]
    PreviewSignatureInvalid,
    /// 403: a preview URL past its `expires`.
    #[error("the preview URL has expired: ask the API for the media again")]
    PreviewUrlExpired,
    /// 404: a preview size the API does not make.
    #[error("no such preview size: thumb or medium")]
    PreviewSizeNotFound,
    /// 422: the media item gets no preview (not a raster image), or its file cannot be
    /// previewed (too many pixels, truncated, corrupt); `PreviewError::code` says which.
    #[error("{0}")]
    NotPreviewable(#[from] crate::preview::PreviewError),
    /// 500: S3 could not be reached or answered with an unexpected failure.
    #[error("S3 connection error")]
    S3Connection(#[source] StorageError),
    /// 403: S3 refused the operation (IAM policy, bucket policy).
    #[error("S3 permission denied")]
    S3PermissionDenied(#[source] StorageError),
    /// 500: the S3 credentials are missing or invalid.
    #[error("S3 credentials are not configured or are invalid")]
    S3Credentials(#[source] StorageError),
    /// 500: the answer would be larger than Lambda can return ({size} bytes of response JSON);
    /// a bug guard: no valid input should ever produce it.
    #[error("a {status} answer of {size} bytes exceeds the Lambda response limit of {limit} bytes")]
    ResponseTooLarge {
        status: u16,
        size: usize,
        limit: usize,
    },
    /// 500: the database could not be reached or a query failed.
    #[error("database error")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// 503: no database connection could be had in time (all busy, or the database is
    /// restarting or full): nothing was changed, and a retry after `Retry-After` seconds may
    /// succeed.
    #[error("the service is busy")]
    ServiceBusy(#[source] DbError),
}

/// The `Retry-After` of a 503: a pool wait is about two seconds, a restart a few.
pub const RETRY_AFTER_SECONDS: u32 = 1;

impl ApiError {
    pub fn validation(loc: &[&str], msg: impl Into<String>) -> Self {
        let msg = msg.into();
        Self::Validation {
            message: format!("{}: {msg}", loc.last().copied().unwrap_or("request")),
            details: vec![FieldError::new(loc, msg)],
        }
    }

    pub fn file_too_large(limit: u64) -> Self {
        Self::FileTooLarge {
            message: format!("file too large: the limit is {limit} bytes"),
        }
    }

    pub fn status_code(&self) -> u16 {
        match self {
            Self::AuthenticationRequired | Self::InvalidToken(_) | Self::TokenExpired => 401,
            Self::UserInactive
            | Self::S3PermissionDenied(_)
            | Self::PreviewSignatureInvalid
            | Self::PreviewUrlExpired => 403,
            Self::EventNotFound
            | Self::MediaNotFound
            | Self::ZoneNotFound
            | Self::FileNotFound
            | Self::UploadNotFound
            | Self::PreviewSizeNotFound => 404,
            Self::UploadIncomplete(_)
            | Self::UploadChanged
            | Self::ZonesUnavailable
            | Self::InvalidPart(_)
            | Self::UploadKeyTaken => 409,
            Self::UploadMismatch(_) => 422,
            Self::MalformedRequest(_) => 400,
            Self::Validation { .. } | Self::EmptyFile | Self::NotPreviewable(_) => 422,
            Self::FileTooLarge { .. } | Self::RequestTooLarge { .. } => 413,
            Self::UnsupportedMediaType(_) => 415,
            Self::S3Connection(_)
            | Self::S3Credentials(_)
            | Self::Database(_)
            | Self::ResponseTooLarge { .. } => 500,
            Self::ServiceBusy(_) => 503,
        }
    }

    /// The stable machine code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::AuthenticationRequired => "AUTHENTICATION_REQUIRED",
            Self::InvalidToken(_) => "INVALID_TOKEN",
            Self::TokenExpired => "TOKEN_EXPIRED",
            Self::UserInactive => "USER_INACTIVE",
            Self::EventNotFound => "EVENT_NOT_FOUND",
            Self::MediaNotFound => "MEDIA_NOT_FOUND",
            Self::ZoneNotFound => "ZONE_NOT_FOUND",
            Self::FileNotFound => "FILE_NOT_FOUND",
            Self::UploadNotFound => "UPLOAD_NOT_FOUND",
            Self::UploadIncomplete(_) => "UPLOAD_INCOMPLETE",
            Self::UploadChanged => "UPLOAD_CHANGED",
            Self::ZonesUnavailable => "ZONES_UNAVAILABLE",
            Self::UploadMismatch(_) => "UPLOAD_MISMATCH",
            Self::InvalidPart(_) => "INVALID_PART",
            Self::UploadKeyTaken => "UPLOAD_KEY_TAKEN",
            Self::MalformedRequest(_) => "MALFORMED_REQUEST",
            Self::Validation { .. } => "VALIDATION_ERROR",
            Self::EmptyFile => "EMPTY_FILE",
            Self::FileTooLarge { .. } => "FILE_TOO_LARGE",
            Self::RequestTooLarge { .. } => "REQUEST_TOO_LARGE",
            Self::UnsupportedMediaType(_) => "UNSUPPORTED_MEDIA_TYPE",
            Self::PreviewSignatureInvalid => "PREVIEW_SIGNATURE_INVALID",
            Self::PreviewUrlExpired => "PREVIEW_URL_EXPIRED",
            Self::PreviewSizeNotFound => "PREVIEW_SIZE_NOT_FOUND",
            Self::NotPreviewable(err) => err.code(),
            Self::S3Connection(_) => "S3_CONNECTION_ERROR",
            Self::S3PermissionDenied(_) => "S3_ACCESS_DENIED",
            Self::S3Credentials(_) => "S3_CREDENTIALS_ERROR",
            Self::Database(_) => "DATABASE_ERROR",
            Self::ResponseTooLarge { .. } => "RESPONSE_TOO_LARGE",
            Self::ServiceBusy(_) => "SERVICE_BUSY",
        }
    }

    /// What the client may read: the message for 4xx, a fixed sentence for 5xx so that no
    /// infrastructure detail (host names, SQL, keys) leaks.
    pub fn public_message(&self) -> String {
        match self {
            Self::S3Connection(_) => "the file storage is unavailable, try again later".into(),
            Self::S3Credentials(_) => "the file storage is misconfigured".into(),
            Self::Database(_) => "the database is unavailable, try again later".into(),
            Self::ResponseTooLarge { .. } => "the answer is too large to send".into(),
            Self::ServiceBusy(_) => "the service is busy, retry in a moment".into(),
            other => other.to_string(),
        }
    }

    pub fn details(&self) -> Option<&[FieldError]> {
        match self {
            Self::Validation { details, .. } => Some(details),
            _ => None,
        }
    }

    pub fn is_auth_failure(&self) -> bool {
        self.status_code() == 401
    }

    pub fn database(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Database(Box::new(err))
    }
}

impl From<TokenError> for ApiError {
    fn from(err: TokenError) -> Self {
        match err {
            TokenError::Missing => Self::AuthenticationRequired,
            TokenError::Expired => Self::TokenExpired,
            TokenError::Invalid(reason) => Self::InvalidToken(reason),
            TokenError::Inactive => Self::UserInactive,
        }
    }
}

/// Every refusal of the type check is a 415 whose message says what the file was found to be.
impl From<Rejected> for ApiError {
    fn from(err: Rejected) -> Self {
        Self::UnsupportedMediaType(err.to_string())
    }
}

impl ApiError {
    /// Why access was denied, as the client hears it. A token outlives changes to its user's
    /// account: a deactivated account is refused like an inactive token, and a removed one
    /// like a token that names no user. An event that is missing or someone else's gets the
    /// same answer, so ids cannot be probed.
    pub fn denied(access: Access) -> Self {
        match access {
            Access::UserInactive => Self::UserInactive,
            Access::UserUnknown => Self::InvalidToken("the token's user no longer exists".into()),
            Access::NotOwner | Access::Owner => Self::EventNotFound,
        }
    }
}

/// A database that cannot serve now (see [`DbError::is_unavailable`]) is a 503 the client
/// may retry; anything else is a 500.
impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        if err.is_unavailable() {
            Self::ServiceBusy(err)
        } else {
            Self::database(err)
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::NotFound => Self::FileNotFound,
            // Only reads and copies pinned to a checked version fail this way: a direct
            // upload whose file was PUT again during complete.
            StorageError::SourceChanged => Self::UploadChanged,
            StorageError::AccessDenied(_) => Self::S3PermissionDenied(err),
            StorageError::Credentials(_) => Self::S3Credentials(err),
            _ => Self::S3Connection(err),
        }
    }
}

/// A multipart operation's failure, where no handler gives it a meaning of its own.
impl From<MultipartError> for ApiError {
    fn from(err: MultipartError) -> Self {
        match err {
            MultipartError::NoSuchUpload => Self::UploadNotFound,
            MultipartError::InvalidParts(detail) => Self::InvalidPart(format!(
                "S3 refused the parts ({detail}); list the parts and send the missing ones again"
            )),
            MultipartError::Storage(err) => err.into(),
        }
    }
}

/// The JSON body of every error response.
#[derive(Debug, Serialize)]
pub struct ErrorEnvelope<'a> {
    pub error: ErrorBody<'a>,
}

#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<&'a [FieldError]>,
    pub timestamp: String,
    pub correlation_id: &'a str,
}

impl ApiError {
    pub fn envelope<'a>(&'a self, correlation_id: &'a str) -> ErrorEnvelope<'a> {
        ErrorEnvelope {
            error: ErrorBody {
                code: self.code(),
                message: self.public_message(),
                details: self.details(),
                timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                correlation_id,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_hide_their_cause_from_the_client() {
        let err = ApiError::database(std::io::Error::other(
            "password authentication failed for user x",
        ));
        let body = serde_json::to_value(err.envelope("req-1")).unwrap();
        assert_eq!(body["error"]["code"], "DATABASE_ERROR");
        assert!(!body.to_string().contains("password"));
        assert_eq!(body["error"]["correlation_id"], "req-1");
    }

    #[test]
    fn validation_errors_carry_their_location() {
        let err = ApiError::validation(&["query", "limit"], "must be between 1 and 1000");
        assert_eq!(err.status_code(), 422);
        let body = serde_json::to_value(err.envelope("r")).unwrap();
        assert_eq!(body["error"]["details"][0]["loc"][1], "limit");
        assert_eq!(
            body["error"]["message"],
            "limit: must be between 1 and 1000"
        );
    }

    /// What a client sees of `err`: the status, the machine code and the message.
    fn answer(err: impl Into<ApiError>) -> (u16, &'static str, String) {
        let err = err.into();
        (err.status_code(), err.code(), err.public_message())
    }

    #[test]
    fn each_token_error_answers_its_status_and_code() {
        let cases = [
            (
                TokenError::Missing,
                401,
                "AUTHENTICATION_REQUIRED",
                "authentication required: send Authorization: Bearer <token>",
            ),
            (TokenError::Expired, 401, "TOKEN_EXPIRED", "token expired"),
            (
                TokenError::Invalid("bad signature".into()),
                401,
                "INVALID_TOKEN",
                "invalid token: bad signature",
            ),
            (
                TokenError::Inactive,
                403,
                "USER_INACTIVE",
                "user account is inactive",
            ),
        ];
        for (err, status, code, message) in cases {
            assert_eq!(answer(err), (status, code, message.to_owned()));
        }
    }

    #[test]
    fn every_rejected_file_is_a_415_that_says_what_it_is() {
        let cases = [
            (
                Rejected::NotAllowed { found: "text/html" },
                "file content is text/html, which is not an allowed type",
            ),
            (
                Rejected::Unrecognised,
                "file type not recognised: use an image, video, audio or document type from the allow-list",
            ),
            (
                Rejected::Contradicts { extension: "png" },
                "file content does not match its .png extension",
            ),
            (
                Rejected::NotValid { mime: "text/csv" },
                "file content is not valid text/csv",
            ),
        ];
        for (err, message) in cases {
            assert_eq!(
                answer(err),
                (415, "UNSUPPORTED_MEDIA_TYPE", message.to_owned())
            );
        }
    }

    #[test]
    fn each_storage_error_answers_its_status_and_code() {
        let cases = [
            (StorageError::NotFound, 404, "FILE_NOT_FOUND"),
            (StorageError::SourceChanged, 409, "UPLOAD_CHANGED"),
            (
                StorageError::AccessDenied("x".into()),
                403,
                "S3_ACCESS_DENIED",
            ),
            (
                StorageError::Credentials("x".into()),
                500,
                "S3_CREDENTIALS_ERROR",
            ),
            (StorageError::AlreadyExists, 500, "S3_CONNECTION_ERROR"),
            (
                StorageError::BucketNotFound("x".into()),
                500,
                "S3_CONNECTION_ERROR",
            ),
            (
                StorageError::Connection("x".into()),
                500,
                "S3_CONNECTION_ERROR",
            ),
            (StorageError::Other("x".into()), 500, "S3_CONNECTION_ERROR"),
        ];
        for (err, status, code) in cases {
            let (got_status, got_code, _) = answer(err);
            assert_eq!((got_status, got_code), (status, code));
        }
    }

    #[test]
    fn each_denied_access_answers_its_status_and_code() {
        let cases = [
            (Access::UserInactive, 403, "USER_INACTIVE"),
            (Access::UserUnknown, 401, "INVALID_TOKEN"),
            (Access::NotOwner, 404, "EVENT_NOT_FOUND"),
        ];
        for (access, status, code) in cases {
            let (got_status, got_code, _) = answer(ApiError::denied(access));
            assert_eq!((got_status, got_code), (status, code));
        }
    }

    #[test]
    fn a_database_error_is_an_opaque_500() {
        let cases = [
            DbError::Setup(crate::db::PoolSetupError("host=db.internal".into())),
            DbError::Secret(crate::secrets::SecretError::new(
                "db-secret",
                "host=db.internal",
            )),
        ];
        for err in cases {
            assert_eq!(
                answer(err),
                (
                    500,
                    "DATABASE_ERROR",
                    "the database is unavailable, try again later".to_owned()
                )
            );
        }
    }

    #[test]
    fn file_too_large_names_the_limit() {
        let err = ApiError::file_too_large(10_485_760);
        assert_eq!(err.status_code(), 413);
        assert!(err.public_message().contains("10485760"));
    }
}
