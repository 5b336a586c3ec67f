//! Applies `migrations/*.sql` in order, once each, recorded in `plugs_media_migrations`.

use tokio_postgres::Client;

use super::{DbError, Unnamed};

/// Every migration, in order. A test checks this list against the `migrations/` folder.
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_plugs_base_tables",
        include_str!("../../../migrations/0001_plugs_base_tables.sql"),
    ),
    (
        "0002_event_media_s3_key",
        include_str!("../../../migrations/0002_event_media_s3_key.sql"),
    ),
    (
        "0003_widen_event_media_file_type",
        include_str!("../../../migrations/0003_widen_event_media_file_type.sql"),
    ),
    (
        "0004_event_media_original_filename",
        include_str!("../../../migrations/0004_event_media_original_filename.sql"),
    ),
    (
        "0005_event_media_listing_index",
        include_str!("../../../migrations/0005_event_media_listing_index.sql"),
    ),
    (
        "0006_media_pending_uploads",
        include_str!("../../../migrations/0006_media_pending_uploads.sql"),
    ),
    (
        "0007_event_media_zones",
        include_str!("../../../migrations/0007_event_media_zones.sql"),
    ),
    (
        "0008_pending_upload_zones",
        include_str!("../../../migrations/0008_pending_upload_zones.sql"),
    ),
    (
        "0009_event_media_analysis",
        include_str!("../../../migrations/0009_event_media_analysis.sql"),
    ),
    (
        "0010_media_multipart_uploads",
        include_str!("../../../migrations/0010_media_multipart_uploads.sql"),
    ),
    (
        "0011_media_preview_variants",
        include_str!("../../../migrations/0011_media_preview_variants.sql"),
    ),
];

/// An arbitrary constant that names this project's advisory lock.
const LOCK_ID: i64 = 0x706c_7567_736d_6564; // "plugsmed"

/// Applies what is missing and returns the names it applied.
pub async fn run(client: &mut Client) -> Result<Vec<&'static str>, DbError> {
    client
        .batch_execute(
            "create table if not exists plugs_media_migrations (
                 name text primary key,
                 applied_at timestamptz not null default now()
             )",
        )
        .await?;
    apply_missing(client).await
}

/// Each migration in its own transaction, which first takes the advisory lock for the rest of
/// the transaction: two runners apply each migration once, one after the other. A
/// transaction-level lock, unlike a session-level one, holds behind a pooler in transaction
/// mode (RDS Proxy, PgBouncer), where consecutive statements outside a transaction may reach
/// different server connections.
async fn apply_missing(client: &mut Client) -> Result<Vec<&'static str>, DbError> {
    let mut applied = Vec::new();
    for (name, sql) in MIGRATIONS {
        let tx = client.transaction().await?;
        tx.execute_unnamed("select pg_advisory_xact_lock($1)", &[&LOCK_ID])
            .await?;
        let done = tx
            .query_opt_unnamed(
                "select 1 from plugs_media_migrations where name = $1",
                &[name],
            )
            .await?
            .is_some();
        if !done {
            tx.batch_execute(sql).await?;
            tx.execute_unnamed(
                "insert into plugs_media_migrations (name) values ($1)",
                &[name],
            )
            .await?;
            applied.push(*name);
        }
        tx.commit().await?;
    }
    Ok(applied)
}

/// Names of the migrations not yet applied (for `doctor`).
pub async fn pending(client: &Client) -> Result<Vec<&'static str>, DbError> {
    let exists: bool = client
        .query_one_unnamed(
            "select to_regclass('plugs_media_migrations') is not null",
            &[],
        )
        .await?
        .get(0);
    let done: Vec<String> = if exists {
        client
            .query_unnamed("select name from plugs_media_migrations", &[])
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect()
    } else {
        Vec::new()
    };
    Ok(MIGRATIONS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !done.iter().any(|d| d == name))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_the_migrations_folder_is_listed_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter_map(|f| f.strip_suffix(".sql").map(str::to_owned))
            .collect();
        files.sort();
        let listed: Vec<&str> = MIGRATIONS.iter().map(|(n, _)| *n).collect();
        assert_eq!(files, listed);
    }
}
