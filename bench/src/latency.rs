//! Warm latency of every endpoint, in-process through the path Lambda takes
//! (`shared::edge::serve` + `shared::api::<endpoint>::handle` on a `lambda_http::Request` made
//! from the `events/` fixtures), each next to its floor: the same I/O done bare, with the same
//! pool and the same S3 client. Endpoint and floor iterations alternate (and swap order every
//! iteration), so the machine's noise lands on both alike. The call is `test_support::serve`,
//! the same dispatch the integration tests use.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use bytes::Bytes;
use chrono::Utc;
use lambda_http::Request;
use shared::db::{events, media, pending_uploads, zones};
use shared::storage::ObjectMetadata;
use test_support::{Endpoint, serve};
use uuid::Uuid;

use crate::stats::Samples;
use crate::world::{self, MIB, World};

pub struct Iterations {
    pub warm_up: usize,
    pub measured: usize,
}

/// One endpoint's timings and its floor's.
pub struct Measured {
    pub name: &'static str,
    pub endpoint: Samples,
    pub floor: Samples,
    pub floor_is: &'static str,
    /// The largest acceptable p50 ratio to the floor, where the project set one.
    pub target: Option<f64>,
    /// Extra reference timings measured alongside (name, samples).
    pub also: Vec<(&'static str, Samples)>,
}

type Timed<'a> = Pin<Box<dyn Future<Output = Result<Duration>> + 'a>>;
/// One iteration: untimed preparation inside, returns the time of the part that counts.
type Op<'a> = Box<dyn FnMut() -> Timed<'a> + 'a>;

/// Runs `ops` in turn, rotating which goes first, and collects each one's timings.
async fn measure(iterations: &Iterations, ops: &mut [Op<'_>]) -> Result<Vec<Samples>> {
    let mut samples = vec![Samples::default(); ops.len()];
    let n = ops.len();
    for i in 0..iterations.warm_up + iterations.measured {
        for j in 0..n {
            let k = (i + j) % n;
            let took = (ops[k])().await?;
            if i >= iterations.warm_up {
                samples[k].push(took);
            }
        }
    }
    Ok(samples)
}

/// An op that calls `endpoint` with `make()`'s request and expects `status`.
fn endpoint_op<'a>(
    world: &'a World,
    endpoint: Endpoint,
    status: u16,
    what: &'static str,
    mut make: impl FnMut() -> Request + 'a,
) -> Op<'a> {
    Box::new(move || {
        let request = make();
        Box::pin(async move {
            let start = Instant::now();
            let response = serve(&world.state, endpoint, request).await;
            let took = start.elapsed();
            world::expect_status(&response, status, what)?;
            Ok(took)
        })
    })
}

/// An op timing `work`.
fn floor_op<'a, F, Fut>(mut work: F) -> Op<'a>
where
    F: FnMut() -> Fut + 'a,
    Fut: Future<Output = Result<()>> + 'a,
{
    Box::new(move || {
        let fut = work();
        Box::pin(async move {
            let start = Instant::now();
            fut.await?;
            Ok(start.elapsed())
        })
    })
}

/// The ownership check of the endpoints that address an event: the pool checkout and the
/// statement the endpoint runs.
async fn owned_event(world: &World, event_id: Uuid) -> Result<shared::db::Client> {
    let client = world.state.db.get().await?;
    anyhow::ensure!(
        events::access(&client, event_id, world.user_id).await? == events::Access::Owner
    );
    Ok(client)
}

/// The ownership + item lookup of the endpoints that address one media item.
async fn owned_item(
    world: &World,
    event_id: Uuid,
    media_id: Uuid,
) -> Result<(media::MediaRow, shared::db::Client)> {
    let client = world.state.db.get().await?;
    let shape = world.state.db.shape(&client).await?;
    match media::find_owned(&client, shape, event_id, media_id, world.user_id).await? {
        media::Lookup::Found(row) => Ok((*row, client)),
        _ => anyhow::bail!("the media item is missing"),
    }
}

/// A presigned GET of `key` with the SDK alone, with the same response overrides.
async fn bare_presign(world: &World, key: &str) -> Result<String> {
    let request = world
        .state
        .storage()
        .client()
        .get_object()
        .bucket(world.state.storage().bucket())
        .key(key)
        .response_content_disposition(
            "attachment; filename=\"photo.jpg\"; filename*=UTF-8''photo.jpg",
        )
        .response_content_type("image/jpeg")
        .presigned(PresigningConfig::expires_in(
            world.state.config.presigned_url_ttl,
        )?)
        .await?;
    Ok(request.uri().to_owned())
}

