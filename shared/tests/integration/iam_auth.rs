//! IAM database authentication's path through the pool, against the stack's PostgreSQL.
//! Only RDS and RDS Proxy can check an RDS auth token (and only over TLS, which the stack's
//! server does not offer), so here the token a signer with fixed credentials and a fixed
//! clock will produce is made the role's password: the login then succeeds only if the pool
//! sends that token as its password, and a later connection, whose token is signed anew,
//! is refused.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use secrecy::ExposeSecret;
use shared::db::iam::{Login, TokenSigner, auth_token};
use shared::db::{Authentication, ConnectionSettings, Database, DbError, PoolLimits};
use shared::secrets::Secret;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use crate::support::create_database_admin;

fn stack_host_and_port() -> (String, u16) {
    let url = test_support::stack::var(test_support::stack::ADMIN_DATABASE_URL)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let config: tokio_postgres::Config = url.parse().unwrap();
    match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(host) => (host.clone(), config.get_ports()[0]),
        other => panic!("the stack's PostgreSQL is on TCP, not {other:?}"),
    }
}

#[tokio::test]
async fn an_iam_pool_logs_in_with_a_fresh_token_as_each_connections_password() {
    let (host, port) = stack_host_and_port();
    let role = format!("iam_{}", Uuid::new_v4().simple());
    let credentials = Credentials::new("AKIDEXAMPLE", "iam-test-secret", None, None, "test");
    let signed_at = SystemTime::now();
    let login = Login {
        host: host.clone(),
        port,
        user: role.clone(),
    };
    let token = auth_token(&login, "us-east-1", &credentials, signed_at).unwrap();
    let admin = create_database_admin().await;
    admin
        .batch_execute(&format!(
            "create role {role} login password '{}'",
            token.expose_secret()
        ))
        .await
        .unwrap();

    let now = Arc::new(Mutex::new(signed_at));
    let clock = now.clone();
    let signer = TokenSigner::with_clock(
        SharedCredentialsProvider::new(credentials),
        "us-east-1",
        Arc::new(move || *clock.lock().unwrap()),
    );
    // No password in the URL: with IAM auth the token is the only one sent.
    let url = format!("postgres://{role}@{host}:{port}/postgres?sslmode=prefer");
    let db = Database::open(
        Secret::fixed(url),
        ConnectionSettings {
            authentication: Authentication::Iam(Arc::new(signer)),
            ..ConnectionSettings::default()
        },
        PoolLimits::of_size(1),
    )
    .await
    .unwrap();
    let client = db
        .get()
        .await
        .expect("the token is accepted as the password");
    let row = client
        .query_one("select current_user::text", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), role);
    drop(client);

    // Eleven minutes on, the connection is gone and the pool opens another: with a token
    // signed now, which is not the password this PostgreSQL holds.
    *now.lock().unwrap() = signed_at + Duration::from_secs(660);
    admin
        .execute(
            "select pg_terminate_backend(pid) from pg_stat_activity where usename = $1",
            &[&role],
        )
        .await
        .unwrap();
    let Err(refused) = db.get().await else {
        panic!("a new token is not the old password, yet the login succeeded");
    };
    let DbError::Pool(deadpool_postgres::PoolError::Backend(err)) = &refused else {
        panic!("expected the server's refusal, got {refused:?}");
    };
    assert_eq!(err.code(), Some(&SqlState::INVALID_PASSWORD), "{err}");
    admin
        .batch_execute(&format!("drop role {role}"))
        .await
        .unwrap();
}
