//! S3 key generation: any id, instant and extension give a key without `..`, `//`, control
//! characters or a leading `/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 28 {
        return;
    }
    let id = uuid::Uuid::from_slice(&data[..16]).unwrap();
    let secs = i64::from_le_bytes(data[16..24].try_into().unwrap()).rem_euclid(253_402_300_799);
    let micros = u32::from_le_bytes(data[24..28].try_into().unwrap()) % 1_000_000;
    let Some(at) = chrono::DateTime::from_timestamp(secs, micros * 1000) else { return };
    let extension = String::from_utf8_lossy(&data[28..]);
    for key in [
        shared::keys::event_media_key(id, at, &extension),
        shared::keys::user_profile_key(id, at, &extension),
        shared::keys::temp_key(at, &extension),
    ] {
        let key = key.as_str();
        assert!(!key.starts_with('/') && !key.contains("..") && !key.contains("//"), "{key}");
        assert!(key.is_ascii() && !key.chars().any(char::is_control), "{key}");
    }
});
