//! Token checks: any Authorization header is a user, a 401 or a 403; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::auth::Authenticator;
use shared::error::ApiError;

thread_local! {
    static AUTH: Authenticator = Authenticator::new(&"fuzz-secret".to_owned().into(), jsonwebtoken::Algorithm::HS256);
    // A key given as a value is never re-read, so `authenticate` never waits on anything.
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
}

/// Every refusal answers the client with a 401 or a 403.
fn assert_refused_cleanly(err: shared::auth::TokenError) {
    let status = ApiError::from(err).status_code();
    assert!(matches!(status, 401 | 403), "{status}");
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = http::HeaderValue::from_bytes(data) else { return };
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::AUTHORIZATION, value);
    AUTH.with(|auth| {
        if let Err(err) = RUNTIME.with(|rt| rt.block_on(auth.authenticate(&headers))) {
            assert_refused_cleanly(err);
        }
        // The bare token path too (no scheme parsing).
        let token = String::from_utf8_lossy(data);
        if let Err(err) = auth.verify(&token) {
            assert_refused_cleanly(err);
        }
    });
});
