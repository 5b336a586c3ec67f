use serde_json::json;
use uuid::Uuid;

use crate::support::*;

fn signed(claims: &serde_json::Value, secret: &str) -> String {
    shared::auth::issue::sign(claims, secret, jsonwebtoken::Algorithm::HS256)
}

/// Every endpoint, with every kind of bad token: 401 (403 for inactive users), with the
/// Bearer challenge, and nothing changes.
#[tokio::test]
async fn bad_tokens_are_refused_on_every_endpoint() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let media = app.upload_png(&who).await;
    let media_id = Uuid::parse_str(media["id"].as_str().unwrap()).unwrap();
    let claims = shared::auth::issue::access_claims(who.user_id, 600);
    let with = |key: &str, value: serde_json::Value| {
        let mut c = claims.clone();
        c[key] = value;
        c
    };
    let mut no_exp = claims.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    let cases: Vec<(&str, Option<String>, u16, &str)> = vec![
        ("missing", None, 401, "AUTHENTICATION_REQUIRED"),
        (
            "refresh",
            Some(signed(&with("type", json!("refresh")), SECRET)),
            401,
            "INVALID_TOKEN",
        ),
        (
            "expired",
            Some(signed(&with("exp", json!(1_000_000)), SECRET)),
            401,
            "TOKEN_EXPIRED",
        ),
        (
            "wrong secret",
            Some(signed(&claims, "not-the-secret")),
            401,
            "INVALID_TOKEN",
        ),
        (
            "no exp",
            Some(signed(&no_exp, SECRET)),
            401,
            "INVALID_TOKEN",
        ),
        (
            "alg none",
            Some({
                use base64::Engine as _;
                let b64 = |v: &serde_json::Value| {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
                };
                format!(
                    "{}.{}.",
                    b64(&json!({"alg": "none", "typ": "JWT"})),
                    b64(&claims)
                )
            }),
            401,
            "INVALID_TOKEN",
        ),
        ("garbage", Some("not.a.jwt".into()), 401, "INVALID_TOKEN"),
        (
            "inactive",
            Some(signed(&with("is_active", json!(false)), SECRET)),
            403,
            "USER_INACTIVE",
        ),
    ];
    for endpoint in token_endpoints() {
        for (name, token, status, code) in &cases {
            let base = request(endpoint, &who, media_id);
            let request = match token {
                None => without_header(base, "authorization"),
                Some(token) => with_header(base, "authorization", &format!("Bearer {token}")),
            };
            let reply = app.call(endpoint, request).await;
            assert_eq!(
                (reply.status, reply.code()),
                (*status, code.to_string()),
                "{endpoint:?} {name}"
            );
            if *status == 401 {
                assert_eq!(reply.header("www-authenticate"), "Bearer");
            }
        }
    }
    assert_eq!(app.object_keys().await.len(), 1);
    assert_eq!(app.media_count().await, 1);
}

/// Another user's event looks exactly like a missing one, on every endpoint.
#[tokio::test]
async fn another_users_event_is_not_found_on_every_endpoint() {
    let app = TestApp::new().await;
    let owner = app.organiser().await;
    let media = app.upload_png(&owner).await;
    let media_id = Uuid::parse_str(media["id"].as_str().unwrap()).unwrap();
    let intruder = app.organiser().await;
    let as_intruder = Organiser {
        user_id: intruder.user_id,
        event_id: owner.event_id,
        token: intruder.token.clone(),
    };
    let missing_event = Organiser {
        user_id: intruder.user_id,
        event_id: Uuid::new_v4(),
        token: intruder.token.clone(),
    };
    for endpoint in token_endpoints() {
        let foreign = app
            .call(endpoint, request(endpoint, &as_intruder, media_id))
            .await;
        foreign.assert_error(404, "EVENT_NOT_FOUND");
        let missing = app
            .call(endpoint, request(endpoint, &missing_event, media_id))
            .await;
        missing.assert_error(404, "EVENT_NOT_FOUND");
        assert_eq!(
            foreign.json()["error"]["message"],
            missing.json()["error"]["message"],
            "{endpoint:?} leaks existence"
        );
    }
    assert_eq!(app.object_keys().await.len(), 1);
    assert_eq!(app.media_count().await, 1);
}

#[tokio::test]
async fn media_of_another_event_of_the_same_user_is_not_found() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let media = app.upload_png(&who).await;
    let media_id = Uuid::parse_str(media["id"].as_str().unwrap()).unwrap();
    let other = Organiser {
        user_id: who.user_id,
        event_id: app.second_event(&who).await,
        token: who.token.clone(),
    };
    for endpoint in [
        Endpoint::GetMedia,
        Endpoint::DownloadMedia,
        Endpoint::StreamMedia,
        Endpoint::DeleteMedia,
    ] {
        app.call(endpoint, request(endpoint, &other, media_id))
            .await
            .assert_error(404, "MEDIA_NOT_FOUND");
    }
    assert_eq!(app.media_count().await, 1);
}

