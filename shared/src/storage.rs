//! The bucket: the spec's "S3 service" operations on top of aws-sdk-s3, with every write
//! encrypted (SSE AES256), never overwriting an existing object, stored with headers the API
//! decides (type, and `attachment` for active content; no caching or encoding a client chose),
//! and S3 failures mapped to the few cases the API distinguishes.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{MetadataDirective, ServerSideEncryption};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;

use crate::config::{Config, S3Credentials};
use crate::media_type::stored_disposition;

mod multipart;

pub use multipart::{MultipartError, OpenUpload, PartToComplete, UploadedPart};

/// What went wrong talking to S3, reduced to what callers act on.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object not found")]
    NotFound,
    /// A conditional write found an object already under the key.
    #[error("an object already exists under this key")]
    AlreadyExists,
    /// The object is no longer the version (ETag) a read or copy was pinned to: someone
    /// wrote it again in between.
    #[error("the object changed since it was checked")]
    SourceChanged,
    #[error("access denied: {0}")]
    AccessDenied(String),
    #[error("invalid or missing credentials: {0}")]
    Credentials(String),
    #[error("bucket not found: {0}")]
    BucketNotFound(String),
    #[error("S3 unreachable: {0}")]
    Connection(String),
    #[error("S3 error: {0}")]
    Other(String),
}

impl StorageError {
    fn from_sdk<E>(err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let code = err.code().map(str::to_owned);
        let detail = format!("{}", aws_sdk_s3::error::DisplayErrorContext(&err));
        if matches!(
            err,
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)
        ) {
            return Self::Connection(detail);
        }
        match (code.as_deref(), status) {
            (Some("NoSuchKey" | "NotFound"), _) => Self::NotFound,
            (Some("NoSuchBucket"), _) => Self::BucketNotFound(detail),
            (Some("PreconditionFailed"), _) | (_, Some(412)) => Self::AlreadyExists,
            (
                Some(
                    "InvalidAccessKeyId"
                    | "SignatureDoesNotMatch"
                    | "ExpiredToken"
                    | "InvalidToken"
                    | "TokenRefreshRequired",
                ),
                _,
            ) => Self::Credentials(detail),
            (Some("AccessDenied" | "AllAccessDisabled"), _) | (_, Some(403)) => {
                Self::AccessDenied(detail)
            }
            (_, Some(404)) => Self::NotFound,
            _ if matches!(err, SdkError::ConstructionFailure(_)) => Self::Credentials(detail),
            _ => Self::Other(detail),
        }
    }
}

impl StorageError {
    /// What an operator should check, from the spec's troubleshooting list.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Credentials(_) => {
                "S3 credentials not configured: check the IAM role (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY with S3_USE_IAM_ROLE=false)"
            }
            Self::BucketNotFound(_) => {
                "S3 bucket not found: check S3_BUCKET_NAME and that the bucket exists in S3_REGION"
            }
            Self::AccessDenied(_) => "access denied: check the IAM policy and the bucket policy",
            Self::Connection(_) => {
                "S3 unreachable: check S3_REGION, AWS_ENDPOINT_URL_S3 and the network path"
            }
            Self::NotFound | Self::AlreadyExists | Self::SourceChanged | Self::Other(_) => {
                "check the S3 service and the logs"
            }
        }
    }
}

/// The object metadata the API writes with every file (the spec's "metadata tracking").
#[derive(Debug, Clone, Default)]
pub struct ObjectMetadata {
    pub event_id: String,
    pub user_id: String,
    pub original_filename: String,
}

impl ObjectMetadata {
    fn into_map(self) -> HashMap<String, String> {
        HashMap::from([
            ("event_id".to_owned(), self.event_id),
            ("user_id".to_owned(), self.user_id),
            // S3 metadata travels in headers: keep it printable ASCII.
            (
                "original_filename".to_owned(),
                percent_encoding::utf8_percent_encode(
                    &self.original_filename,
                    percent_encoding::CONTROLS,
                )
                .to_string()
                .chars()
                .map(|c| if c.is_ascii() { c } else { '_' })
                .collect(),
            ),
        ])
    }
}

