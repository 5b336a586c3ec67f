//! Property tests (a short run in every test suite; the long runs are the cargo-fuzz targets
//! under fuzz/): whatever the input, the pure parts never panic and keep their promises.

use chrono::{DateTime, Utc};
use lambda_http::{Body, Request};
use proptest::prelude::*;
use shared::api::upload_form;
use shared::auth::Authenticator;
use shared::edge::content_disposition;
use shared::error::ApiError;
use shared::keys::{event_media_key, temp_key, user_profile_key};
use shared::media_type::{detect, sanitize_file_name};
use uuid::Uuid;

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    // 1970 to 2100, to the microsecond.
    (0i64..4_102_444_800, 0u32..1_000_000)
        .prop_map(|(s, us)| DateTime::from_timestamp(s, us * 1000).unwrap())
}

fn clean_key(key: &str) -> bool {
    !key.starts_with('/')
        && !key.contains("..")
        && !key.contains("//")
        && !key.chars().any(char::is_control)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn keys_never_have_dangerous_shapes(id in any::<u128>(), at in instant(), ext in ".{0,24}") {
        let id = Uuid::from_u128(id);
        for key in [event_media_key(id, at, &ext), user_profile_key(id, at, &ext), temp_key(at, &ext)] {
            prop_assert!(clean_key(key.as_str()), "{key}");
            prop_assert!(key.as_str().is_ascii());
        }
    }

    #[test]
    fn sanitised_names_are_valid_header_values(raw in any::<String>()) {
        let name = sanitize_file_name(&raw);
        prop_assert!(!name.is_empty() && name.chars().count() <= 255);
        prop_assert!(!name.contains('/') && !name.contains('\\') && !name.chars().any(char::is_control));
        for kind in ["attachment", "inline"] {
            let value = content_disposition(kind, &name);
            prop_assert!(http::HeaderValue::from_str(&value).is_ok(), "{value:?}");
        }
    }

    #[test]
    fn tags_are_trimmed_and_never_empty_or_hold_commas(raw in any::<String>()) {
        if let Ok(tags) = upload_form::parse_tags(&raw) {
            for tag in tags {
                prop_assert!(!tag.is_empty() && tag.trim() == tag && !tag.contains(','));
            }
        }
    }

    #[test]
    fn type_detection_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), name in ".{0,40}") {
        if let Err(err) = detect(&bytes, &name) {
            prop_assert_eq!(ApiError::from(err).status_code(), 415);
        }
    }

    #[test]
    fn any_authorization_header_is_a_4xx_or_a_user(value in "[ -~]{0,300}") {
        let auth = Authenticator::new(&"secret".to_owned().into(), jsonwebtoken::Algorithm::HS256);
        let mut headers = http::HeaderMap::new();
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            headers.insert(http::header::AUTHORIZATION, value);
        }
        // A fixed key needs no I/O: the future is ready at once.
        let result = futures_util::FutureExt::now_or_never(auth.authenticate(&headers))
            .expect("a fixed key needs no I/O");
        if let Err(err) = result {
            prop_assert!(matches!(ApiError::from(err).status_code(), 401 | 403));
        }
    }

    #[test]
    fn any_upload_body_is_parsed_or_refused_with_a_4xx(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        boundary in "[a-zA-Z0-9'()+_,-./:=?]{1,70}",
    ) {
        let request = Request::new(Body::Binary(body));
        let (mut parts, body) = request.into_parts();
        parts.headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}")).unwrap(),
        );
        let request = Request::from_parts(parts, body);
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        match runtime.block_on(upload_form::read(request)) {
            Err(err) => prop_assert!((400..500).contains(&err.status_code()), "{err:?}"),
            Ok(form) => {
                for file in &form.files {
                    if let Err(err) = upload_form::check_file(file, 1024) {
                        prop_assert!((400..500).contains(&err.status_code()), "{err:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn well_formed_forms_round_trip(
        file in proptest::collection::vec(any::<u8>(), 1..1024),
        title in "[^\u{0}-\u{1f}\u{7f}-\u{9f}]{0,100}",
    ) {
        let boundary = "propboundary1234567890";
        let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.bin\"\r\n\r\n").into_bytes();
        body.extend_from_slice(&file);
        body.extend_from_slice(format!("\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n{title}\r\n--{boundary}--\r\n").as_bytes());
        let (mut parts, body) = Request::new(Body::Binary(body)).into_parts();
        parts.headers.insert(http::header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}").parse().unwrap());
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let form = runtime.block_on(upload_form::read(Request::from_parts(parts, body))).unwrap();
        prop_assert_eq!(form.files.len(), 1);
        prop_assert_eq!(form.files[0].bytes.as_ref(), file.as_slice());
        prop_assert!(upload_form::check_file(&form.files[0], 4096).is_ok());
        let trimmed = title.trim();
        prop_assert_eq!(form.title.as_deref(), (!trimmed.is_empty()).then_some(trimmed));
    }
}
