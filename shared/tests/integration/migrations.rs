use secrecy::SecretString;
use shared::db;
use test_support::PlugsSchema;

use crate::support::*;

async fn connect(url: &str) -> db::Client {
    db::pool(&SecretString::from(url.to_owned()), 1)
        .unwrap()
        .get()
        .await
        .unwrap()
}

async fn column_type(client: &db::Client, column: &str) -> Option<(String, Option<i32>)> {
    client
        .query_opt(
            "select data_type::text, character_maximum_length from information_schema.columns
             where table_name = 'event_media' and column_name = $1",
            &[&column],
        )
        .await
        .unwrap()
        .map(|row| (row.get(0), row.get(1)))
}

#[tokio::test]
async fn a_fresh_database_gets_every_table_and_a_rerun_changes_nothing() {
    let url = create_database().await;
    let mut client = connect(&url).await;
    let applied = db::migrate::run(&mut client).await.unwrap();
    assert_eq!(applied.len(), db::migrate::MIGRATIONS.len());
    assert!(db::migrate::run(&mut client).await.unwrap().is_empty());
    assert!(db::migrate::pending(&client).await.unwrap().is_empty());
    assert_eq!(
        column_type(&client, "file_type").await,
        Some(("character varying".into(), Some(255)))
    );
    assert!(column_type(&client, "s3_key").await.is_some());
}

/// Whether `table` has `column` (in the test database's schema).
async fn has_column(client: &db::Client, table: &str, column: &str) -> bool {
    client
        .query_one(
            "select exists (select 1 from information_schema.columns
             where table_schema = current_schema() and table_name = $1 and column_name = $2)",
            &[&table, &column],
        )
        .await
        .unwrap()
        .get(0)
}

async fn has_constraint(client: &db::Client, name: &str) -> bool {
    client
        .query_one(
            "select exists (select 1 from pg_constraint where conname = $1)",
            &[&name],
        )
        .await
        .unwrap()
        .get(0)
}

async fn alembic_version(client: &db::Client) -> String {
    client
        .query_one("select version_num from alembic_version", &[])
        .await
        .unwrap()
        .get(0)
}

/// `(title, tags, is_deleted)` of The Plugs' seed row `id`, read the way each shape's own code
/// reads it: from the row in the seed era, from its zone after 7a9d6f4f8420.
async fn plugs_metadata(
    client: &db::Client,
    shape: db::shape::Shape,
    id: &str,
) -> (Option<String>, Option<String>, bool) {
    let sql = match shape {
        db::shape::Shape::Seed => {
            "select title, tags, is_deleted from event_media where id = $1::text::uuid"
        }
        db::shape::Shape::Current => {
            "select z.title, z.tags, z.is_deleted from event_media m
             join event_media_zones z on z.id = m.zone_id and z.id = m.batch_id
             where m.id = $1::text::uuid"
        }
    };
    let row = client.query_one(sql, &[&id]).await.unwrap();
    (row.get(0), row.get(1), row.get(2))
}

#[tokio::test]
async fn a_fresh_database_gets_the_current_shape() {
    let url = create_database().await;
    let mut client = connect(&url).await;
    db::migrate::run(&mut client).await.unwrap();
    assert_eq!(
        db::shape::detect(&client).await.unwrap(),
        db::shape::Shape::Current
    );
    for gone in ["title", "description", "tags"] {
        assert!(!has_column(&client, "event_media", gone).await, "{gone}");
    }
    for added in ["zone_id", "batch_id"] {
        assert!(has_column(&client, "event_media", added).await, "{added}");
    }
    assert!(has_constraint(&client, "fk_event_media_zone_id").await);
    let indexes: i64 = client
        .query_one(
            "select count(*) from pg_indexes where tablename = 'event_media_zones'
             and indexname like 'ix_event_media_zones_%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        indexes, 5,
        "event_id, created_at, updated_at, is_deleted, deleted_at"
    );
}