async fn bare_get(world: &World, key: &str) -> Result<Bytes> {
    let output = world
        .state
        .storage()
        .client()
        .get_object()
        .bucket(world.state.storage().bucket())
        .key(key)
        .send()
        .await?;
    Ok(output.body.collect().await?.into_bytes())
}

/// PutObject as the upload writes it: type, SSE, metadata, never overwriting.
async fn bare_put(world: &World, event_id: Uuid, bytes: Bytes) -> Result<String> {
    let key = shared::keys::event_media_key(event_id, Utc::now(), "jpg");
    world
        .state
        .storage()
        .client()
        .put_object()
        .bucket(world.state.storage().bucket())
        .key(key.as_str())
        .body(ByteStream::from(bytes))
        .content_type("image/jpeg")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .metadata("event_id", event_id.to_string())
        .metadata("user_id", world.user_id.to_string())
        .metadata("original_filename", "photo.jpg")
        .if_none_match("*")
        .send()
        .await?;
    Ok(key.as_str().to_owned())
}

async fn insert_row(
    world: &World,
    client: &impl shared::db::Unnamed,
    event_id: Uuid,
    key: &str,
    size: usize,
) -> Result<()> {
    let shape = world.state.db.shape(client).await?;
    media::insert(
        client,
        shape,
        &media::NewMedia {
            id: Uuid::new_v4(),
            event_id,
            title: Some("Benchmark"),
            description: None,
            file_url: &world.state.file_url(key),
            s3_key: key,
            file_type: "image/jpeg",
            file_size: i32::try_from(size)?,
            tags: "photo, event",
            original_filename: "photo.jpg",
            created_at: Utc::now(),
            analysis: None,
        },
    )
    .await?;
    Ok(())
}

