//! Tag parsing: tags come back trimmed, non-empty and free of commas, or the field is refused
//! with a 422.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    match shared::api::upload_form::parse_tags(raw) {
        Ok(tags) => {
            for tag in tags {
                assert!(!tag.is_empty() && tag.trim() == tag && !tag.contains(','));
            }
        }
        Err(err) => assert_eq!(err.status_code(), 422),
    }
});
