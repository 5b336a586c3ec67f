//! The preview's decode path on arbitrary bytes: a preview that fits its box, or a
//! `PreviewError` (422); never a panic, and never an allocation past the pixel limit (the
//! header check and the decoders' limits; libFuzzer's -rss_limit_mb catches a breach).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::preview::{PreviewSize, render};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the size, so both boxes are fuzzed.
    let (size, original) = match data.split_first() {
        Some((&n, rest)) if n % 2 == 1 => (PreviewSize::Medium, rest),
        Some((_, rest)) => (PreviewSize::Thumb, rest),
        None => (PreviewSize::Thumb, data),
    };
    if let Ok(preview) = render(original, size) {
        assert!(preview.width.max(preview.height) <= size.long_edge(), "{preview:?}");
        assert!(preview.bytes.starts_with(&[0xFF, 0xD8, 0xFF]));
    }
});
