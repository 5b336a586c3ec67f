//! S3 multipart uploads (resumable uploads of large files): start one at its final key, sign
//! each part's PUT, list the parts S3 holds, complete and abort. The object is assembled by S3
//! where it will stay, so nothing is copied after the upload (CopyObject stops at 5 GB, and
//! copying 20 GiB takes minutes).

use std::time::Duration;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use chrono::{DateTime, Utc};

use super::{
    ObjectMetadata, PresignedUpload, Storage, StorageError, no_body_checksum, presigning,
    to_chrono, upload_ticket,
};
use crate::media_type::stored_disposition;

/// S3's error code for an upload id it does not hold (never created, aborted or completed).
const NO_SUCH_UPLOAD: &str = "NoSuchUpload";

/// S3's refusals of a complete whose part list does not match what it holds: a part it does
/// not have (or with another ETag), parts out of order, a part other than the last under
/// 5 MiB.
const PART_REFUSALS: &[&str] = &["InvalidPart", "InvalidPartOrder", "EntityTooSmall"];

/// One part S3 holds for an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedPart {
    pub part_number: i32,
    pub size: u64,
    /// In quotes, as S3 answers it and as complete wants it back.
    pub etag: String,
}

/// One part of a complete: the number and the ETag the client got from S3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartToComplete {
    pub part_number: i32,
    pub etag: String,
}

/// A multipart upload S3 holds (from ListMultipartUploads).
#[derive(Debug, Clone)]
pub struct OpenUpload {
    pub key: String,
    pub upload_id: String,
    pub initiated: Option<DateTime<Utc>>,
}

/// What went wrong with a multipart operation, beyond the plain storage failures.
#[derive(Debug, thiserror::Error)]
pub enum MultipartError {
    /// S3 holds no such upload: it was aborted, completed, or never created.
    #[error("no such multipart upload")]
    NoSuchUpload,
    /// S3 refused the part list of a complete (its code and message).
    #[error("S3 refused the parts: {0}")]
    InvalidParts(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl MultipartError {
    fn from_sdk<E>(
        err: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match err.code() {
            Some(NO_SUCH_UPLOAD) => Self::NoSuchUpload,
            Some(code) if PART_REFUSALS.contains(&code) => Self::InvalidParts(format!(
                "{code}: {}",
                err.message()
                    .unwrap_or("the part list does not match the uploaded parts")
            )),
            _ => Self::Storage(StorageError::from_sdk(err)),
        }
    }
}

impl Storage {
    /// Starts a multipart upload at `key`, stored as a PUT of the API stores a file: SSE
    /// AES256, the type, `attachment` for active content and the API's metadata. Answers S3's
    /// upload id.
    #[tracing::instrument(skip(self, metadata), fields(bucket = %self.bucket))]
    pub async fn create_multipart(
        &self,
        key: &str,
        content_type: &str,
        metadata: ObjectMetadata,
    ) -> Result<String, StorageError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .set_content_disposition(stored_disposition(content_type).map(str::to_owned))
            .server_side_encryption(ServerSideEncryption::Aes256)
            .set_metadata(Some(metadata.into_map()))
            .send()
            .await
            .map_err(StorageError::from_sdk)?;
        created
            .upload_id()
            .map(str::to_owned)
            .ok_or_else(|| StorageError::Other("CreateMultipartUpload answered no UploadId".into()))
    }

    /// A PUT URL valid for `ttl` for part `part_number` of the upload, whose signature covers
    /// the part's exact length: S3 refuses a part of any other size.
    #[tracing::instrument(skip(self, upload_id), fields(bucket = %self.bucket))]
    pub async fn presigned_upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: i32,
        length: u64,
        ttl: Duration,
    ) -> Result<PresignedUpload, StorageError> {
        let (presigning, expires_at) = presigning(ttl)?;
        let request = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(part_number)
            .content_length(i64::try_from(length).unwrap_or(i64::MAX))
            .customize()
            .config_override(no_body_checksum())
            .presigned(presigning)
            .await
            .map_err(StorageError::from_sdk)?;
        Ok(upload_ticket(&request, expires_at))
    }

    /// Every part S3 holds for the upload, in part-number order, following ListParts'
    /// pages (1,000 parts each on AWS) to the end.
    #[tracing::instrument(skip(self, upload_id), fields(bucket = %self.bucket))]
    pub async fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<UploadedPart>, MultipartError> {
        let mut pages = self
            .client
            .list_parts()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .into_paginator()
            .send();
        let mut parts = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(MultipartError::from_sdk)?;
            parts.extend(page.parts().iter().map(|p| UploadedPart {
                part_number: p.part_number().unwrap_or_default(),
                size: p.size().unwrap_or(0).max(0) as u64,
                etag: p.e_tag().unwrap_or_default().to_owned(),
            }));
        }
        parts.sort_by_key(|p| p.part_number);
        parts.dedup_by_key(|p| p.part_number);
        Ok(parts)
    }

    /// Assembles the object from `parts`, never over an existing object (`If-None-Match: *`,
    /// [`StorageError::AlreadyExists`]).
    #[tracing::instrument(skip(self, upload_id, parts), fields(bucket = %self.bucket, parts = parts.len()))]
    pub async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[PartToComplete],
    ) -> Result<(), MultipartError> {
        let completed = CompletedMultipartUpload::builder()
            .set_parts(Some(
                parts
                    .iter()
                    .map(|p| {
                        CompletedPart::builder()
                            .part_number(p.part_number)
                            .e_tag(&p.etag)
                            .build()
                    })
                    .collect(),
            ))
            .build();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(completed)
            .if_none_match("*")
            .send()
            .await
            .map_err(MultipartError::from_sdk)?;
        Ok(())
    }

    /// Aborts the upload and frees its parts; one S3 no longer holds is already gone.
    #[tracing::instrument(skip(self, upload_id), fields(bucket = %self.bucket))]
    pub async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StorageError> {
        match self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(MultipartError::from_sdk)
        {
            Ok(_) | Err(MultipartError::NoSuchUpload) => Ok(()),
            Err(MultipartError::Storage(err)) => Err(err),
            Err(err) => Err(StorageError::Other(err.to_string())),
        }
    }

    /// Every multipart upload S3 holds under `prefix`, following the listing's markers.
    #[tracing::instrument(skip(self), fields(bucket = %self.bucket))]
    pub async fn list_multipart_uploads(
        &self,
        prefix: &str,
    ) -> Result<Vec<OpenUpload>, StorageError> {
        let mut uploads = Vec::new();
        let (mut key_marker, mut upload_id_marker) = (None, None);
        loop {
            let page = self
                .client
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(upload_id_marker.take())
                .send()
                .await
                .map_err(StorageError::from_sdk)?;
            uploads.extend(page.uploads().iter().map(|u| OpenUpload {
                key: u.key().unwrap_or_default().to_owned(),
                upload_id: u.upload_id().unwrap_or_default().to_owned(),
                initiated: u.initiated().and_then(to_chrono),
            }));
            if page.is_truncated() != Some(true) {
                return Ok(uploads);
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            upload_id_marker = page.next_upload_id_marker().map(str::to_owned);
            if key_marker.is_none() && upload_id_marker.is_none() {
                return Ok(uploads);
            }
        }
    }
}
