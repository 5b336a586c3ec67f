//! File-name sanitising: whatever the client names a file, what is stored and sent back in
//! Content-Disposition is a short, path-free, valid header value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    let name = shared::media_type::sanitize_file_name(raw);
    assert!(!name.is_empty() && name.chars().count() <= 255);
    assert!(!name.contains('/') && !name.contains('\\') && !name.chars().any(char::is_control));
    for kind in ["attachment", "inline"] {
        let value = shared::edge::content_disposition(kind, &name);
        assert!(http::HeaderValue::from_str(&value).is_ok(), "{value:?}");
    }
});
