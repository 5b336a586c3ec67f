use bytes::Bytes;
use shared::storage::{ObjectMetadata, StorageError, StoredAs};

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
