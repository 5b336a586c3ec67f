use bytes::Bytes;
use shared::storage::{MultipartError, ObjectMetadata, PartToComplete, StorageError, StoredAs};

use crate::support::*;

#[tokio::test]
async fn put_new_never_overwrites_and_every_write_is_encrypted() {
    let app = TestApp::new().await;
    let storage = app.state.storage();
    let key = "temp/2024/01/01/120000_000001.txt";
    storage
        .put_new(
            key,
            Bytes::from_static(b"first"),
            "text/plain",
            ObjectMetadata::default(),
        )
        .await
        .unwrap();
    let second = storage
        .put_new(
            key,
            Bytes::from_static(b"second"),
            "text/plain",
            ObjectMetadata::default(),
        )
        .await;
    assert!(
        matches!(second, Err(StorageError::AlreadyExists)),
        "{second:?}"
    );
    assert_eq!(storage.download(key).await.unwrap().as_ref(), b"first");
    assert_eq!(
        storage
            .info(key)
            .await
            .unwrap()
            .server_side_encryption
            .as_deref(),
        Some("AES256")
    );

    let etag = storage.info(key).await.unwrap().etag.unwrap();
    let stored = StoredAs {
        content_type: "text/plain".into(),
        metadata: ObjectMetadata::default(),
    };
    storage
        .copy(key, &etag, "events/copy.txt", stored.clone())
        .await
        .unwrap();
    let copied = storage.info("events/copy.txt").await.unwrap();
    assert_eq!(copied.server_side_encryption.as_deref(), Some("AES256"));
    assert!(matches!(
        storage
            .copy(key, &etag, "events/copy.txt", stored.clone())
            .await,
        Err(StorageError::AlreadyExists)
    ));
}

#[tokio::test]
async fn reads_and_copies_pinned_to_an_etag_refuse_another_version() {
    let app = TestApp::new().await;
    let storage = app.state.storage();
    let key = "temp/2024/01/01/120000_000001.txt";
    let put = |body: &'static [u8]| {
        storage
            .client()
            .put_object()
            .bucket(storage.bucket())
            .key(key)
            .body(Bytes::from_static(body).into())
            .send()
    };
    put(b"checked").await.unwrap();
    let checked = storage.info(key).await.unwrap().etag.unwrap();
    assert_eq!(
        storage
            .read_prefix(key, &checked, 3)
            .await
            .unwrap()
            .as_ref(),
        b"che"
    );
    put(b"swapped").await.unwrap();
    let stored = StoredAs {
        content_type: "text/plain".into(),
        metadata: ObjectMetadata::default(),
    };
    assert!(matches!(
        storage.read_prefix(key, &checked, 3).await,
        Err(StorageError::SourceChanged)
    ));
    assert!(matches!(
        storage
            .copy(key, &checked, "events/a.txt", stored.clone())
            .await,
        Err(StorageError::SourceChanged)
    ));
    storage.delete(key).await.unwrap();
    assert!(matches!(
        storage.copy(key, &checked, "events/a.txt", stored).await,
        Err(StorageError::SourceChanged)
    ));
    assert!(storage.list("events/").await.unwrap().is_empty());
}

#[tokio::test]
async fn list_follows_continuation_tokens() {
    let app = TestApp::new().await;
    let storage = app.state.storage();
    // More than one page of ListObjectsV2 (1,000 keys).
    let keys: Vec<String> = (0..1005).map(|i| format!("temp/many/{i:05}.txt")).collect();
    for chunk in keys.chunks(50) {
        let writes = chunk.iter().map(|key| {
            storage.put_new(
                key,
                Bytes::from_static(b"x"),
                "text/plain",
                ObjectMetadata::default(),
            )
        });
        for result in futures_util::future::join_all(writes).await {
            result.unwrap();
        }
    }
    let listed = storage.list("temp/many/").await.unwrap();
    assert_eq!(listed.len(), 1005);
    assert!(storage.list("temp/none/").await.unwrap().is_empty());
}

#[tokio::test]
async fn missing_objects_and_buckets_map_to_distinct_errors() {
    let app = TestApp::new().await;
    assert!(matches!(
        app.state.storage().info("nope").await,
        Err(StorageError::NotFound)
    ));
    assert!(matches!(
        app.state.storage().download("nope").await,
        Err(StorageError::NotFound)
    ));
    let missing_bucket = format!("missing-{}", uuid::Uuid::new_v4().simple());
    let config = config(&app.database_url, &missing_bucket, &[]);
    let missing = shared::storage::Storage::from_config(&config).await;
    let probe = missing.probe().await;
    assert!(
        matches!(probe, Err(StorageError::BucketNotFound(_))),
        "{probe:?}"
    );
}

#[tokio::test]
async fn wrong_credentials_are_a_credentials_error() {
    let app = TestApp::new().await;
    let config = config(
        &app.database_url,
        app.state.storage().bucket(),
        &[("AWS_SECRET_ACCESS_KEY", "wrong-secret")],
    );
    let storage = shared::storage::Storage::from_config(&config).await;
    let probe = storage.probe().await;
    assert!(
        matches!(probe, Err(StorageError::Credentials(_))),
        "{probe:?}"
    );
}

#[tokio::test]
async fn put_variant_never_overwrites_and_the_first_variant_stays() {
    let app = TestApp::new().await;
    let storage = app.state.storage();
    let key = "events/1/previews/2/thumb.jpg";
    storage
        .put_variant(key, Bytes::from_static(b"first variant"), "image/jpeg", "2")
        .await
        .unwrap();
    let second = storage
        .put_variant(key, Bytes::from_static(b"second"), "image/jpeg", "2")
        .await;
    assert!(
        matches!(second, Err(StorageError::AlreadyExists)),
        "SeaweedFS must refuse the second write (412): {second:?}"
    );
    assert_eq!(
        storage.download(key).await.unwrap().as_ref(),
        b"first variant"
    );
}

#[tokio::test]
async fn a_multipart_complete_never_overwrites_an_object() {
    let app = TestApp::new().await;
    let storage = app.state.storage();
    let key = "events/1/2024/01/01/120000_000001.bin";
    storage
        .put_new(
            key,
            Bytes::from_static(b"already here"),
            "application/octet-stream",
            ObjectMetadata::default(),
        )
        .await
        .unwrap();
    let upload_id = storage
        .create_multipart(key, "application/octet-stream", ObjectMetadata::default())
        .await
        .unwrap();
    // One part is also the last, so any length is a valid part.
    let part = storage
        .client()
        .upload_part()
        .bucket(storage.bucket())
        .key(key)
        .upload_id(&upload_id)
        .part_number(1)
        .body(b"assembled later".to_vec().into())
        .send()
        .await
        .unwrap();
    let parts = [PartToComplete {
        part_number: 1,
        etag: part.e_tag().unwrap().to_owned(),
    }];
    let completed = storage.complete_multipart(key, &upload_id, &parts).await;
    assert!(
        matches!(
            completed,
            Err(MultipartError::Storage(StorageError::AlreadyExists))
        ),
        "SeaweedFS must refuse the complete over an object (412): {completed:?}"
    );
    assert_eq!(
        storage.download(key).await.unwrap().as_ref(),
        b"already here"
    );
    storage.abort_multipart(key, &upload_id).await.unwrap();
}
