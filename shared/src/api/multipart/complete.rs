//! `POST /api/v1/events/{event_id}/media/multipart/{upload_id}/complete`: assembles the file
//! in S3 at its final key and records it, under the upload's row lock, so concurrent completes
//! make one row and a repeated complete answers the media it created (200).
//!
//! Before S3 is asked, the parts named are checked against the parts S3 holds: a part it does
//! not hold or with another ETag is 409 `INVALID_PART` and changes nothing (the upload stays
//! resumable). After S3 assembled the file, its size (HEAD) must be the declared one and its
//! first bytes the declared type (the same check as every upload), or the object and the
//! upload are discarded (422 `UPLOAD_MISMATCH`, 415). Nothing is copied: the object already is
//! at its key, and a failure to record it leaves it there for a retry (the sweep removes it
//! with the upload once the upload expires).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use serde::Deserialize;
use uuid::Uuid;

use super::super::announce::parse_json;
use super::super::extract::{Input, OwnedEvent, OwnedUpload};
use super::super::{MediaJson, completed_before};
use super::{MAX_PARTS, PartPlan, check_part_number};
use crate::AppState;
use crate::analysis::{self, S3Object};
use crate::db::media::{self, NewMedia, Zone};
use crate::db::multipart_uploads::{self, MultipartUpload};
use crate::db::{DbError, Unnamed};
use crate::edge::{ApiResult, json_response};
use crate::error::ApiError;
use crate::media_type::{MediaType, SNIFF_BYTES, detect};
use crate::storage::{MultipartError, PartToComplete, StorageError, UploadedPart};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Complete {
    parts: Vec<NamedPart>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NamedPart {
    #[serde(deserialize_with = "super::part_number")]
    part_number: i32,
    etag: String,
}

/// Why an upload is discarded: the answer, once its object and row are gone.
type Discard = ApiError;

#[tracing::instrument(skip_all)]
pub async fn handle(state: &AppState, upload: OwnedUpload, input: Input) -> ApiResult {
    let OwnedUpload {
        event:
            OwnedEvent {
                event_id,
                mut client,
                shape,
                links,
                ..
            },
        upload_id,
    } = upload;
    let tx = client.transaction().await.map_err(DbError::from)?;
    let Some(open) = multipart_uploads::lock(&tx, event_id, upload_id).await? else {
        return completed_before(&tx, shape, event_id, upload_id, &links).await;
    };
    let plan = PartPlan {
        file_size: open.file_size as u64,
        part_size: open.part_size as u64,
    };
    let parts = named_parts(parse_json(input.body())?, &plan)?;

    match assemble(state, &open, &parts).await {
        Ok(()) => {}
        Err(Assembly::Refused(err)) => return Err(err),
        Err(Assembly::Gone) => {
            // Aborted behind the API's back (the lifecycle rule): nothing left to complete.
            multipart_uploads::delete(&tx, open.id).await?;
            tx.commit().await.map_err(DbError::from)?;
            return Err(ApiError::UploadNotFound);
        }
        Err(Assembly::Wrong(answer)) => {
            discard(state, &open, &tx).await?;
            tx.commit().await.map_err(DbError::from)?;
            return Err(answer);
        }
        Err(Assembly::KeyTaken) => {
            // The object at the key is not this upload's, recorded yet or not: keep it.
            super::forget_upload(state, &open, &tx).await?;
            tx.commit().await.map_err(DbError::from)?;
            tracing::warn!(upload_id = %open.id, key = %open.s3_key, "multipart upload discarded: another file took its key");
            return Err(ApiError::UploadKeyTaken);
        }
    }
    let (media_type, etag) = match check_object(state, &open).await? {
        Ok(checked) => checked,
        Err(answer) => {
            discard(state, &open, &tx).await?;
            tx.commit().await.map_err(DbError::from)?;
            return Err(answer);
        }
    };
    let object = S3Object::new(
        state.storage().clone(),
        open.s3_key.clone(),
        Some(etag),
        plan.file_size,
    );
    let analysis = analysis::analyze(media_type.mime, Arc::new(object), &open.file_name).await;
    let file_url = state.file_url(&open.s3_key);
    let recorded_size = i32::try_from(open.file_size).ok();
    let new = NewMedia {
        id: open.id,
        event_id,
        title: open.title.as_deref(),
        description: open.description.as_deref(),
        file_url: &file_url,
        s3_key: &open.s3_key,
        file_type: media_type.mime,
        file_size: recorded_size.unwrap_or(0),
        tags: &open.tags,
        original_filename: &open.file_name,
        created_at: Utc::now(),
        analysis,
    };
    let zone = match open.zone_id {
        Some(zone_id) => Zone::Join(zone_id),
        None => Zone::Own(Uuid::new_v4()),
    };
    let Some(mut row) = media::insert_in(&tx, shape, &new, zone).await? else {
        // The zone it was to join was deleted meanwhile.
        discard(state, &open, &tx).await?;
        tx.commit().await.map_err(DbError::from)?;
        tracing::info!(upload_id = %open.id, %event_id, "multipart upload discarded: its zone is gone");
        return Err(ApiError::ZoneNotFound);
    };
    if recorded_size.is_none() {
        // The Plugs' event_media.file_size is a 32-bit integer: a file of 2 GiB or more is
        // recorded without it (its size is the object's) rather than with a wrong one.
        clear_file_size(&tx, row.id).await?;
        row.file_size = None;
    }
    multipart_uploads::delete(&tx, open.id).await?;
    tx.commit().await.map_err(DbError::from)?;
    tracing::info!(media_id = %row.id, %event_id, key = %open.s3_key, size = open.file_size, "multipart upload completed");
    Ok(json_response(201, &MediaJson::new(row, &links)))
}

/// The body's parts: every part of the plan, each once, in order (S3 wants ascending part
/// numbers), their ETags quoted as S3 lists them.
fn named_parts(body: Complete, plan: &PartPlan) -> Result<Vec<PartToComplete>, ApiError> {
    if body.parts.is_empty() || body.parts.len() as u64 > MAX_PARTS {
        return Err(ApiError::validation(
            &["body", "parts"],
            format!("between 1 and {MAX_PARTS} parts"),
        ));
    }
    let mut parts = Vec::with_capacity(body.parts.len());
    for (index, part) in body.parts.into_iter().enumerate() {
        let index = index.to_string();
        check_part_number(
            plan,
            part.part_number,
            &["body", "parts", &index, "part_number"],
        )?;
        let etag = part.etag.trim().trim_matches('"');
        if etag.is_empty() || !etag.bytes().all(|b| b.is_ascii_graphic() && b != b'"') {
            return Err(ApiError::validation(
                &["body", "parts", &index, "etag"],
                "must be the ETag S3 answered for the part",
            ));
        }
        parts.push(PartToComplete {
            part_number: part.part_number,
            etag: format!("\"{etag}\""),
        });
    }
    parts.sort_by_key(|p| p.part_number);
    let numbers: Vec<i32> = parts.iter().map(|p| p.part_number).collect();
    if numbers != (1..=plan.part_count()).collect::<Vec<_>>() {
        return Err(ApiError::validation(
            &["body", "parts"],
            format!(
                "name each of the upload's {} parts once, with the ETag S3 answered for it",
                plan.part_count()
            ),
        ));
    }
    Ok(parts)
}

/// What keeps S3 from assembling the file.
enum Assembly {
    /// The parts named are not the parts S3 holds: nothing changed.
    Refused(ApiError),
    /// S3 no longer holds the upload and no object was made from it.
    Gone,
    /// The parts S3 holds do not make the declared file: discard it.
    Wrong(Discard),
    /// Another file is at the key (S3 refused to assemble over it): the upload can never
    /// complete there, so discard it, leaving that file alone.
    KeyTaken,
}

impl From<StorageError> for Assembly {
    fn from(err: StorageError) -> Self {
        Self::Refused(err.into())
    }
}

/// Checks the parts against S3's listing, then has S3 assemble them. An upload S3 already
/// assembled (a complete that failed after it) counts as assembled: the object is checked next.
async fn assemble(
    state: &AppState,
    open: &MultipartUpload,
    parts: &[PartToComplete],
) -> Result<(), Assembly> {
    let storage = state.storage();
    let held = match storage.list_parts(&open.s3_key, &open.s3_upload_id).await {
        Ok(held) => held,
        Err(MultipartError::NoSuchUpload) => return already_assembled(state, open).await,
        Err(err) => return Err(Assembly::Refused(err.into())),
    };
    check_parts(parts, &held, open.file_size as u64)?;
    match storage
        .complete_multipart(&open.s3_key, &open.s3_upload_id, parts)
        .await
    {
        Ok(()) => Ok(()),
        Err(MultipartError::NoSuchUpload) => already_assembled(state, open).await,
        Err(MultipartError::Storage(StorageError::AlreadyExists)) => {
            taken_or_assembled(state, open).await
        }
        // InvalidParts: a part sent again between the listing and S3's complete.
        Err(err) => Err(Assembly::Refused(err.into())),
    }
}

/// S3 refused to assemble over an existing object. If the upload is gone, the object is its
/// own (an earlier attempt of this complete assembled it and the answer was lost); if the
/// upload is still open, another file took the key.
async fn taken_or_assembled(state: &AppState, open: &MultipartUpload) -> Result<(), Assembly> {
    match state
        .storage()
        .list_parts(&open.s3_key, &open.s3_upload_id)
        .await
    {
        Ok(_) => Err(Assembly::KeyTaken),
        Err(MultipartError::NoSuchUpload) => already_assembled(state, open).await,
        Err(err) => Err(Assembly::Refused(err.into())),
    }
}

/// S3 holds no upload: assembled already if its object is there, else gone.
async fn already_assembled(state: &AppState, open: &MultipartUpload) -> Result<(), Assembly> {
    match state.storage().info(&open.s3_key).await {
        Ok(_) => Ok(()),
        Err(StorageError::NotFound) => Err(Assembly::Gone),
        Err(err) => Err(err.into()),
    }
}

/// Each named part must be one S3 holds, with that ETag; together they must make the
/// declared size, or the upload cannot make the declared file.
fn check_parts(
    parts: &[PartToComplete],
    held: &[UploadedPart],
    declared: u64,
) -> Result<(), Assembly> {
    let held: HashMap<i32, &UploadedPart> = held.iter().map(|p| (p.part_number, p)).collect();
    let mut total = 0u64;
    for part in parts {
        let Some(found) = held.get(&part.part_number) else {
            return Err(Assembly::Refused(ApiError::InvalidPart(format!(
                "part {} has not arrived: upload it, then complete again",
                part.part_number
            ))));
        };
        if found.etag.trim_matches('"') != part.etag.trim_matches('"') {
            return Err(Assembly::Refused(ApiError::InvalidPart(format!(
                "part {}'s ETag is not the one S3 holds for this upload (a part of another \
                 upload, or one sent again since): list the parts and complete with theirs",
                part.part_number
            ))));
        }
        total += found.size;
    }
    if total != declared {
        return Err(Assembly::Wrong(size_mismatch(total, declared)));
    }
    Ok(())
}

fn size_mismatch(found: u64, declared: u64) -> ApiError {
    ApiError::UploadMismatch(format!(
        "the uploaded parts hold {found} bytes, {declared} were declared; the upload was \
         aborted: create a new one"
    ))
}

/// The assembled object must have the declared size and start like the declared type (the
/// type check every upload gets, on its first 8 KiB). Answers the type and the ETag of the
/// checked version, or why the object must be discarded.
async fn check_object(
    state: &AppState,
    open: &MultipartUpload,
) -> Result<Result<(&'static MediaType, String), Discard>, ApiError> {
    let storage = state.storage();
    let info = storage.info(&open.s3_key).await.map_err(ApiError::from)?;
    let etag = info
        .etag
        .ok_or_else(|| StorageError::Other("HEAD answered no ETag".into()))
        .map_err(ApiError::from)?;
    if info.size != open.file_size as u64 {
        return Ok(Err(size_mismatch(info.size, open.file_size as u64)));
    }
    let head = storage
        .read_prefix(&open.s3_key, &etag, SNIFF_BYTES as u64)
        .await
        .map_err(ApiError::from)?;
    let declared = MediaType::by_mime(&open.content_type);
    Ok(match detect(&head, &open.file_name) {
        Ok(found) if Some(found) == declared => Ok((found, etag)),
        Ok(found) => Err(ApiError::UnsupportedMediaType(format!(
            "the uploaded file is {}, but {} was declared; it was discarded",
            found.mime, open.content_type
        ))),
        Err(rejected) => Err(rejected.into()),
    })
}

/// Removes what the upload made (its parts or its object) and its row, in `tx`: the caller
/// commits, then answers why.
async fn discard(
    state: &AppState,
    open: &MultipartUpload,
    tx: &impl Unnamed,
) -> Result<(), ApiError> {
    super::forget(state, open, tx).await?;
    tracing::info!(upload_id = %open.id, key = %open.s3_key, "multipart upload discarded");
    Ok(())
}

/// Clears the size of a row just written (see the caller).
async fn clear_file_size(tx: &impl Unnamed, media_id: Uuid) -> Result<(), DbError> {
    tx.execute_unnamed(
        "update event_media set file_size = null where id = $1",
        &[&media_id],
    )
    .await?;
    Ok(())
}
