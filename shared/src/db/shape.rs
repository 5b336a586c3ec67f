//! Which of The Plugs' schemas the database has. The Plugs' Alembic revision `7a9d6f4f8420`
//! moved each media item's title, description and tags into a zone of its own
//! (`event_media_zones`, pointed at by `event_media.zone_id`) and dropped those columns from
//! `event_media`. Both shapes are served: the SQL of [`super::media`] is written per shape.

use std::sync::OnceLock;

use super::Unnamed;

/// The shape of `event_media`, read from the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Before `7a9d6f4f8420`: `event_media` holds `title`, `description` and `tags`; there
    /// are no zones, so a media item's zone is the item itself and its `batch_id` is null.
    Seed,
    /// From `7a9d6f4f8420` on: the metadata lives in `event_media_zones`; every media row
    /// points at its zone through `zone_id` (and `batch_id`, which The Plugs keeps equal).
    Current,
}

/// `zone_id` on `event_media` is what `7a9d6f4f8420` added; its presence is the shape.
pub async fn detect(client: &impl Unnamed) -> Result<Shape, tokio_postgres::Error> {
    let has_zones: bool = client
        .query_one_unnamed(
            "select exists (select 1 from information_schema.columns \
             where table_schema = current_schema() and table_name = 'event_media' \
             and column_name = 'zone_id')",
            &[],
        )
        .await?
        .get(0);
    Ok(if has_zones {
        Shape::Current
    } else {
        Shape::Seed
    })
}

/// The shape detected once and kept for the container's life: a schema change in The Plugs
/// comes with a deploy, and a new deploy starts new containers.
#[derive(Debug, Default)]
pub struct KnownShape(OnceLock<Shape>);

impl KnownShape {
    /// The kept shape, read from the catalog on first use (two first uses at once both read
    /// it and find the same).
    pub async fn get(&self, client: &impl Unnamed) -> Result<Shape, tokio_postgres::Error> {
        if let Some(shape) = self.0.get() {
            return Ok(*shape);
        }
        let shape = detect(client).await?;
        tracing::info!(?shape, "database shape detected");
        Ok(*self.0.get_or_init(|| shape))
    }
}
