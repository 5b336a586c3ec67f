//! A connection pooler's refusals are back-pressure too: PgBouncer (Debian's 1.18, as the
//! stack's) answers SQLSTATE 08P01 with a message of its own when a query waited longer than
//! `query_wait_timeout` for a server connection, when it has no client slot left, or when it
//! cannot reach the server; a request that meets one answers 503 SERVICE_BUSY with
//! Retry-After, not 500. Each test runs a PgBouncer of its own, configured for its case, in
//! front of the stack's PostgreSQL (the stack's shared one must stay as it is).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

/// A PgBouncer in transaction mode with `settings` added to its ini, in a folder of its own;
/// stopped when dropped.
struct PgBouncer {
    dir: std::path::PathBuf,
    port: u16,
}

impl PgBouncer {
    /// In front of the stack's PostgreSQL.
    fn start(settings: &str) -> Self {
        let admin = test_support::stack::var(test_support::stack::ADMIN_DATABASE_URL)
            .unwrap_or_else(|e| panic!("{e:#}"));
        let config: tokio_postgres::Config = admin.parse().unwrap();
        let tokio_postgres::config::Host::Tcp(host) = &config.get_hosts()[0] else {
            panic!("the stack's PostgreSQL is on TCP");
        };
        Self::in_front_of_server(host, config.get_ports()[0], settings)
    }

    fn in_front_of_server(host: &str, pg_port: u16, settings: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // PgBouncer refuses to run as root, as PostgreSQL does: as `postgres` then, in a
        // folder it may write.
        let installed = Command::new("pgbouncer").arg("--version").output();
        assert!(
            installed.is_ok_and(|out| out.status.success()),
            "pgbouncer is not installed: scripts/lib.sh (ensure_system_packages) installs Debian's"
        );
        let as_root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
        let dir = std::env::temp_dir().join(format!("plugs-pgbouncer-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("userlist.txt"), "\"postgres\" \"\"\n").unwrap();
        std::fs::write(
            dir.join("pgbouncer.ini"),
            format!(
                "[databases]\n* = host={host} port={pg_port}\n\n[pgbouncer]\n\
                 listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
                 auth_type = trust\nauth_file = {users}\npool_mode = transaction\n\
                 ignore_startup_parameters = extra_float_digits\n\
                 logfile = {log}\npidfile = {pid}\n{settings}\n",
                users = dir.join("userlist.txt").display(),
                log = dir.join("pgbouncer.log").display(),
                pid = dir.join("pgbouncer.pid").display(),
            ),
        )
        .unwrap();
        let ini = dir.join("pgbouncer.ini");
        let status = if as_root {
            Command::new("chown")
                .args(["-R", "postgres"])
                .arg(&dir)
                .status()
                .unwrap();
            Command::new("runuser")
                .args(["-u", "postgres", "--", "pgbouncer", "-d"])
                .arg(&ini)
                .status()
        } else {
            Command::new("pgbouncer").arg("-d").arg(&ini).status()
        }
        .expect("pgbouncer is installed (scripts/lib.sh installs Debian's)");
        assert!(status.success(), "pgbouncer did not start");
        let bouncer = Self { dir, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "pgbouncer does not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        bouncer
    }

    /// `url` with PgBouncer in place of PostgreSQL.
    fn in_front_of(&self, url: &str) -> String {
        test_support::stack::through_proxy(url, &format!("127.0.0.1:{}", self.port))
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("pgbouncer.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A client of its own through `url` holding a transaction open: in transaction mode, the
/// server connection it runs on is not handed to anyone else until it ends.
async fn open_transaction(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client.batch_execute("begin; select 1").await.unwrap();
    client
}

#[tokio::test]
async fn a_query_that_waits_past_the_poolers_query_wait_timeout_gets_503() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    // One server connection for the database, and a query waits 1 s for it at most.
    let bouncer = PgBouncer::start("default_pool_size = 1\nquery_wait_timeout = 1\n");
    let url = bouncer.in_front_of(&app.database_url);
    let through = app
        .sibling_on(&url, &[("DATABASE_POOL_TIMEOUT_MS", "3000")])
        .await;
    let holder = open_transaction(&url).await;

    let started = Instant::now();
    let reply = through
        .call(
            Endpoint::ListMedia,
            request(Endpoint::ListMedia, &who, uuid::Uuid::nil()),
        )
        .await;
    reply.assert_error(503, "SERVICE_BUSY");
    assert_eq!(reply.header("retry-after"), "1");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "answered after {:?}",
        started.elapsed()
    );

    holder.batch_execute("commit").await.unwrap();
    let reply = through
        .call(
            Endpoint::ListMedia,
            request(Endpoint::ListMedia, &who, uuid::Uuid::nil()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[tokio::test]
async fn a_pooler_with_no_client_slot_left_gets_503() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let bouncer = PgBouncer::start("max_client_conn = 1\n");
    let url = bouncer.in_front_of(&app.database_url);
    // The one slot, once the start-up check's probe has let go of it.
    let deadline = Instant::now() + Duration::from_secs(3);
    let (holder, connection) = loop {
        match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
            Ok(connected) => break connected,
            Err(err) if Instant::now() < deadline => {
                let _ = err;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("no client slot for the holder: {err}"),
        }
    };
    let held = tokio::spawn(connection);

    let through = app.sibling_on(&url, &[]).await;
    let reply = through
        .call(
            Endpoint::ListMedia,
            request(Endpoint::ListMedia, &who, uuid::Uuid::nil()),
        )
        .await;
    reply.assert_error(503, "SERVICE_BUSY");

    // PgBouncer frees the slot when it sees the other client's socket close, a moment later.
    drop(holder);
    let _ = held.await;
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let reply = through
            .call(
                Endpoint::ListMedia,
                request(Endpoint::ListMedia, &who, uuid::Uuid::nil()),
            )
            .await;
        if reply.status == 200 {
            break;
        }
        reply.assert_error(503, "SERVICE_BUSY");
        assert!(Instant::now() < deadline, "still busy with the slot free");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_pooler_that_cannot_reach_the_server_gets_503() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    // PgBouncer up, the server it points at down (a port nothing listens on).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bouncer = PgBouncer::in_front_of_server(
        "127.0.0.1",
        closed,
        "server_login_retry = 1\nquery_wait_timeout = 2\n",
    );
    let url = bouncer.in_front_of(&app.database_url);
    let through = app
        .sibling_on(&url, &[("DATABASE_POOL_TIMEOUT_MS", "3000")])
        .await;
    let started = Instant::now();
    let reply = through
        .call(
            Endpoint::ListMedia,
            request(Endpoint::ListMedia, &who, uuid::Uuid::nil()),
        )
        .await;
    reply.assert_error(503, "SERVICE_BUSY");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered after {:?}",
        started.elapsed()
    );
}