/// Every endpoint whose name contains `only` (all of them for "").
pub async fn run(world: &World, it: &Iterations, only: &str) -> Result<Vec<Measured>> {
    let mut out = Vec::new();
    let w = world;
    let wanted = |name: &str| name.contains(only);

    for (name, event_id, target) in [
        ("list (10 rows)", w.event_10, None),
        ("list (100 rows)", w.event_100, Some(1.3)),
    ] {
        if !wanted(name) {
            continue;
        }
        let text = w.request_text(("list-media", "list-all"), event_id, Uuid::nil());
        let mut ops = [
            endpoint_op(w, Endpoint::ListMedia, 200, name, move || {
                text.parse_request()
            }),
            floor_op(move || async move {
                let client = owned_event(w, event_id).await?;
                let shape = w.state.db.shape(&client).await?;
                let filter = media::TypeFilter::Any;
                media::list(&client, shape, event_id, &filter, 0, 100).await?;
                Ok(())
            }),
        ];
        let [endpoint, floor] = take2(measure(it, &mut ops).await.context(name)?);
        out.push(Measured {
            name,
            endpoint,
            floor,
            floor_is: "pool checkout + ownership query + page and count queries",
            target,
            also: vec![],
        });
    }

    if wanted("grouped (100 rows)") {
        let name = "grouped (100 rows)";
        let text = w.request_text(("list-zones", "list-grouped"), w.event_100, Uuid::nil());
        let mut ops = [
            endpoint_op(w, Endpoint::ListZones, 200, name, move || {
                text.parse_request()
            }),
            floor_op(move || async move {
                let client = owned_event(w, w.event_100).await?;
                let shape = w.state.db.shape(&client).await?;
                let pattern = media::TypeFilter::Prefix("image/".into()).like_pattern();
                zones::list(&client, shape, w.event_100, &pattern, 0, 100, 100).await?;
                Ok(())
            }),
        ];
        let [endpoint, floor] = take2(measure(it, &mut ops).await.context(name)?);
        out.push(Measured {
            name,
            endpoint,
            floor,
            floor_is: "pool checkout + ownership query + the grouped page and totals query",
            target: None,
            also: vec![],
        });
    }

    if wanted("get") {
        let text = w.request_text(("get-media", "get-one"), w.event, w.inline_media);
        let mut ops = [
            endpoint_op(w, Endpoint::GetMedia, 200, "get", move || {
                text.parse_request()
            }),
            floor_op(move || async move {
                let _found = owned_item(w, w.event, w.inline_media).await?;
                Ok(())
            }),
        ];
        let [endpoint, floor] = take2(measure(it, &mut ops).await.context("get")?);
        out.push(Measured {
            name: "get",
            endpoint,
            floor,
            floor_is: "pool checkout + ownership/item query",
            target: Some(1.3),
            also: vec![],
        });
    }

    if wanted("download inline") {
        let text = w.request_text(("download-media", "download"), w.event, w.inline_media);
        let mut ops = [
            endpoint_op(
                w,
                Endpoint::DownloadMedia,
                200,
                "download inline",
                move || text.parse_request(),
            ),
            floor_op(move || async move {
                let (row, client) = owned_item(w, w.event, w.inline_media).await?;
                drop(client);
                let bytes = bare_get(w, row.s3_key.as_deref().unwrap_or_default()).await?;
                anyhow::ensure!(bytes.len() == MIB);
                Ok(())
            }),
        ];
        let [endpoint, floor] = take2(measure(it, &mut ops).await.context("download inline")?);
        out.push(Measured {
            name: "download inline (1 MiB)",
            endpoint,
            floor,
            floor_is: "pool checkout + ownership/item query + GetObject 1 MiB",
            target: None,
            also: vec![],
        });
    }

    for (name, fixture, endpoint) in [
        (
            "download redirect (5 MiB)",
            ("download-media", "download"),
            Endpoint::DownloadMedia,
        ),
        (
            "stream redirect",
            ("stream-media", "stream"),
            Endpoint::StreamMedia,
        ),
    ] {
        if !wanted(name) {
            continue;
        }
        let text = w.request_text(fixture, w.event, w.large_media);
        let mut ops = [
            endpoint_op(w, endpoint, 302, name, move || text.parse_request()),
            floor_op(move || async move {
                let (row, client) = owned_item(w, w.event, w.large_media).await?;
                drop(client);
                bare_presign(w, row.s3_key.as_deref().unwrap_or_default()).await?;
                Ok(())
            }),
        ];
        let [endpoint, floor] = take2(measure(it, &mut ops).await.context(name)?);
        out.push(Measured {
            name,
            endpoint,
            floor,
            floor_is: "pool checkout + ownership/item query + presign GET (SDK)",
            target: Some(1.2),
            also: vec![],
        });
    }

    if wanted("delete") {
        // Each delete needs an item of its own: made before the clock starts.
        let mut ops = [
            Box::new(move || -> Timed<'_> {
                Box::pin(async move {
                    let (id, _) = w.put_media(w.event, 1024).await?;
                    let request = w.request(("delete-media", "delete"), w.event, id);
                    let start = Instant::now();
                    let response = serve(&w.state, Endpoint::DeleteMedia, request).await;
                    let took = start.elapsed();
                    world::expect_status(&response, 204, "delete")?;
                    Ok(took)
                })
            }) as Op<'_>,
            Box::new(move || -> Timed<'_> {
                Box::pin(async move {
                    let (id, _) = w.put_media(w.event, 1024).await?;
                    let start = Instant::now();
                    let (row, mut client) = owned_item(w, w.event, id).await?;
                    let shape = w.state.db.shape(&client).await?;
                    w.state
                        .storage()
                        .client()
                        .delete_object()
                        .bucket(w.state.storage().bucket())
                        .key(row.s3_key.as_deref().unwrap_or_default())
                        .send()
                        .await?;
                    anyhow::ensure!(media::delete(&mut client, shape, row.id).await?);
                    Ok(start.elapsed())
                })
            }),
        ];
        let [endpoint, floor] = take2(measure(it, &mut ops).await.context("delete")?);
        out.push(Measured {
            name: "delete",
            endpoint,
            floor,
            floor_is: "pool checkout + ownership/item query + DeleteObject + delete statement",
            target: None,
            also: vec![],
        });
    }

    for (name, size, target) in [
        ("upload (1 MiB)", MIB, None),
        ("upload (4 MiB)", 4 * MIB, Some(1.15)),
    ] {
        if !wanted(name) {
            continue;
        }
        let file = world::jpeg(size);
        let form = world::multipart(&file);
        let file = Bytes::from(file);
        let text = w.request_text(("upload-media", "upload-photo"), w.event, Uuid::nil());
        let put_only = file.clone();
        let mut ops = [
            endpoint_op(w, Endpoint::UploadMedia, 201, name, move || {
                world::with_form(text.parse_request(), form.clone())
            }),
            floor_op({
                let file = file.clone();
                move || {
                    let file = file.clone();
                    async move {
                        let client = owned_event(w, w.event).await?;
                        let key = bare_put(w, w.event, file).await?;
                        insert_row(w, &client, w.event, &key, size).await
                    }
                }
            }),
            floor_op(move || {
                let file = put_only.clone();
                async move {
                    bare_put(w, w.event, file).await?;
                    Ok(())
                }
            }),
        ];
        let mut samples = measure(it, &mut ops).await.context(name)?;
        let put = samples.pop().expect("three ops");
        let [endpoint, floor] = take2(samples);
        out.push(Measured {
            name,
            endpoint,
            floor,
            floor_is: "pool checkout + ownership query + PutObject (same bytes, SSE, metadata, If-None-Match) + insert",
            target,
            also: vec![("PutObject alone", put)],
        });
    }

    if wanted("add-zone-files") {
        let name = "add-zone-files (4 × 256 KiB)";
        let file = world::jpeg(256 * 1024);
        let parts: Vec<_> = (0..4)
            .map(|_| test_support::Part::file("files", "photo.jpg", &file).typed("image/jpeg"))
            .collect();
        let form = test_support::fixtures::multipart_body(&parts, &[]);
        let zone = zone_of(w, w.inline_media).await?;
        let text = w.request_text(("add-zone-files", "add-photos"), w.event, zone);
        let file = Bytes::from(file);
        let mut ops = [
            endpoint_op(w, Endpoint::AddZoneFiles, 201, name, move || {
                world::with_form(text.parse_request(), form.clone())
            }),
            floor_op(move || {
                let file = file.clone();
                async move {
                    let client = owned_event(w, w.event).await?;
                    for _ in 0..4 {
                        let key = bare_put(w, w.event, file.clone()).await?;
                        insert_row(w, &client, w.event, &key, file.len()).await?;
                    }
                    Ok(())
                }
            }),
        ];
        let [endpoint, floor] = take2(measure(it, &mut ops).await.context(name)?);
        out.push(Measured {
            name,
            endpoint,
            floor,
            floor_is: "pool checkout + ownership query + 4 × (PutObject + insert with a zone of its own)",
            target: None,
            also: vec![],
        });
    }

    if wanted("create-upload") {
        let text = w.request_text(
            ("create-upload", "create-video-upload"),
            w.event,
            Uuid::nil(),
        );
        let mut ops = [
            endpoint_op(w, Endpoint::CreateUpload, 201, "create-upload", move || {
                text.parse_request()
            }),
            floor_op(move || async move {
                let client = owned_event(w, w.event).await?;
                let pending = pending(w, 12 * MIB as i64, "video/mp4", "mp4");
                w.state
                    .storage()
                    .presigned_put(
                        &pending.temp_key,
                        declared(w, &pending),
                        w.state.config.upload_url_ttl,
                    )
                    .await?;
                pending_uploads::insert(&client, &pending).await?;
                Ok(())
            }),
        ];
        let [endpoint, floor] = take2(measure(it, &mut ops).await.context("create-upload")?);
        out.push(Measured {
            name: "create-upload",
            endpoint,
            floor,
            floor_is: "pool checkout + ownership query + presign PUT + insert",
            target: None,
            also: vec![],
        });
    }

    if wanted("complete-upload") {
        // Each complete needs a pending upload whose file has arrived: made before the clock starts.
        const ARRIVED: usize = 64 * 1024;
        let mut ops = [
            Box::new(move || -> Timed<'_> {
                Box::pin(async move {
                    let pending = arrived_upload(w, ARRIVED).await?;
                    let request = w.request(("complete-upload", "complete"), w.event, pending.id);
                    let start = Instant::now();
                    let response = serve(&w.state, Endpoint::CompleteUpload, request).await;
                    let took = start.elapsed();
                    world::expect_status(&response, 201, "complete-upload")?;
                    Ok(took)
                })
            }) as Op<'_>,
            Box::new(move || -> Timed<'_> {
                Box::pin(async move {
                    let pending = arrived_upload(w, ARRIVED).await?;
                    let start = Instant::now();
                    bare_complete(w, &pending).await?;
                    Ok(start.elapsed())
                })
            }),
        ];
        let [endpoint, floor] = take2(measure(it, &mut ops).await.context("complete-upload")?);
        out.push(Measured {
        name: "complete-upload (64 KiB)",
        endpoint,
        floor,
        floor_is: "pool checkout + ownership query + begin/lock + HeadObject + ranged GetObject + CopyObject + insert + delete + commit + DeleteObject",
        target: None,
        also: vec![],
    });
    }

    Ok(out)
}