/// What HEAD tells about an object.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    pub size: u64,
    pub content_type: Option<String>,
    pub last_modified: Option<DateTime<Utc>>,
    pub server_side_encryption: Option<String>,
    pub metadata: HashMap<String, String>,
    /// Without its quotes. For a single-part upload with SSE-S3 it is the hex MD5 of the
    /// bytes; other uploads have other shapes, so callers compare it only as a shortcut, or
    /// pass it back to pin a read or copy to this version of the object.
    pub etag: Option<String>,
}

/// One entry of a listing.
#[derive(Debug, Clone)]
pub struct ListedObject {
    pub key: String,
    pub size: u64,
    pub last_modified: Option<DateTime<Utc>>,
}

/// A time-limited URL that grants one GET.
#[derive(Debug, Clone)]
pub struct PresignedUrl {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// A time-limited URL that grants one PUT of exactly the declared file, and the headers the
/// client must send with it (they are part of the signature).
#[derive(Debug, Clone)]
pub struct PresignedUpload {
    pub url: String,
    pub headers: std::collections::BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

/// What a presigned PUT is bound to.
#[derive(Debug, Clone)]
pub struct DeclaredFile {
    pub size: u64,
    pub content_type: String,
    /// Base64 of the MD5 digest (Content-MD5), when the client declared one.
    pub md5_base64: Option<String>,
    pub metadata: ObjectMetadata,
}

/// What an object is stored as: the type and metadata the API decided for it.
#[derive(Debug, Clone)]
pub struct StoredAs {
    pub content_type: String,
    pub metadata: ObjectMetadata,
}

/// Response header overrides baked into a presigned GET.
#[derive(Debug, Clone)]
pub struct DownloadOverrides {
    pub content_disposition: String,
    pub content_type: String,
}

/// The bucket and the client that reaches it; built once per container.
#[derive(Clone)]
pub struct Storage {
    client: Client,
    bucket: String,
}

impl Storage {
    pub async fn from_config(config: &Config) -> Self {
        Self::new(build_client(config).await, config.bucket.clone())
    }

    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Lists at most one key: proves the bucket exists and the credentials may read it.
    pub async fn probe(&self) -> Result<(), StorageError> {
        self.client
            .list_objects_v2()
            .bucket(&self.bucket)
            .max_keys(1)
            .send()
            .await
            .map_err(StorageError::from_sdk)?;
        Ok(())
    }

    /// Writes a new object; fails with [`StorageError::AlreadyExists`] instead of replacing one.
    /// Active content is stored as an attachment, so the bucket or a CDN never renders it.
    #[tracing::instrument(skip(self, body, metadata), fields(bucket = %self.bucket, size = body.len()))]
    pub async fn put_new(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
        metadata: ObjectMetadata,
    ) -> Result<(), StorageError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .content_type(content_type)
            .set_content_disposition(stored_disposition(content_type).map(str::to_owned))
            .server_side_encryption(ServerSideEncryption::Aes256)
            .set_metadata(Some(metadata.into_map()))
            .if_none_match("*")
            .send()
            .await
            .map_err(StorageError::from_sdk)?;
        Ok(())
    }

    /// Writes a preview variant: never over an existing one (`If-None-Match: *`, so of two
    /// concurrent first requests one writes and the other gets
    /// [`StorageError::AlreadyExists`] and serves the same variant), SSE AES256, and cacheable
    /// for good (a variant never changes: it is made again only after it was deleted).
    #[tracing::instrument(skip(self, body), fields(bucket = %self.bucket, bytes = body.len()))]
    pub async fn put_variant(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
        media_id: &str,
    ) -> Result<(), StorageError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .content_type(content_type)
            .cache_control("private, max-age=31536000, immutable")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .metadata("media_id", media_id)
            .if_none_match("*")
            .send()
            .await
            .map_err(StorageError::from_sdk)?;
        Ok(())
    }

    #[tracing::instrument(skip(self), fields(bucket = %self.bucket))]
    pub async fn download(&self, key: &str) -> Result<Bytes, StorageError> {
        self.get_bytes(key, None, None).await
    }

