//! What the logs may not hold: the token, the JWT secret, the S3 secret key, or a presigned
//! URL's signature — at the level production logs at, through the production subscriber
//! (`shared::telemetry::subscriber`) with a writer that keeps what it is given.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use uuid::Uuid;

use crate::support::*;

#[tokio::test(flavor = "current_thread")]
async fn logs_hold_no_token_secret_or_signature() {
    let (captured, _guard) = CapturedLogs::install();

    let app = TestApp::with(&[("INLINE_DOWNLOAD_MAX_BYTES", "0")]).await;
    let who = app.organiser().await;
    let media = app.upload_png(&who).await;
    let id = Uuid::parse_str(media["id"].as_str().unwrap()).unwrap();
    let mut signatures = Vec::new();
    for endpoint in [Endpoint::DownloadMedia, Endpoint::StreamMedia] {
        let reply = app.call(endpoint, request(endpoint, &who, id)).await;
        signatures.push(
            reply
                .header("location")
                .split("X-Amz-Signature=")
                .nth(1)
                .unwrap()
                .to_owned(),
        );
    }
    let ticket = app.ticket(&who, "a.jpg", "image/jpeg", 10).await;
    signatures.push(
        ticket["url"]
            .as_str()
            .unwrap()
            .split("X-Amz-Signature=")
            .nth(1)
            .unwrap()
            .to_owned(),
    );
    // Failures log too: a wrong token and a database error.
    app.call(
        Endpoint::ListMedia,
        with_header(
            request(Endpoint::ListMedia, &who, Uuid::nil()),
            "authorization",
            "Bearer not.a.token",
        ),
    )
    .await;
    app.call(
        Endpoint::DeleteMedia,
        request(Endpoint::DeleteMedia, &who, id),
    )
    .await;

    let logs = captured.text();
    assert!(
        logs.contains("media uploaded"),
        "nothing was captured: {logs}"
    );
    let secret_key = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap();
    for (what, needle) in [
        ("token", who.token.as_str()),
        ("JWT secret", SECRET),
        ("S3 secret key", secret_key.as_str()),
    ] {
        assert!(!logs.contains(needle), "the {what} is in the logs");
    }
    for signature in signatures {
        assert!(
            !logs.contains(&signature),
            "a presigned signature is in the logs"
        );
    }
}

/// A JSON value read for its keys only: deserializing fails when an object, at any depth,
/// has a key twice. serde_json alone keeps the last of two equal keys without a word, and
/// so do most log tools, which then show one of the two fields and drop the other.
struct UniqueKeys;

impl<'de> de::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            map.next_value::<UniqueKeys>()?;
        }
        Ok(UniqueKeys)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
}

/// Why `line` is not one JSON object with unique keys, if it is not.
fn unique_keys_problem(line: &str) -> Option<String> {
    if !line.starts_with('{') {
        return Some("not a JSON object".into());
    }
    serde_json::from_str::<UniqueKeys>(line)
        .err()
        .map(|err| err.to_string())
}

#[test]
fn the_key_check_refuses_a_repeated_key_at_any_depth() {
    assert_eq!(unique_keys_problem(r#"{"a":1,"b":{"c":[{"d":2}]}}"#), None);
    assert!(unique_keys_problem(r#"{"message":"x","code":1,"message":"y"}"#).is_some());
    assert!(unique_keys_problem(r#"{"span":{"name":"a","name":"b"}}"#).is_some());
    assert!(unique_keys_problem("request refused").is_some());
}

/// Every line the functions write is one JSON object whose keys are unique, at any depth:
/// successes, refusals (4xx), failures (500) and back-pressure (503), through the production
/// subscriber as the functions install it.
#[tokio::test(flavor = "current_thread")]
async fn every_log_line_is_one_json_object_with_unique_keys() {
    let (captured, _guard) = CapturedLogs::install();

    // Long enough to open a connection on a loaded machine, short enough to wait out once.
    let app = TestApp::with(&[("DATABASE_POOL_TIMEOUT_MS", "1000")]).await;
    let who = app.organiser().await;
    let media = app.upload_png(&who).await;
    let id = Uuid::parse_str(media["id"].as_str().unwrap()).unwrap();
    for endpoint in Endpoint::ALL {
        app.call(endpoint, request(endpoint, &who, id)).await;
        // Refused: no token, and an id that is not there.
        app.call(
            endpoint,
            without_header(request(endpoint, &who, id), "authorization"),
        )
        .await;
        app.call(endpoint, request(endpoint, &who, Uuid::new_v4()))
            .await;
    }
    // 500: the row insert fails after the object was stored.
    app.refuse_media_inserts().await;
    app.upload(&who, "a.png", &png(), &[])
        .await
        .assert_error(500, "DATABASE_ERROR");
    // 503: the pool's one connection is held.
    let held = app.state.db.get().await.unwrap();
    app.upload(&who, "a.png", &png(), &[])
        .await
        .assert_error(503, "SERVICE_BUSY");
    drop(held);

    let logs = captured.text();
    // The refusal is the line that repeated `message`. (The 500's and the 503's lines are not
    // required: with other tests logging on other threads at the same time, tracing's
    // per-callsite interest cache sometimes drops a scoped subscriber's error and warning
    // events; scripts/load.py checks the binaries' own log lines too.)
    assert!(logs.contains("request refused"), "no refusal line: {logs}");
    let bad: Vec<(String, &str)> = logs
        .lines()
        .filter_map(|line| unique_keys_problem(line).map(|problem| (problem, line)))
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} log lines are not one JSON object with unique keys, e.g. {:?}",
        bad.len(),
        logs.lines().count(),
        &bad[..bad.len().min(3)]
    );
}
