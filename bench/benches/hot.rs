//! Micro-benchmarks of the pure functions on every request's path: JWT verification, key
//! generation, the upload form reader on a 4 MiB file, and presigning (local computation).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::Algorithm;
use lambda_http::{Body, Request};
use secrecy::SecretString;
use shared::auth::Authenticator;
use shared::storage::{DownloadOverrides, Storage};
use uuid::Uuid;

const SECRET: &str = "benchmark-secret";

fn jwt(c: &mut Criterion) {
    let auth = Authenticator::new(&SecretString::from(SECRET), Algorithm::HS256);
    let token = shared::auth::issue::sign(
        &shared::auth::issue::access_claims(Uuid::new_v4(), 3600),
        SECRET,
        Algorithm::HS256,
    );
    c.bench_function("jwt_verify", |b| {
        b.iter(|| auth.verify(black_box(&token)).expect("a valid token"))
    });
}

fn keys(c: &mut Criterion) {
    let event_id = Uuid::new_v4();
    let at = chrono::Utc::now();
    c.bench_function("event_media_key", |b| {
        b.iter(|| shared::keys::event_media_key(black_box(event_id), black_box(at), "jpg"))
    });
}

fn multipart(c: &mut Criterion) {
    let file: Vec<u8> = (0..4 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let body = test_support::multipart_body(
        &[test_support::Part::file("file", "photo.jpg", &file).typed("image/jpeg")],
        &[("title", "Photo")],
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    c.bench_function("multipart_4mib", |b| {
        b.iter_batched(
            || {
                let mut request = Request::new(Body::Binary(body.clone()));
                request.headers_mut().insert(
                    "content-type",
                    test_support::multipart_content_type()
                        .parse()
                        .expect("valid"),
                );
                request
            },
            |request| {
                runtime
                    .block_on(shared::api::upload_form::read(request))
                    .expect("a valid form")
            },
            criterion::BatchSize::LargeInput,
        )
    });
}

fn presign(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "bench",
        ))
        .build();
    let storage = Storage::new(aws_sdk_s3::Client::from_conf(config), "plugs-bucket");
    let key = shared::keys::event_media_key(Uuid::new_v4(), chrono::Utc::now(), "mp4");
    c.bench_function("presigned_get", |b| {
        b.iter(|| {
            runtime
                .block_on(storage.presigned_get(
                    key.as_str(),
                    Duration::from_secs(300),
                    DownloadOverrides {
                        content_disposition: "inline; filename=\"clip.mp4\"".into(),
                        content_type: "video/mp4".into(),
                    },
                ))
                .expect("presigning is local")
        })
    });
}

criterion_group!(benches, jwt, keys, multipart, presign);
criterion_main!(benches);
