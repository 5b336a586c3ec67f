//! Storing the files of a form upload one at a time, and the batch answer of several files.
//! Shared by `upload-media` and `add-zone-files`.
//!
//! Each file is checked on its own, written under a free `events/` key and recorded in its
//! zone; a file that fails leaves no object and no row and does not fail the others. After a
//! failure of the storage or the database (a 5xx) the remaining files are not tried: they
//! would wait for the same timeout each, and the request would outlive the function.

use std::sync::Arc;

use chrono::Utc;
use deadpool_postgres::Client;
use serde::Serialize;
use uuid::Uuid;

use super::MediaJson;
use super::publish::{remove_orphan, write_at_free_key};
use super::upload_form::{FormFile, UploadForm, check_file};
use crate::AppState;
use crate::analysis;
use crate::db::media::{self, MediaRow, NewMedia, Zone};
use crate::db::shape::Shape;
use crate::error::ApiError;
use crate::media_type::{self, sanitize_file_name};
use crate::preview_link::PreviewLinks;
use crate::storage::ObjectMetadata;

/// Where the files of one request go: the event, who sends them, and the connection and
/// shape their rows are written with.
pub(super) struct Destination<'a> {
    pub state: &'a AppState,
    pub event_id: Uuid,
    pub user_id: Uuid,
    pub client: &'a Client,
    pub shape: Shape,
    /// Signs the stored images' `previews`.
    pub links: &'a PreviewLinks,
}

/// The metadata written with a file whose zone is created with it (and on the seed shape,
/// with every file).
#[derive(Debug, Clone, Copy)]
pub(super) struct Metadata<'a> {
    pub title: Option<&'a str>,
    pub description: Option<&'a str>,
    /// `", "`-joined.
    pub tags: &'a str,
}

/// The answer to several files: 201 whatever the outcome, each file in `successful` or in
/// `failed` with its position in the form.
#[derive(Debug, Serialize)]
pub(super) struct BatchJson {
    pub successful: Vec<MediaJson>,
    pub failed: Vec<FailedFile>,
    pub total_requested: usize,
    pub total_successful: usize,
    pub total_failed: usize,
    /// The zone the stored files share; null on the seed shape, or when no file was stored.
    pub batch_id: Option<Uuid>,
}

/// A file that was not stored, and why.
#[derive(Debug, Serialize)]
pub(super) struct FailedFile {
    /// The file's name as it would have been stored (sanitised).
    pub filename: String,
    /// Its position among the request's files, from 0.
    pub index: usize,
    /// The message a request of this file alone would have been answered with.
    pub error: String,
    /// The machine code of that answer (`FILE_TOO_LARGE`, `UNSUPPORTED_MEDIA_TYPE`, …).
    pub error_type: &'static str,
}

impl BatchJson {
    fn new(total_requested: usize) -> Self {
        Self {
            successful: Vec::new(),
            failed: Vec::new(),
            total_requested,
            total_successful: 0,
            total_failed: 0,
            batch_id: None,
        }
    }

    fn stored(&mut self, row: MediaRow, links: &PreviewLinks) {
        if self.batch_id.is_none() {
            self.batch_id = row.batch_id;
        }
        self.successful.push(MediaJson::new(row, links));
        self.total_successful += 1;
    }

    fn refused(&mut self, file: &FormFile, err: &ApiError) {
        self.failed.push(FailedFile {
            filename: sanitize_file_name(&file.file_name),
            index: file.index,
            error: err.public_message(),
            error_type: err.code(),
        });
        self.total_failed += 1;
    }
}

/// How the files of a batch find their zone.
#[derive(Debug, Clone, Copy)]
pub(super) enum BatchZone {
    /// A new zone for the request: the first file stored creates it, the others join it.
    New(Uuid),
    /// An existing zone; if it is deleted while the files are stored, the request ends with
    /// 404 `ZONE_NOT_FOUND` (the files stored before the delete went with the zone).
    Existing(Uuid),
}

