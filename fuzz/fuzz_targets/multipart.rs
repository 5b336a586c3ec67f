//! The upload form reader on arbitrary bodies: parsed, or refused with a 4xx; never a panic.
#![no_main]

use lambda_http::{Body, Request};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks a boundary length, so the boundary itself is fuzzed too.
    let (boundary, body) = match data.split_first() {
        Some((&n, rest)) if usize::from(n % 71) <= rest.len() => rest.split_at(usize::from(n % 71)),
        _ => (&b"fuzzboundary"[..], data),
    };
    let content_type = format!("multipart/form-data; boundary={}", String::from_utf8_lossy(boundary));
    let Ok(content_type) = http::HeaderValue::from_str(&content_type) else { return };
    let (mut parts, body) = Request::new(Body::Binary(body.to_vec())).into_parts();
    parts.headers.insert(http::header::CONTENT_TYPE, content_type);
    let request = Request::from_parts(parts, body);
    let result = RUNTIME.with(|rt| rt.block_on(shared::api::upload_form::read(request, 1 << 20)));
    if let Err(err) = result {
        assert!((400..500).contains(&err.status_code()), "{err:?}");
    }
});
