use secrecy::SecretString;
use shared::db;

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

/// The Plugs' own schema, as its Alembic migrations left it before S3: no s3_key, a
/// varchar(32) file_type, and rows that must survive.
const PLUGS_SCHEMA: &str = "
    create table users (id uuid primary key, email varchar(255) not null unique, hashed_password text,
        is_active boolean not null default true, created_at timestamptz default now());
    create table events (id uuid primary key, user_id uuid not null references users(id), title varchar(256) not null,
        start_date timestamptz, end_date timestamptz, is_active boolean default true, is_public boolean default false,
        created_at timestamptz default now(), updated_at timestamptz, is_deleted boolean not null default false,
        deleted_at timestamptz);
    create table event_media (id uuid primary key, event_id uuid not null references events(id) on delete cascade,
        title varchar(256), description text, file_url varchar(512) not null, file_type varchar(32) not null,
        file_size integer, tags text, created_at timestamptz default now(), updated_at timestamptz,
        is_deleted boolean not null default false, deleted_at timestamptz);
    create index ix_event_media_file_type on event_media (file_type);
    insert into users (id, email) values ('00000000-0000-4000-8000-000000000001', 'old@example.com');
    insert into events (id, user_id, title) values
        ('00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000001', 'Old event');
    insert into event_media (id, event_id, title, file_url, file_type, file_size, tags) values
        ('00000000-0000-4000-8000-000000000003', '00000000-0000-4000-8000-000000000002', 'Old photo',
         '/uploads/events/00000000-0000-4000-8000-000000000002/images/a.jpg', 'image/jpeg', 1234, 'a, b');
";

#[tokio::test]
async fn the_plugs_database_only_gains_what_is_missing() {
    let url = create_database().await;
    let mut client = connect(&url).await;
    client.batch_execute(PLUGS_SCHEMA).await.unwrap();
    assert_eq!(column_type(&client, "s3_key").await, None);

    db::migrate::run(&mut client).await.unwrap();
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
    // The Plugs' own column survives untouched.
    assert!(
        client
            .query_one("select hashed_password from users limit 1", &[])
            .await
            .is_ok()
    );
    let row = client
        .query_one(
            "select title, file_url, file_type, tags, s3_key from event_media",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "Old photo");
    assert!(row.get::<_, String>(1).starts_with("/uploads/"));
    assert_eq!(row.get::<_, String>(2), "image/jpeg");
    assert_eq!(row.get::<_, String>(3), "a, b");
    assert_eq!(row.get::<_, Option<String>>(4), None);

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
async fn a_wider_file_type_is_never_narrowed() {
    let url = create_database().await;
    let mut client = connect(&url).await;
    client
        .batch_execute(&PLUGS_SCHEMA.replace("file_type varchar(32)", "file_type text"))
        .await
        .unwrap();
    db::migrate::run(&mut client).await.unwrap();
    assert_eq!(
        column_type(&client, "file_type").await,
        Some(("text".into(), None))
    );
}