/// The zone of a media item: its `batch_id`, or on the seed era the item itself.
async fn zone_of(world: &World, media_id: Uuid) -> Result<Uuid> {
    let client = world.state.db.get().await?;
    let shape = world.state.db.shape(&client).await?;
    let row = media::find_in_event(&client, shape, world.event, media_id)
        .await?
        .context("the media item is gone")?;
    Ok(row.batch_id.unwrap_or(row.id))
}

fn take2(samples: Vec<Samples>) -> [Samples; 2] {
    samples.try_into().expect("two ops")
}

fn pending(
    world: &World,
    size: i64,
    content_type: &str,
    ext: &str,
) -> pending_uploads::PendingUpload {
    let now = Utc::now();
    pending_uploads::PendingUpload {
        id: Uuid::new_v4(),
        event_id: world.event,
        user_id: world.user_id,
        file_name: format!("clip.{ext}"),
        content_type: content_type.into(),
        file_size: size,
        checksum_md5: None,
        title: Some("Benchmark".into()),
        description: None,
        tags: "video, keynote".into(),
        temp_key: shared::keys::temp_key(now, ext).as_str().to_owned(),
        created_at: now,
        expires_at: now + world.state.config.upload_url_ttl,
        zone_id: None,
        batch_id: None,
    }
}

