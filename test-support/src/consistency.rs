//! What a failure may never leave behind, checked the same way everywhere: the bucket and
//! the rows agree. Objects under `events/` are exactly the live rows' keys and preview
//! variants of live rows, every object under `temp/` belongs to a pending upload, and every
//! object is encrypted at rest.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use shared::db;
use shared::storage::Storage;
use uuid::Uuid;

/// The rows and objects of one database and bucket at one moment; two snapshots are equal
/// when nothing was written in between.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Every object's key, sorted.
    pub objects: Vec<String>,
    /// Every media row: its id, its key, and whether it is soft-deleted.
    pub rows: BTreeSet<(Uuid, Option<String>, bool)>,
    /// The temp keys of the pending direct uploads.
    pub pending: BTreeSet<String>,
}

impl Snapshot {
    pub async fn take(client: &db::Client, storage: &Storage) -> Result<Self> {
        let rows = client
            .query("select id, s3_key, is_deleted from event_media", &[])
            .await
            .context("read the media rows")?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        let pending = client
            .query("select temp_key from media_pending_uploads", &[])
            .await
            .context("read the pending uploads")?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut objects: Vec<String> = storage
            .list("")
            .await
            .context("list the bucket")?
            .into_iter()
            .map(|o| o.key)
            .collect();
        objects.sort();
        Ok(Self {
            objects,
            rows,
            pending,
        })
    }

    /// The keys of the rows that are not deleted.
    pub fn live_keys(&self) -> BTreeSet<&str> {
        self.rows
            .iter()
            .filter(|(_, _, deleted)| !deleted)
            .filter_map(|(_, key, _)| key.as_deref())
            .collect()
    }

    fn objects_under(&self, prefix: &str) -> BTreeSet<&str> {
        self.objects
            .iter()
            .map(String::as_str)
            .filter(|k| k.starts_with(prefix))
            .collect()
    }

    /// Panics unless the bucket and the rows agree (see the module's comment); `storage`
    /// is asked for each object's encryption.
    pub async fn assert_consistent(&self, storage: &Storage) {
        let live_ids: BTreeSet<Uuid> = self
            .rows
            .iter()
            .filter(|(_, _, deleted)| !deleted)
            .map(|(id, _, _)| *id)
            .collect();
        let (variants, originals): (BTreeSet<&str>, BTreeSet<&str>) = self
            .objects_under("events/")
            .into_iter()
            .partition(|key| shared::keys::preview_media_id(key).is_some());
        assert_eq!(
            originals,
            self.live_keys(),
            "objects under events/ and live rows disagree"
        );
        let orphans: Vec<&str> = variants
            .into_iter()
            .filter(|key| {
                !shared::keys::preview_media_id(key).is_some_and(|id| live_ids.contains(&id))
            })
            .collect();
        assert!(
            orphans.is_empty(),
            "preview variants without a live row: {orphans:?}"
        );
        let temp = self.objects_under("temp/");
        let pending = self.pending.iter().map(String::as_str).collect();
        assert!(
            temp.is_subset(&pending),
            "temp objects without a pending upload: {temp:?}"
        );
        for key in &self.objects {
            let sse = storage
                .info(key)
                .await
                .unwrap_or_else(|e| panic!("HeadObject {key}: {e}"))
                .server_side_encryption;
            assert_eq!(sse.as_deref(), Some("AES256"), "{key} is not encrypted");
        }
    }
}