/// A database of this service's own that an earlier version migrated (seed shape, rows with
/// metadata) moves each row's metadata into a zone of its own, as 7a9d6f4f8420 does.
#[tokio::test]
async fn our_own_seed_shaped_database_moves_its_rows_into_zones() {
    let url = create_database().await;
    let mut client = connect(&url).await;
    let (before, zones) = db::migrate::MIGRATIONS.split_at(6);
    assert_eq!(zones[0].0, "0007_event_media_zones");
    client
        .batch_execute(
            "create table plugs_media_migrations (name text primary key,
             applied_at timestamptz not null default now())",
        )
        .await
        .unwrap();
    for (name, sql) in before {
        client.batch_execute(sql).await.unwrap();
        client
            .execute(
                "insert into plugs_media_migrations (name) values ($1)",
                &[name],
            )
            .await
            .unwrap();
    }
    client
        .batch_execute(test_support::plugs::SEED_ROWS)
        .await
        .unwrap();
    assert_eq!(
        db::migrate::run(&mut client).await.unwrap(),
        [
            "0007_event_media_zones",
            "0008_pending_upload_zones",
            "0009_event_media_analysis",
            "0010_media_multipart_uploads",
            "0011_media_preview_variants"
        ]
    );
    assert_eq!(
        db::shape::detect(&client).await.unwrap(),
        db::shape::Shape::Current
    );
    let current = db::shape::Shape::Current;
    assert_eq!(
        plugs_metadata(&client, current, "00000000-0000-4000-8000-000000000003").await,
        (Some("Old photo".into()), Some("a, b".into()), false)
    );
    assert_eq!(
        plugs_metadata(&client, current, "00000000-0000-4000-8000-000000000005").await,
        (Some("Gone".into()), Some("old".into()), true)
    );
    let zones: i64 = client
        .query_one("select count(distinct zone_id) from event_media", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(zones, 3, "one zone per row");
}

