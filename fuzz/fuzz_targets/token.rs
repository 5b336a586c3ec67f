//! Token checks: any Authorization header is a user, a 401 or a 403; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::auth::Authenticator;

thread_local! {
    static AUTH: Authenticator = Authenticator::new(&"fuzz-secret".to_owned().into(), jsonwebtoken::Algorithm::HS256);
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = http::HeaderValue::from_bytes(data) else { return };
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::AUTHORIZATION, value);
    AUTH.with(|auth| {
        if let Err(err) = auth.authenticate(&headers) {
            assert!(matches!(err.status_code(), 401 | 403), "{err:?}");
        }
        // The bare token path too (no scheme parsing).
        let token = String::from_utf8_lossy(data);
        if let Err(err) = auth.verify(&token) {
            assert!(matches!(err.status_code(), 401 | 403), "{err:?}");
        }
    });
});
