//! Secrets read at runtime from Secrets Manager (the stack's moto server, over HTTP with
//! SigV4), in both formats, and picked up again after a rotation by the same warm state.

use serde_json::json;
use shared::AppState;
use shared::secrets::SecretsManager;
use shared::storage::Storage;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use crate::support::{
    Endpoint, Organiser, TestApp, config, create_database_admin, database_url, request,
};

/// The stack's Secrets Manager, as the functions reach it.
async fn secrets_manager() -> SecretsManager {
    SecretsManager::from_env("us-east-1").await
}

/// Creates a secret with a name of its own; returns its ARN.
async fn create_secret(value: &str) -> String {
    test_support::stack::create_secret("plugs-media-test", value)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"))
}

/// Rotates the secret: its new value becomes the current version.
async fn put_secret(arn: &str, value: &str) {
    secrets_manager()
        .await
        .client()
        .put_secret_value()
        .secret_id(arn)
        .secret_string(value)
        .send()
        .await
        .expect("the stack's Secrets Manager stores a new version");
}

/// The state a function builds from `overrides` (the secrets' ARNs instead of the values),
/// around a database that already exists.
async fn app_on(database_url: &str, overrides: &[(&str, &str)]) -> TestApp {
    let config = config(database_url, "unused-bucket", overrides);
    let storage = Storage::from_config(&config).await;
    let state = AppState::build(config, storage)
        .await
        .expect("the state is built from the secrets");
    TestApp {
        state,
        database_url: database_url.to_owned(),
        direct_url: None,
    }
}

async fn migrate(app: &TestApp) {
    let mut client = app.db().await;
    shared::db::migrate::run(&mut client).await.unwrap();
}

fn token_signed_with(key: &str, who: &Organiser) -> String {
    shared::auth::issue::sign(
        &shared::auth::issue::access_claims(who.user_id, 600),
        key,
        jsonwebtoken::Algorithm::HS256,
    )
}

/// Lists the organiser's media with `token`; returns the status.
async fn list_status(app: &TestApp, who: &Organiser, token: &str) -> u16 {
    let caller = Organiser {
        user_id: who.user_id,
        event_id: who.event_id,
        token: token.to_owned(),
    };
    let reply = app
        .call(
            Endpoint::ListMedia,
            request(Endpoint::ListMedia, &caller, Uuid::nil()),
        )
        .await;
    assert!(
        matches!(reply.status, 200 | 401),
        "{}: {}",
        reply.status,
        reply.text()
    );
    reply.status
}

/// A login role with `password` that owns a new, migrated database; returns (role, URL of
/// the database for the superuser, host, port).
async fn database_owned_by_a_role(password: &str) -> (String, String) {
    let role = format!("r_{}", Uuid::new_v4().simple());
    let name = format!("t_{}", Uuid::new_v4().simple());
    let admin = create_database_admin().await;
    // Two statements: CREATE DATABASE cannot share a transaction with another.
    admin
        .batch_execute(&format!("create role {role} login password '{password}'"))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("create database {name} owner {role}"))
        .await
        .unwrap();
    (role, database_url(&name))
}

/// Host, port and database name of a URL of the stack's cluster.
fn location(url: &str) -> (String, u16, String) {
    let config: tokio_postgres::Config = url.parse().unwrap();
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(host) => host.clone(),
        other => panic!("the stack's PostgreSQL is on TCP, not {other:?}"),
    };
    let dbname = config.get_dbname().unwrap().to_owned();
    (host, config.get_ports()[0], dbname)
}

fn rds_secret(role: &str, password: &str, host: &str, port: u16, dbname: &str) -> String {
    json!({
        "engine": "postgres",
        "username": role,
        "password": password,
        "host": host,
        "port": port,
        "dbname": dbname,
        "dbInstanceIdentifier": "plugs-media-test",
    })
    .to_string()
}

/// Connects as `role` with `password`; returns the SQLSTATE of a refusal.
async fn login_refusal(
    host: &str,
    port: u16,
    dbname: &str,
    role: &str,
    password: &str,
) -> Option<SqlState> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(host)
        .port(port)
        .dbname(dbname)
        .user(role)
        .password(password);
    match config.connect(tokio_postgres::NoTls).await {
        Ok(_) => None,
        Err(err) => Some(err.code().cloned().expect("a refusal carries a SQLSTATE")),
    }
}

