//! The zone (album) JSON of The Plugs' zone endpoints, the same in the grouped list and for
//! one zone: the zone's metadata, its files (`id` and `file_url`) and how many there are.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::split_tags;
use crate::db::zones::{ZoneFile, ZoneRow};

/// One zone. `media_files` may hold fewer files than `file_count` counts (see the endpoints'
/// bounds); they are the zone's oldest first.
#[derive(Debug, Serialize)]
pub struct ZoneJson {
    pub zone_id: Uuid,
    pub title: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub media_files: Vec<FileJson>,
    pub file_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct FileJson {
    pub id: Uuid,
    pub file_url: String,
}

impl ZoneJson {
    pub fn new(zone: ZoneRow, file_count: i64, files: Vec<ZoneFile>) -> Self {
        Self {
            zone_id: zone.id,
            tags: split_tags(zone.tags.as_deref().unwrap_or("")),
            updated_at: zone.updated_at.unwrap_or(zone.created_at),
            title: zone.title,
            description: zone.description,
            media_files: files
                .into_iter()
                .map(|f| FileJson {
                    id: f.id,
                    file_url: f.file_url,
                })
                .collect(),
            file_count,
            created_at: zone.created_at,
        }
    }
}

/// The answer of an edit: the zone's metadata without its files.
#[derive(Debug, Serialize)]
pub struct ZoneEdited {
    pub zone_id: Uuid,
    pub title: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub file_count: i64,
    pub updated_at: DateTime<Utc>,
}

impl ZoneEdited {
    pub fn new(zone: ZoneRow, file_count: i64) -> Self {
        Self {
            zone_id: zone.id,
            tags: split_tags(zone.tags.as_deref().unwrap_or("")),
            updated_at: zone.updated_at.unwrap_or(zone.created_at),
            title: zone.title,
            description: zone.description,
            file_count,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::upload_form::{
        MAX_DESCRIPTION_CHARS, MAX_TAG_CHARS, MAX_TAGS, MAX_TITLE_CHARS,
    };

    /// A zone with every field at its limit in the characters that grow most on the way out
    /// (`"` costs 4 bytes in Lambda's response JSON, an emoji too), and `files` files whose
    /// URLs are at their column's limit (512).
    pub(crate) fn largest_zone(n: u32, files: usize) -> ZoneJson {
        let created_at =
            chrono::DateTime::from_timestamp(1_700_000_000 - i64::from(n), 999_999_000).unwrap();
        let zone = ZoneRow {
            id: Uuid::from_u128(u128::from(n)),
            event_id: Uuid::nil(),
            title: Some("😀".repeat(MAX_TITLE_CHARS)),
            description: Some("\"".repeat(MAX_DESCRIPTION_CHARS)),
            tags: Some(vec!["\"".repeat(MAX_TAG_CHARS); MAX_TAGS].join(", ")),
            created_at,
            updated_at: Some(created_at),
        };
        let files = (0..files)
            .map(|i| ZoneFile {
                id: Uuid::from_u128(i as u128),
                file_url: "\"".repeat(512),
            })
            .collect();
        ZoneJson::new(zone, i64::MAX, files)
    }
}