fn declared(
    world: &World,
    pending: &pending_uploads::PendingUpload,
) -> shared::storage::DeclaredFile {
    shared::storage::DeclaredFile {
        size: pending.file_size as u64,
        content_type: pending.content_type.clone(),
        md5_base64: None,
        metadata: ObjectMetadata {
            event_id: pending.event_id.to_string(),
            user_id: world.user_id.to_string(),
            original_filename: pending.file_name.clone(),
        },
    }
}

/// A pending JPEG upload whose bytes are already under its temp key.
async fn arrived_upload(world: &World, size: usize) -> Result<pending_uploads::PendingUpload> {
    let pending = pending(world, size as i64, "image/jpeg", "jpg");
    let client = world.state.db.get().await?;
    pending_uploads::insert(&client, &pending).await?;
    world
        .state
        .storage()
        .put_new(
            &pending.temp_key,
            world::jpeg(size).into(),
            "image/jpeg",
            declared(world, &pending).metadata,
        )
        .await?;
    Ok(pending)
}

/// complete-upload's I/O, bare: the statements it runs and the S3 calls it makes, in order.
async fn bare_complete(world: &World, pending: &pending_uploads::PendingUpload) -> Result<()> {
    let s3 = world.state.storage().client();
    let bucket = world.state.storage().bucket();
    let mut client = owned_event(world, world.event).await?;
    let tx = client.transaction().await?;
    let locked = pending_uploads::lock(&tx, world.event, pending.id)
        .await?
        .context("the pending upload is there")?;
    s3.head_object()
        .bucket(bucket)
        .key(&locked.temp_key)
        .send()
        .await?;
    s3.get_object()
        .bucket(bucket)
        .key(&locked.temp_key)
        .range("bytes=0-8191")
        .send()
        .await?
        .body
        .collect()
        .await?;
    let key = shared::keys::event_media_key(world.event, locked.created_at, "jpg");
    s3.copy_object()
        .bucket(bucket)
        .key(key.as_str())
        .copy_source(format!("{bucket}/{}", locked.temp_key))
        .server_side_encryption(ServerSideEncryption::Aes256)
        .if_none_match("*")
        .send()
        .await?;
    insert_row(
        world,
        &tx,
        world.event,
        key.as_str(),
        locked.file_size as usize,
    )
    .await?;
    pending_uploads::delete(&tx, locked.id).await?;
    tx.commit().await?;
    s3.delete_object()
        .bucket(bucket)
        .key(&locked.temp_key)
        .send()
        .await?;
    Ok(())
}

/// The cost of taking a connection from the pool alone (a verified recycle is a round trip):
/// part of every floor above.
pub async fn pool_checkout(world: &World, it: &Iterations) -> Result<Samples> {
    let mut ops = [floor_op(move || async move {
        drop(world.state.db.get().await?);
        Ok(())
    })];
    Ok(measure(it, &mut ops).await?.remove(0))
}