#[tokio::test]
async fn an_rds_json_secret_is_reread_after_the_password_rotates() {
    let first = format!("first-{}", Uuid::new_v4().simple());
    let (role, admin_url) = database_owned_by_a_role(&first).await;
    let (host, port, dbname) = location(&admin_url);
    let arn = create_secret(&rds_secret(&role, &first, &host, port, &dbname)).await;
    let app = app_on(
        &admin_url,
        &[
            ("DATABASE_URL", ""),
            ("DATABASE_SECRET_ARN", &arn),
            ("DATABASE_OPTIONS", "sslmode=disable"),
        ],
    )
    .await;
    migrate(&app).await;
    let who = app.organiser().await;
    assert_eq!(list_status(&app, &who, &who.token).await, 200);

    // The rotation, as RDS's rotation function does it: the role's password, then the secret.
    let second = format!("second-{}", Uuid::new_v4().simple());
    let admin = create_database_admin().await;
    admin
        .batch_execute(&format!("alter role {role} password '{second}'"))
        .await
        .unwrap();
    put_secret(&arn, &rds_secret(&role, &second, &host, port, &dbname)).await;
    // The container's open connections die (a frozen Lambda loses its sockets), so the next
    // request must log in again.
    admin
        .execute(
            "select pg_terminate_backend(pid) from pg_stat_activity where usename = $1",
            &[&role],
        )
        .await
        .unwrap();
    assert_eq!(
        login_refusal(&host, port, &dbname, &role, &first).await,
        Some(SqlState::INVALID_PASSWORD),
        "the stack's PostgreSQL must check passwords for this test to mean anything"
    );

    assert_eq!(list_status(&app, &who, &who.token).await, 200);
}

#[tokio::test]
async fn a_rotated_jwt_key_is_reread_at_most_once_per_interval() {
    let database = crate::support::create_database().await;
    let first = format!("first-{}", Uuid::new_v4());
    let arn = create_secret(&first).await;
    let app = app_on(&database, &[("SECRET_KEY", ""), ("JWT_SECRET_ARN", &arn)]).await;
    migrate(&app).await;
    let who = app.organiser().await;
    assert_eq!(
        list_status(&app, &who, &token_signed_with(&first, &who)).await,
        200
    );

    // The backend rotates its key: tokens signed with the new one are accepted after the
    // re-read their bad signature triggers.
    let second = format!("second-{}", Uuid::new_v4());
    put_secret(&arn, &second).await;
    assert_eq!(
        list_status(&app, &who, &token_signed_with(&second, &who)).await,
        200
    );
    assert_eq!(
        list_status(&app, &who, &token_signed_with(&first, &who)).await,
        401
    );

    // Another bad signature within the interval does not reach Secrets Manager, so forged
    // tokens cannot make the function call it at will: a third key is not seen yet.
    let third = format!("third-{}", Uuid::new_v4());
    put_secret(&arn, &third).await;
    assert_eq!(
        list_status(&app, &who, &token_signed_with(&third, &who)).await,
        401
    );
    assert_eq!(
        list_status(&app, &who, &token_signed_with(&second, &who)).await,
        200
    );
}

#[tokio::test]
async fn a_plain_url_database_secret_and_a_json_jwt_secret_work() {
    let database = crate::support::create_database().await;
    let database_arn = create_secret(&database).await;
    let key = format!("key-{}", Uuid::new_v4());
    let jwt_arn = create_secret(&json!({ "SECRET_KEY": key }).to_string()).await;
    let app = app_on(
        "postgres://unused.invalid/unused",
        &[
            ("DATABASE_URL", ""),
            ("DATABASE_SECRET_ARN", &database_arn),
            ("SECRET_KEY", ""),
            ("JWT_SECRET_ARN", &jwt_arn),
        ],
    )
    .await;
    migrate(&app).await;
    let who = app.organiser().await;
    assert_eq!(
        list_status(&app, &who, &token_signed_with(&key, &who)).await,
        200
    );
}

#[tokio::test]
async fn a_missing_secret_stops_the_cold_start_naming_it() {
    let database = crate::support::create_database().await;
    let missing = format!("plugs-media-test/missing-{}", Uuid::new_v4());
    let config = config(
        &database,
        "unused-bucket",
        &[("SECRET_KEY", ""), ("JWT_SECRET_ARN", &missing)],
    );
    let storage = Storage::from_config(&config).await;
    let err = AppState::build(config, storage)
        .await
        .err()
        .expect("a missing secret stops the start")
        .to_string();
    assert!(err.contains(&missing), "{err}");
    assert!(err.contains("ResourceNotFoundException"), "{err}");
}