/// Every row of The Plugs' tables (those present), each as a JSON object of its columns.
async fn plugs_rows(client: &db::Client) -> Vec<(String, Vec<serde_json::Value>)> {
    let mut tables = Vec::new();
    for table in [
        "alembic_version",
        "users",
        "events",
        "event_media",
        "event_media_zones",
    ] {
        let present: bool = client
            .query_one("select to_regclass($1) is not null", &[&table])
            .await
            .unwrap()
            .get(0);
        if !present {
            continue;
        }
        let rows: String = client
            .query_one(
                &format!(
                    "select coalesce(jsonb_agg(to_jsonb(t) order by to_jsonb(t)::text), '[]')::text \
                     from {table} t"
                ),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        let rows: Vec<serde_json::Value> = serde_json::from_str(&rows).unwrap();
        tables.push((table.to_owned(), rows));
    }
    tables
}

/// `after` with only the columns `before` had: what our migrations added left out.
fn as_before(
    before: &[(String, Vec<serde_json::Value>)],
    after: &[(String, Vec<serde_json::Value>)],
) -> Vec<(String, Vec<serde_json::Value>)> {
    after
        .iter()
        .map(|(table, rows)| {
            let columns: Vec<&String> = before
                .iter()
                .find(|(t, _)| t == table)
                .and_then(|(_, rows)| rows.first())
                .and_then(|row| row.as_object())
                .map(|row| row.keys().collect())
                .unwrap_or_default();
            let rows = rows
                .iter()
                .map(|row| {
                    let row = row.as_object().unwrap();
                    serde_json::Value::Object(
                        row.iter()
                            .filter(|(k, _)| columns.contains(k))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    )
                })
                .collect();
            (table.clone(), rows)
        })
        .collect()
}

/// The Plugs' database, in either shape, with its rows: our migrations only add what is
/// missing, leave its shape, its revision and its rows as they were, and a rerun is a no-op.
async fn the_plugs_database_only_gains_what_is_missing(schema: PlugsSchema) {
    let url = create_database().await;
    let mut client = connect(&url).await;
    schema.build(&client, true).await.unwrap();
    let revision = alembic_version(&client).await;
    let shape = db::shape::detect(&client).await.unwrap();
    assert_eq!(column_type(&client, "s3_key").await, None);
    let rows_before = plugs_rows(&client).await;

    db::migrate::run(&mut client).await.unwrap();
    // Every row of The Plugs' tables, every value of its columns, as it was; the only new
    // columns are ours.
    let rows_after = plugs_rows(&client).await;
    assert_eq!(as_before(&rows_before, &rows_after), rows_before);
    let media_columns = |rows: &[(String, Vec<serde_json::Value>)]| -> Vec<String> {
        rows.iter()
            .find(|(t, _)| t == "event_media")
            .map(|(_, rows)| rows[0].as_object().unwrap().keys().cloned().collect())
            .unwrap()
    };
    let added: Vec<String> = media_columns(&rows_after)
        .into_iter()
        .filter(|c| !media_columns(&rows_before).contains(c))
        .collect();
    assert_eq!(
        added,
        [
            "analyzed_at",
            "duration_ms",
            "height",
            "original_filename",
            "s3_key",
            "width"
        ]
    );
    assert_eq!(
        rows_after
            .iter()
            .map(|(t, _)| t.as_str())
            .collect::<Vec<_>>(),
        rows_before
            .iter()
            .map(|(t, _)| t.as_str())
            .collect::<Vec<_>>(),
        "no table of The Plugs' is added or dropped"
    );
    assert_eq!(db::shape::detect(&client).await.unwrap(), shape);
    assert_eq!(alembic_version(&client).await, revision);
    assert_eq!(
        column_type(&client, "s3_key").await,
        Some(("character varying".into(), Some(512)))
    );
    assert_eq!(
        column_type(&client, "file_type").await,
        Some(("character varying".into(), Some(255)))
    );
    let index: i64 = client
        .query_one(
            "select count(*) from pg_indexes where indexname = 'ix_event_media_s3_key'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(index, 1);
    // The Plugs' own columns survive untouched.
    assert!(
        client
            .query_one("select hashed_password from users limit 1", &[])
            .await
            .is_ok()
    );
    assert_eq!(
        has_column(&client, "event_media", "title").await,
        shape == db::shape::Shape::Seed
    );
    assert_eq!(
        has_column(&client, "event_media", "zone_id").await,
        shape == db::shape::Shape::Current
    );
    assert_eq!(
        plugs_metadata(&client, shape, "00000000-0000-4000-8000-000000000003").await,
        (Some("Old photo".into()), Some("a, b".into()), false)
    );
    let row = client
        .query_one(
            "select file_url, file_type, s3_key from event_media
             where id = '00000000-0000-4000-8000-000000000003'",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, String>(0).starts_with("/uploads/"));
    assert_eq!(row.get::<_, String>(1), "image/jpeg");
    assert_eq!(row.get::<_, Option<String>>(2), None);

    let long_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
    client
        .execute(
            "insert into event_media (id, event_id, file_url, file_type) values (gen_random_uuid(), '00000000-0000-4000-8000-000000000002', 'x', $1)",
            &[&long_type],
        )
        .await
        .unwrap();
    assert!(db::migrate::run(&mut client).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_plugs_seed_era_database_only_gains_what_is_missing() {
    the_plugs_database_only_gains_what_is_missing(PlugsSchema::Seed).await;
}

#[tokio::test]
async fn the_plugs_current_database_only_gains_what_is_missing() {
    the_plugs_database_only_gains_what_is_missing(PlugsSchema::Current).await;
}

#[tokio::test]
async fn a_wider_file_type_is_never_narrowed() {
    for schema in [PlugsSchema::Seed, PlugsSchema::Current] {
        let url = create_database().await;
        let mut client = connect(&url).await;
        client
            .batch_execute(
                &schema
                    .sql(true)
                    .replace("file_type varchar(32)", "file_type text"),
            )
            .await
            .unwrap();
        db::migrate::run(&mut client).await.unwrap();
        assert_eq!(
            column_type(&client, "file_type").await,
            Some(("text".into(), None))
        );
    }
}