#[tokio::test]
async fn a_deleted_event_is_not_found() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    app.db()
        .await
        .execute(
            "update events set is_deleted = true where id = $1",
            &[&who.event_id],
        )
        .await
        .unwrap();
    app.call(
        Endpoint::ListMedia,
        request(Endpoint::ListMedia, &who, Uuid::nil()),
    )
    .await
    .assert_error(404, "EVENT_NOT_FOUND");
    app.upload(&who, "a.png", &png(), &[])
        .await
        .assert_error(404, "EVENT_NOT_FOUND");
}

#[tokio::test]
async fn path_ids_must_be_uuids() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    for endpoint in token_endpoints() {
        let (function, case) = fixture_of(endpoint);
        let path = format!(
            "{}/../events/{function}/{case}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(path)
            .unwrap()
            .replace(FIXTURE_EVENT_ID, "not-a-uuid")
            .replace(FIXTURE_TOKEN, &who.token);
        let reply = app
            .call(endpoint, lambda_http::request::from_str(&text).unwrap())
            .await;
        reply.assert_error(422, "VALIDATION_ERROR");
        assert_eq!(
            reply.json()["error"]["details"][0]["loc"],
            json!(["path", "event_id"])
        );
    }
    let braced = format!("{{{}}}", Uuid::new_v4());
    let (function, case) = fixture_of(Endpoint::GetMedia);
    let path = format!(
        "{}/../events/{function}/{case}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace(FIXTURE_EVENT_ID, &who.event_id.to_string())
        .replace(FIXTURE_MEDIA_ID, &braced)
        .replace(FIXTURE_TOKEN, &who.token);
    let reply = app
        .call(
            Endpoint::GetMedia,
            lambda_http::request::from_str(&text).unwrap(),
        )
        .await;
    reply.assert_error(422, "VALIDATION_ERROR");
}

/// A request that breaks what `endpoint` reads after ownership (its query or body), and the
/// refusal that follows once everything before it is right; `None` for endpoints that read
/// neither.
fn with_bad_input(
    endpoint: Endpoint,
    request: lambda_http::Request,
) -> (lambda_http::Request, Option<(u16, &'static str)>) {
    match endpoint {
        Endpoint::UploadMedia => (
            with_body(
                with_header(request, "content-type", "text/plain"),
                b"not a form".to_vec(),
            ),
            Some((400, "MALFORMED_REQUEST")),
        ),
        Endpoint::ListMedia => (
            with_query(request, &[("limit", "0")]),
            Some((422, "VALIDATION_ERROR")),
        ),
        Endpoint::DownloadMedia | Endpoint::StreamMedia => (
            with_query(request, &[("redirect", "maybe")]),
            Some((422, "VALIDATION_ERROR")),
        ),
        Endpoint::CreateUpload => (
            with_body(request, b"{".to_vec()),
            Some((400, "MALFORMED_REQUEST")),
        ),
        Endpoint::ListZones | Endpoint::GetZone => (
            with_query(request, &[("skip", "-1")]),
            Some((422, "VALIDATION_ERROR")),
        ),
        Endpoint::UpdateZone => (
            with_body(request, b"{".to_vec()),
            Some((400, "MALFORMED_REQUEST")),
        ),
        Endpoint::GetMedia
        | Endpoint::DeleteMedia
        | Endpoint::CompleteUpload
        | Endpoint::DeleteZone => (request, None),
        // Its zone (the media id here) is checked before its body, and it exists only on the
        // seed era, where the next answer is 409 ZONES_UNAVAILABLE: its body's place in the
        // order is checked in batches.rs, against a real zone.
        Endpoint::AddZoneFiles => (request, None),
        Endpoint::CreateMultipartUpload => (
            with_body(request, b"{".to_vec()),
            Some((400, "MALFORMED_REQUEST")),
        ),
        // The upload (the media id here) is looked up before the body: with no such upload
        // the answer is 404 UPLOAD_NOT_FOUND; their bodies' checks are in multipart.rs.
        Endpoint::SignMultipartParts
        | Endpoint::ListMultipartParts
        | Endpoint::CompleteMultipartUpload
        | Endpoint::AbortMultipartUpload => (request, None),
        // No token and no event: its checks are in previews.rs.
        Endpoint::PreviewMedia => (request, None),
    }
}

/// The fixture of `endpoint` with `event_id` as raw path text (it may be no UUID at all).
fn request_for_event(
    endpoint: Endpoint,
    event_id: &str,
    media_id: Uuid,
    token: &str,
) -> lambda_http::Request {
    let (function, case) = fixture_of(endpoint);
    let path = format!(
        "{}/../events/{function}/{case}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace(FIXTURE_EVENT_ID, event_id)
        .replace(FIXTURE_MEDIA_ID, &media_id.to_string())
        .replace(FIXTURE_TOKEN, token);
    lambda_http::request::from_str(&text).unwrap()
}

/// One step of the check order: what is wrong, the event id and token sent, the refusal.
type Stage<'a> = (&'a str, &'a str, &'a str, Option<(u16, &'a str)>);

/// Token → path ids → ownership → query and body, on every endpoint: each request below is
/// wrong in every later respect too, and must be refused for the first.
#[tokio::test]
async fn the_checks_run_in_one_order_on_every_endpoint() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let stranger = app.organiser().await;
    let media = app.upload_png(&who).await;
    let media_id = Uuid::parse_str(media["id"].as_str().unwrap()).unwrap();
    let own_event = who.event_id.to_string();
    let foreign_event = stranger.event_id.to_string();
    for endpoint in token_endpoints() {
        let stages: [Stage; 3] = [
            (
                "a bad token",
                "not-a-uuid",
                "not.a.jwt",
                Some((401, "INVALID_TOKEN")),
            ),
            (
                "a bad path id",
                "not-a-uuid",
                &who.token,
                Some((422, "VALIDATION_ERROR")),
            ),
            (
                "someone else's event",
                &foreign_event,
                &who.token,
                Some((404, "EVENT_NOT_FOUND")),
            ),
        ];
        for (what, event_id, token, expected) in stages {
            let request = request_for_event(endpoint, event_id, media_id, token);
            let (request, _) = with_bad_input(endpoint, request);
            let reply = app.call(endpoint, request).await;
            let (status, code) = expected.unwrap();
            assert_eq!(
                (reply.status, reply.code().as_str()),
                (status, code),
                "{endpoint:?} with {what} (and everything after it wrong): {}",
                reply.text()
            );
        }
        // The zone endpoints name the item's zone (on the seed era, the item itself).
        let item = match endpoint {
            Endpoint::GetZone | Endpoint::UpdateZone | Endpoint::DeleteZone => zone_of(&media),
            _ => media_id,
        };
        let request = request_for_event(endpoint, &own_event, item, &who.token);
        if let (request, Some((status, code))) = with_bad_input(endpoint, request) {
            let reply = app.call(endpoint, request).await;
            assert_eq!(
                (reply.status, reply.code().as_str()),
                (status, code),
                "{endpoint:?} with only its query or body wrong: {}",
                reply.text()
            );
        }
    }
    assert_eq!(app.media_count().await, 1);
}

/// A token outlives its user's account: once the account is deactivated or soft-deleted
/// (where The Plugs' `users` has `is_deleted`), or removed, every endpoint refuses it.
#[tokio::test]
async fn a_deactivated_or_deleted_user_is_refused_on_every_endpoint() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let media = app.upload_png(&who).await;
    let media_id = Uuid::parse_str(media["id"].as_str().unwrap()).unwrap();
    let db = app.db().await;
    let refusals = [
        (
            "deactivated",
            "update users set is_active = false where id = $1",
            403,
            "USER_INACTIVE",
        ),
        (
            "soft-deleted",
            "update users set is_active = true, is_deleted = true where id = $1",
            401,
            "INVALID_TOKEN",
        ),
    ];
    db.batch_execute("alter table users add column is_deleted boolean not null default false")
        .await
        .unwrap();
    for (what, sql, status, code) in refusals {
        db.execute(sql, &[&who.user_id]).await.unwrap();
        for endpoint in token_endpoints() {
            let reply = app.call(endpoint, request(endpoint, &who, media_id)).await;
            assert_eq!(
                (reply.status, reply.code().as_str()),
                (status, code),
                "{endpoint:?}, {what} user: {}",
                reply.text()
            );
        }
    }
    // A valid token for a user id with no row at all.
    let ghost = Organiser {
        user_id: Uuid::new_v4(),
        event_id: who.event_id,
        token: token_for(Uuid::new_v4()),
    };
    for endpoint in token_endpoints() {
        app.call(endpoint, request(endpoint, &ghost, media_id))
            .await
            .assert_error(401, "INVALID_TOKEN");
    }
    // Reactivated, the same token works again.
    db.execute(
        "update users set is_active = true, is_deleted = false where id = $1",
        &[&who.user_id],
    )
    .await
    .unwrap();
    let reply = app
        .call(
            Endpoint::GetMedia,
            request(Endpoint::GetMedia, &who, media_id),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(app.media_count().await, 1);
    assert_eq!(app.object_keys().await.len(), 1);
}

/// The one exception to the token, made explicit: preview-media checks no token, and without
/// a valid signature it answers 403 whatever token comes with it (a token is no key to it).
#[tokio::test]
async fn the_signed_url_endpoints_refuse_an_unsigned_request_with_or_without_a_token() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let media = app.upload_png(&who).await;
    let media_id = Uuid::parse_str(media["id"].as_str().unwrap()).unwrap();
    for endpoint in shared::endpoint::SIGNED_URL_ENDPOINTS {
        assert!(!endpoint.spec().needs(shared::endpoint::Capability::JwtKey));
        let unsigned = request(endpoint, &who, media_id);
        app.call(endpoint, unsigned)
            .await
            .assert_error(403, "PREVIEW_SIGNATURE_INVALID");
        let with_token = with_header(
            request(endpoint, &who, media_id),
            "authorization",
            &format!("Bearer {}", who.token),
        );
        app.call(endpoint, with_token)
            .await
            .assert_error(403, "PREVIEW_SIGNATURE_INVALID");
    }
}