    #[tracing::instrument(skip(self), fields(bucket = %self.bucket))]
    pub async fn info(&self, key: &str) -> Result<ObjectInfo, StorageError> {
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(StorageError::from_sdk)?;
        Ok(ObjectInfo {
            size: head.content_length().unwrap_or(0).max(0) as u64,
            content_type: head.content_type().map(str::to_owned),
            last_modified: head.last_modified().and_then(to_chrono),
            server_side_encryption: head.server_side_encryption().map(|s| s.as_str().to_owned()),
            metadata: head.metadata().cloned().unwrap_or_default(),
            etag: head.e_tag().map(|t| t.trim_matches('"').to_owned()),
        })
    }

    /// Every object under `prefix`, following continuation tokens to the end.
    #[tracing::instrument(skip(self), fields(bucket = %self.bucket))]
    pub async fn list(&self, prefix: &str) -> Result<Vec<ListedObject>, StorageError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut objects = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(StorageError::from_sdk)?;
            objects.extend(page.contents().iter().map(|o| ListedObject {
                key: o.key().unwrap_or_default().to_owned(),
                size: o.size().unwrap_or(0).max(0) as u64,
                last_modified: o.last_modified().and_then(to_chrono),
            }));
        }
        Ok(objects)
    }

    /// Deletes an object; deleting one that is already gone succeeds (S3 semantics).
    #[tracing::instrument(skip(self), fields(bucket = %self.bucket))]
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(StorageError::from_sdk)?;
        Ok(())
    }

    /// Copies the version `etag` of `from` to the new key `to`, stored as the API decides
    /// (`stored`'s type and metadata, `attachment` for active content, SSE AES256) rather
    /// than with whatever headers the source was written with. Fails with
    /// [`StorageError::SourceChanged`] if `from` is no longer that version (or is gone), and with
    /// [`StorageError::AlreadyExists`] rather than replacing an object at `to`.
    #[tracing::instrument(skip(self, stored), fields(bucket = %self.bucket))]
    pub async fn copy(
        &self,
        from: &str,
        etag: &str,
        to: &str,
        stored: StoredAs,
    ) -> Result<(), StorageError> {
        let source = format!(
            "{}/{}",
            self.bucket,
            percent_encoding::utf8_percent_encode(from, COPY_SOURCE)
        );
        let copied = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(source)
            .copy_source_if_match(quoted(etag))
            .metadata_directive(MetadataDirective::Replace)
            .set_content_disposition(stored_disposition(&stored.content_type).map(str::to_owned))
            .content_type(stored.content_type)
            .set_metadata(Some(stored.metadata.into_map()))
            .server_side_encryption(ServerSideEncryption::Aes256)
            .if_none_match("*")
            .send()
            .await;
        match copied.map_err(StorageError::from_sdk) {
            Ok(_) => Ok(()),
            Err(StorageError::AlreadyExists) => {
                Err(self.which_precondition_failed(from, etag).await)
            }
            // Gone is no longer the checked version either.
            Err(StorageError::NotFound) => Err(StorageError::SourceChanged),
            Err(err) => Err(err),
        }
    }

    /// S3 answers the same 412 whether the source is no longer `etag` or the destination
    /// exists; the source's current ETag tells them apart.
    async fn which_precondition_failed(&self, from: &str, etag: &str) -> StorageError {
        match self.info(from).await {
            Ok(info) if info.etag.as_deref() == Some(etag) => StorageError::AlreadyExists,
            Ok(_) | Err(StorageError::NotFound) => StorageError::SourceChanged,
            Err(err) => err,
        }
    }

    /// The first `len` bytes of the version `etag` of an object (a ranged GET), to check its
    /// signature; [`StorageError::SourceChanged`] if the object is no longer that version (or
    /// is gone).
    #[tracing::instrument(skip(self), fields(bucket = %self.bucket))]
    pub async fn read_prefix(
        &self,
        key: &str,
        etag: &str,
        len: u64,
    ) -> Result<Bytes, StorageError> {
        let range = format!("bytes=0-{}", len.max(1) - 1);
        match self.get_bytes(key, Some(range), Some(quoted(etag))).await {
            Err(StorageError::AlreadyExists | StorageError::NotFound) => {
                Err(StorageError::SourceChanged)
            }
            read => read,
        }
    }

    /// `len` bytes from `offset` of an object (a ranged GET), pinned to the version `etag`
    /// when one is given: what media analysis reads, a window at a time.
    #[tracing::instrument(skip(self), fields(bucket = %self.bucket))]
    pub async fn read_range(
        &self,
        key: &str,
        etag: Option<&str>,
        offset: u64,
        len: u64,
    ) -> Result<Bytes, StorageError> {
        let last = offset.saturating_add(len.max(1) - 1);
        let range = format!("bytes={offset}-{last}");
        match self.get_bytes(key, Some(range), etag.map(quoted)).await {
            Err(StorageError::AlreadyExists) => Err(StorageError::SourceChanged),
            read => read,
        }
    }

    async fn get_bytes(
        &self,
        key: &str,
        range: Option<String>,
        if_match: Option<String>,
    ) -> Result<Bytes, StorageError> {
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_range(range)
            .set_if_match(if_match)
            .send()
            .await
            .map_err(StorageError::from_sdk)?;
        let body = output
            .body
            .collect()
            .await
            .map_err(|e| StorageError::Connection(e.to_string()))?;
        Ok(body.into_bytes())
    }

    /// A PUT URL valid for `ttl` whose signature covers the size, the type, SSE AES256, the
    /// metadata and (when declared) the MD5, so S3 itself refuses any other file.
    #[tracing::instrument(skip(self, file), fields(bucket = %self.bucket, size = file.size))]
    pub async fn presigned_put(
        &self,
        key: &str,
        file: DeclaredFile,
        ttl: Duration,
    ) -> Result<PresignedUpload, StorageError> {
        let (presigning, expires_at) = presigning(ttl)?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(i64::try_from(file.size).unwrap_or(i64::MAX))
            .content_type(file.content_type)
            .server_side_encryption(ServerSideEncryption::Aes256)
            .set_metadata(Some(file.metadata.into_map()))
            .set_content_md5(file.md5_base64)
            .customize()
            .config_override(no_body_checksum())
            .presigned(presigning)
            .await
            .map_err(StorageError::from_sdk)?;
        Ok(upload_ticket(&request, expires_at))
    }

    /// A GET URL signed as of `start` and valid for `ttl` from then: the same URL for every
    /// call with the same `start`, so a browser that cached the object under it uses it again.
    #[tracing::instrument(skip(self), fields(bucket = %self.bucket))]
    pub async fn presigned_get_from(
        &self,
        key: &str,
        start: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<PresignedUrl, StorageError> {
        let config = PresigningConfig::builder()
            .start_time(start.into())
            .expires_in(ttl)
            .build()
            .map_err(|e| StorageError::Other(e.to_string()))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(StorageError::from_sdk)?;
        Ok(PresignedUrl {
            url: request.uri().to_owned(),
            expires_at: start + ttl,
        })
    }

    /// A GET URL valid for `ttl`, with the response headers S3 must send.
    #[tracing::instrument(skip(self, overrides), fields(bucket = %self.bucket))]
    pub async fn presigned_get(
        &self,
        key: &str,
        ttl: Duration,
        overrides: DownloadOverrides,
    ) -> Result<PresignedUrl, StorageError> {
        let (presigning, expires_at) = presigning(ttl)?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_disposition(overrides.content_disposition)
            .response_content_type(overrides.content_type)
            .presigned(presigning)
            .await
            .map_err(StorageError::from_sdk)?;
        Ok(PresignedUrl {
            url: request.uri().to_owned(),
            expires_at,
        })
    }
}

