//! Media analysis over real files made by real tools (`tests/samples`, see its README): what
//! each format yields, read through the same bounded windows the API uses.

use std::sync::Arc;

use bytes::Bytes;
use shared::analysis::{Analysis, ByteRanges, Kind, NotAnalysed, READ_BUDGET, analyze_blocking};

fn sample(name: &str) -> Bytes {
    let path = format!("{}/tests/samples/{name}", env!("CARGO_MANIFEST_DIR"));
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

fn run(mime: &str, bytes: Bytes) -> Result<Analysis, NotAnalysed> {
    let kind = Kind::of(mime).expect("an analysable type");
    analyze_blocking(kind, mime, Arc::new(bytes))
}

fn of(mime: &str, name: &str) -> Analysis {
    run(mime, sample(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn image(width: i32, height: i32) -> Analysis {
    Analysis {
        width: Some(width),
        height: Some(height),
        duration_ms: None,
    }
}

fn audio(duration_ms: i64) -> Analysis {
    Analysis {
        duration_ms: Some(duration_ms),
        ..Analysis::default()
    }
}

#[test]
fn a_photo_with_exif_orientation_6_is_as_wide_as_it_is_displayed() {
    // Stored 64×48, displayed turned a quarter.
    assert_eq!(of("image/jpeg", "orientation-6.jpg"), image(48, 64));
}

#[test]
fn png_gif_and_webp_give_their_size() {
    assert_eq!(of("image/png", "still.png"), image(40, 30));
    assert_eq!(of("image/gif", "anim.gif"), image(34, 22));
    assert_eq!(of("image/webp", "still.webp"), image(50, 20));
}

#[test]
fn an_mp4_whose_moov_is_at_the_end_gives_size_and_duration() {
    let found = of("video/mp4", "moov-at-end.mp4");
    assert_eq!((found.width, found.height), (Some(320), Some(240)));
    let ms = found.duration_ms.expect("a duration");
    assert!((1990..=2100).contains(&ms), "{ms} ms");
}

#[test]
fn a_video_only_mp4_gives_size_and_duration() {
    let found = of("video/mp4", "small.mp4");
    assert_eq!(
        found,
        Analysis {
            width: Some(64),
            height: Some(48),
            duration_ms: Some(1000)
        }
    );
}

#[test]
fn a_portrait_phone_video_is_as_wide_as_it_is_displayed() {
    // 64×48 frames that the track header turns a quarter (ffmpeg's rotate=90).
    let found = of("video/mp4", "portrait.mp4");
    assert_eq!((found.width, found.height), (Some(48), Some(64)));
    assert_eq!(found.duration_ms, Some(1000));
}

#[test]
fn a_webm_gives_size_and_duration() {
    let found = of("video/webm", "clip.webm");
    assert_eq!((found.width, found.height), (Some(160), Some(90)));
    let ms = found.duration_ms.expect("a duration");
    assert!((1450..=1600).contains(&ms), "{ms} ms");
}

#[test]
fn audio_files_give_their_duration() {
    for (mime, name) in [
        ("audio/mpeg", "tone.mp3"),
        ("audio/wav", "tone.wav"),
        ("audio/ogg", "tone.ogg"),
        ("video/mp4", "tone.m4a"),
    ] {
        let found = of(mime, name);
        let ms = found
            .duration_ms
            .unwrap_or_else(|| panic!("{name}: no duration"));
        assert!((1450..=1600).contains(&ms), "{name}: {ms} ms");
        assert_eq!((found.width, found.height), (None, None), "{name}");
    }
    assert_eq!(of("audio/wav", "tone.wav"), audio(1500));
}

#[test]
fn a_truncated_mp4_is_not_analysed() {
    assert!(run("video/mp4", sample("truncated.mp4")).is_err());
}

#[test]
fn a_jpeg_cut_before_its_frame_header_is_not_analysed() {
    // Its first 120 bytes: the EXIF segment and no frame header.
    assert!(run("image/jpeg", sample("truncated.jpg")).is_err());
}

#[test]
fn garbage_under_an_analysable_type_is_not_analysed() {
    let noise = Bytes::from(
        (0..200_000u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<_>>(),
    );
    for mime in [
        "image/jpeg",
        "image/png",
        "video/mp4",
        "video/webm",
        "audio/mpeg",
    ] {
        let _ = run(mime, noise.clone());
    }
    assert!(run("image/png", noise).is_err());
}

/// A real PNG whose IHDR declares 4294967295 × 4294967295: just numbers, stored as unknown
/// (they do not fit the columns), never a panic or an allocation of that size.
#[test]
fn a_png_declaring_a_huge_size_is_just_numbers() {
    let mut png = sample("still.png").to_vec();
    png[16..24].copy_from_slice(&[0xff; 8]);
    let found = run("image/png", Bytes::from(png)).unwrap();
    assert_eq!((found.width, found.height), (None, None));
}

/// A real mp4 whose mdat box claims to be 4 GiB long: seeking past it ends past the end of
/// the file, where there is no moov; no panic.
#[test]
fn an_mp4_box_declaring_a_huge_size_is_not_analysed() {
    let mut mp4 = sample("moov-at-end.mp4").to_vec();
    let mdat = mp4.windows(4).position(|w| w == b"mdat").unwrap();
    mp4[mdat - 4..mdat].copy_from_slice(&[0xff; 4]);
    assert!(run("video/mp4", Bytes::from(mp4)).is_err());
}

/// A source that counts what it was asked for.
struct Counting {
    bytes: Bytes,
    read: std::sync::atomic::AtomicU64,
}

impl ByteRanges for Counting {
    fn size(&self) -> u64 {
        self.bytes.size()
    }
    fn read_range(&self, offset: u64, len: u64) -> std::io::Result<Bytes> {
        self.read
            .fetch_add(len, std::sync::atomic::Ordering::Relaxed);
        self.bytes.read_range(offset, len)
    }
}

/// The real mp4 with 64 MiB more media data before its moov box (its mdat box grown to
/// match; the sample offsets still point into the original data).
fn with_64_mib_more_media_data() -> Bytes {
    let mp4 = sample("moov-at-end.mp4");
    let mdat = mp4.windows(4).position(|w| w == b"mdat").unwrap() - 4;
    let moov = mp4.windows(4).position(|w| w == b"moov").unwrap() - 4;
    let mut grown = mp4[..moov].to_vec();
    let size = u32::from_be_bytes(grown[mdat..mdat + 4].try_into().unwrap()) + (64 << 20);
    grown[mdat..mdat + 4].copy_from_slice(&size.to_be_bytes());
    grown.resize(moov + (64 << 20), 0);
    grown.extend_from_slice(&mp4[moov..]);
    Bytes::from(grown)
}

#[test]
fn a_moov_box_past_64_mib_of_media_data_is_found_by_a_few_ranged_reads() {
    let source = Arc::new(Counting {
        bytes: with_64_mib_more_media_data(),
        read: Default::default(),
    });
    let found = analyze_blocking(Kind::Container, "video/mp4", source.clone()).unwrap();
    assert_eq!((found.width, found.height), (Some(320), Some(240)));
    let read = source.read.load(std::sync::atomic::Ordering::Relaxed);
    assert!(read <= 1 << 20, "{read} bytes read");
}

#[test]
fn a_file_is_never_read_past_the_budget() {
    // Noise that a reader might scan for a frame sync all the way through.
    let noise = Bytes::from(vec![0xffu8; 32 << 20]);
    for mime in [
        "audio/mpeg",
        "video/mp4",
        "video/webm",
        "audio/ogg",
        "audio/wav",
    ] {
        let source = Arc::new(Counting {
            bytes: noise.clone(),
            read: Default::default(),
        });
        let _ = analyze_blocking(Kind::Container, mime, source.clone());
        let read = source.read.load(std::sync::atomic::Ordering::Relaxed);
        assert!(read <= READ_BUDGET, "{mime}: {read} bytes read");
    }
}

/// A source that fails every read after the first window (S3 going away mid-file).
struct FailsAfterFirstWindow(Bytes);

impl ByteRanges for FailsAfterFirstWindow {
    fn size(&self) -> u64 {
        self.0.size()
    }
    fn read_range(&self, offset: u64, len: u64) -> std::io::Result<Bytes> {
        if offset > 0 {
            return Err(std::io::Error::other("S3 unreachable"));
        }
        self.0.read_range(offset, len)
    }
}

#[test]
fn a_read_that_fails_is_told_apart_from_an_unreadable_file() {
    let source = Arc::new(FailsAfterFirstWindow(sample("moov-at-end.mp4")));
    let outcome = analyze_blocking(Kind::Container, "video/mp4", source);
    assert!(
        matches!(&outcome, Err(NotAnalysed::Io(why)) if why == "S3 unreachable"),
        "{outcome:?}"
    );
}