/// Stores every file of `form` (the form's metadata applies to the files of a new zone).
pub(super) async fn store_all(
    to: &Destination<'_>,
    form: &UploadForm,
    batch_zone: BatchZone,
) -> Result<BatchJson, ApiError> {
    let tags = form.tags.join(", ");
    let metadata = Metadata {
        title: form.title.as_deref(),
        description: form.description.as_deref(),
        tags: &tags,
    };
    let mut batch = BatchJson::new(form.files.len());
    let mut files = form.files.iter();
    for file in files.by_ref() {
        let zone = match (batch_zone, batch.total_successful, to.shape) {
            // The seed era has no zones: each row holds the batch's metadata itself.
            (BatchZone::New(id), _, Shape::Seed) | (BatchZone::New(id), 0, _) => Zone::Own(id),
            (BatchZone::New(id) | BatchZone::Existing(id), _, _) => Zone::Join(id),
        };
        match store_file(to, file, metadata, zone).await {
            Ok(row) => batch.stored(row, to.links),
            Err(ApiError::ZoneNotFound) => match batch_zone {
                BatchZone::Existing(_) => return Err(ApiError::ZoneNotFound),
                // The request's own zone went with a delete of the files stored before.
                BatchZone::New(_) => batch.refused(file, &ApiError::ZoneNotFound),
            },
            Err(err) if err.status_code() >= 500 => {
                tracing::error!(index = file.index, error = ?err, "a file of a batch failed; the rest are not tried");
                batch.refused(file, &err);
                for rest in files.by_ref() {
                    batch.refused(rest, &err);
                }
                break;
            }
            Err(err) => batch.refused(file, &err),
        }
    }
    Ok(batch)
}

/// Stores one file: checks it, writes its object, records its row in `zone`. On any failure
/// nothing of it is left: the object is removed again when its row is not written.
pub(super) async fn store_file(
    to: &Destination<'_>,
    file: &FormFile,
    metadata: Metadata<'_>,
    zone: Zone,
) -> Result<MediaRow, ApiError> {
    let state = to.state;
    check_file(file, state.config.max_file_size)?;
    let media_type = media_type::detect(&file.bytes, &file.file_name)?;
    let original_filename = sanitize_file_name(&file.file_name);
    let file_size = i32::try_from(file.bytes.len())
        .map_err(|_| ApiError::file_too_large(state.config.max_file_size))?;
    let analysis = analysis::analyze(
        media_type.mime,
        Arc::new(file.bytes.clone()),
        &original_filename,
    )
    .await;

    let object_metadata = ObjectMetadata {
        event_id: to.event_id.to_string(),
        user_id: to.user_id.to_string(),
        original_filename: original_filename.clone(),
    };
    let (key, created_at) =
        write_at_free_key(to.event_id, Utc::now(), media_type.extension, |key| {
            let bytes = file.bytes.clone();
            let object_metadata = object_metadata.clone();
            async move {
                state
                    .storage()
                    .put_new(key.as_str(), bytes, media_type.mime, object_metadata)
                    .await
            }
        })
        .await?;

    let file_url = state.file_url(key.as_str());
    let new = NewMedia {
        id: Uuid::new_v4(),
        event_id: to.event_id,
        title: metadata.title,
        description: metadata.description,
        file_url: &file_url,
        s3_key: key.as_str(),
        file_type: media_type.mime,
        file_size,
        tags: metadata.tags,
        original_filename: &original_filename,
        created_at,
        analysis,
    };
    match media::insert_in(to.client, to.shape, &new, zone).await {
        Ok(Some(row)) => {
            tracing::info!(media_id = %row.id, event_id = %to.event_id, key = %key, size = file_size, "media uploaded");
            Ok(row)
        }
        Ok(None) => {
            remove_orphan(state, &key).await;
            Err(ApiError::ZoneNotFound)
        }
        Err(err) => {
            remove_orphan(state, &key).await;
            Err(ApiError::from(err))
        }
    }
}