/// The headers a presigned URL's signature covers (its `X-Amz-SignedHeaders`, lowercase),
/// without `host`, which the URL itself carries.
/// Presigned uploads sign no checksum: the SDK would otherwise sign a CRC32 of the (empty)
/// body it holds now, and S3 would refuse the client's real bytes.
fn no_body_checksum() -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::default()
        .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
}

/// A presigned upload request as the client gets it: the URL and only the headers the
/// signature covers. The SDK adds headers it does not sign (on Lambda, x-amzn-trace-id from
/// _X_AMZN_TRACE_ID), which S3 does not need and which a browser would have to clear with
/// the bucket's CORS rule first.
fn upload_ticket(
    request: &aws_sdk_s3::presigning::PresignedRequest,
    expires_at: DateTime<Utc>,
) -> PresignedUpload {
    let signed = signed_headers(request.uri());
    let headers = request
        .headers()
        .filter(|(name, _)| signed.contains(&name.to_ascii_lowercase()))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    PresignedUpload {
        url: request.uri().to_owned(),
        headers,
        expires_at,
    }
}

fn signed_headers(url: &str) -> std::collections::BTreeSet<String> {
    let query = url.split_once('?').map_or("", |(_, query)| query);
    query
        .split('&')
        .filter_map(|pair| pair.strip_prefix("X-Amz-SignedHeaders="))
        .flat_map(|list| list.split("%3B").flat_map(|names| names.split(';')))
        .map(str::to_ascii_lowercase)
        .filter(|name| !name.is_empty() && name != "host")
        .collect()
}

/// The signing settings for a URL valid for `ttl`, and when it expires.
fn presigning(ttl: Duration) -> Result<(PresigningConfig, DateTime<Utc>), StorageError> {
    let config =
        PresigningConfig::expires_in(ttl).map_err(|e| StorageError::Other(e.to_string()))?;
    Ok((config, Utc::now() + ttl))
}

/// Characters escaped in `x-amz-copy-source`: everything but the unreserved set and `/`.
const COPY_SOURCE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// An ETag as HTTP conditions want it: in quotes ([`ObjectInfo::etag`] holds it without).
fn quoted(etag: &str) -> String {
    format!("\"{etag}\"")
}

fn to_chrono(t: &aws_sdk_s3::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// The S3 client for `config`: region, endpoint, path style, credentials and timeouts that
/// keep a Lambda from hanging until its own timeout when S3 is unreachable, and the HTTPS
/// client of [`crate::aws`] (no trust store read at init).
pub async fn build_client(config: &Config) -> Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(Region::new(config.region.clone()))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3).min(config.s3_timeout))
                .read_timeout(config.s3_timeout)
                .operation_attempt_timeout(
                    config.s3_timeout.mul_f32(0.5).max(Duration::from_secs(1)),
                )
                .operation_timeout(config.s3_timeout)
                .build(),
        );
    if let S3Credentials::Static {
        access_key_id,
        secret_access_key,
        session_token,
    } = &config.s3_credentials
    {
        loader = loader.credentials_provider(Credentials::new(
            access_key_id,
            secret_access_key.expose_secret(),
            session_token.as_ref().map(|t| t.expose_secret().to_owned()),
            None,
            "plugs-media-static",
        ));
    }
    if let Some(endpoint) = &config.s3_endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some(http_client) = crate::aws::http_client("AWS_ENDPOINT_URL_S3") {
        loader = loader.http_client(http_client);
    }
    let shared = loader.load().await;
    let s3_config = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(config.s3_force_path_style)
        .build();
    Client::from_conf(s3_config)
}

#[cfg(test)]
mod tests {
    use super::signed_headers;

    #[test]
    fn signed_headers_are_read_from_the_url_without_host() {
        let url = "http://s3/b/temp/k.jpg?x-id=PutObject&X-Amz-Algorithm=AWS4-HMAC-SHA256\
                   &X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost%3Bx-amz-meta-event_id\
                   &X-Amz-Signature=abc";
        let names: Vec<String> = signed_headers(url).into_iter().collect();
        assert_eq!(
            names,
            ["content-length", "content-type", "x-amz-meta-event_id"]
        );
    }

    #[test]
    fn a_url_without_signed_headers_signs_none() {
        assert!(signed_headers("http://s3/b/k").is_empty());
        assert!(signed_headers("http://s3/b/k?X-Amz-SignedHeaders=host").is_empty());
    }
}
