//! Media analysis at ingest: what a client needs to lay out a file before it downloads it.
//!
//! Images (jpeg, png, gif, webp): `width` and `height` as displayed, i.e. after the EXIF
//! orientation (5–8 swap them), from the headers only (`imagesize`, `kamadak-exif`): no
//! pixel is decoded. Video (mp4/mov, webm/mkv): the first video track's coded `width` and
//! `height` and the longest track's `duration_ms`, from the container (`symphonia`'s
//! readers; no decoder runs), swapped when an MP4/MOV track header turns the picture a quarter
//! (a phone's portrait video, [`turn`]). Audio (mp3, wav, ogg): `duration_ms` where the container says
//! it cheaply (an mp3 needs a Xing/Info or VBRI header). Raw AAC (ADTS) has no duration short
//! of reading every frame, so `audio/aac` is not analysed; an m4a is an MP4 (the upload check
//! refuses `audio/m4a` today; stored as `video/mp4` it is analysed like one).
//!
//! Everything is read through [`ByteRanges`], "give me `len` bytes at `offset`", so the same
//! analysis runs over the bytes of a form upload and over ranged GETs of an S3 object (a
//! direct upload, `migrate-files`, `plugs-media analyze`). Reads go in [`BLOCK`]-sized,
//! cached windows, and at most [`READ_BUDGET`] bytes are read per file: a 1 MiB window is
//! plenty for image headers, and the rest leaves room for an MP4's `moov` box wherever it is
//! (a `moov` after the media data is reached by seeking past `mdat`, a ranged read). A file
//! whose headers need more is not analysed.
//!
//! A file that cannot be analysed is still stored: its fields stay null and [`analyze`]
//! logs one line saying why.

use std::collections::HashMap;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::sync::Arc;

use bytes::Bytes;
use symphonia::core::codecs::CodecParameters;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, MediaInfo, Track};
use symphonia::core::io::{MediaSource, MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::TimeBase;

use crate::storage::Storage;

mod turn;

/// The size of one read: an S3 object is fetched a window at a time.
pub const BLOCK: u64 = 64 * 1024;
/// The most bytes read from one file, whatever its format says.
pub const READ_BUDGET: u64 = 8 * 1024 * 1024;
/// The windows an image's headers are looked for in: the first block, then the first MiB
/// (a JPEG's EXIF and ICC segments come before its frame header, and may fill a block).
const IMAGE_WINDOWS: [u64; 2] = [BLOCK, 1024 * 1024];

/// What is known about a file before anyone downloads it; `None` when unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Analysis {
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub duration_ms: Option<i64>,
}

/// The image types analysed, as stored in `event_media.file_type`.
pub const IMAGE_TYPES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp"];
/// The video and audio types analysed: those a container reader here knows.
pub const CONTAINER_TYPES: &[&str] = &[
    "video/mp4",
    "video/quicktime",
    "video/webm",
    "video/x-matroska",
    "audio/mpeg",
    "audio/wav",
    "audio/ogg",
];

/// Which analysis a type gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Image,
    /// Video and audio: read by a container reader.
    Container,
}

impl Kind {
    /// The analysis for a stored MIME type; `None` for what is not analysed (documents, text,
    /// SVG, raw AAC, and the video containers no reader here knows: avi, wmv, flv).
    pub fn of(mime: &str) -> Option<Self> {
        if IMAGE_TYPES.contains(&mime) {
            Some(Self::Image)
        } else if CONTAINER_TYPES.contains(&mime) {
            Some(Self::Container)
        } else {
            None
        }
    }

    /// Every type analysed, images first.
    pub fn analysed_types() -> Vec<&'static str> {
        IMAGE_TYPES.iter().chain(CONTAINER_TYPES).copied().collect()
    }
}

/// Why a file of an analysable type was not analysed (logged, never answered).
#[derive(Debug, thiserror::Error)]
pub enum NotAnalysed {
    #[error("its headers were not understood: {0}")]
    Unreadable(String),
    #[error("its headers need more than the {READ_BUDGET}-byte read budget")]
    OverBudget,
    #[error("it could not be read: {0}")]
    Io(String),
    /// A reader panicked on the file's headers: caught (the analysis runs on a task of its
    /// own), and the file treated as unreadable.
    #[error("its headers made a reader fail: {0}")]
    Crashed(String),
}

/// A file as a source of byte ranges. `read_range` answers fewer bytes than asked only at the
/// end of the file. Blocking: called off the async runtime ([`analyze`] runs the analysis in
/// `spawn_blocking`).
pub trait ByteRanges: Send + Sync {
    fn size(&self) -> u64;
    fn read_range(&self, offset: u64, len: u64) -> io::Result<Bytes>;
}

/// The bytes of a form upload, already in memory.
impl ByteRanges for Bytes {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_range(&self, offset: u64, len: u64) -> io::Result<Bytes> {
        let start = usize::try_from(offset.min(self.size())).unwrap_or(self.len());
        let end =
            usize::try_from(offset.saturating_add(len).min(self.size())).unwrap_or(self.len());
        Ok(self.slice(start..end))
    }
}

/// An S3 object of known size, read with ranged GETs (pinned to `etag` when given, so a file
/// rewritten meanwhile fails the analysis instead of mixing two versions).
pub struct S3Object {
    pub storage: Storage,
    pub key: String,
    pub etag: Option<String>,
    pub size: u64,
    runtime: tokio::runtime::Handle,
}

impl S3Object {
    /// Must be called on the runtime the reads will use.
    pub fn new(storage: Storage, key: String, etag: Option<String>, size: u64) -> Self {
        Self {
            storage,
            key,
            etag,
            size,
            runtime: tokio::runtime::Handle::current(),
        }
    }
}

impl ByteRanges for S3Object {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_range(&self, offset: u64, len: u64) -> io::Result<Bytes> {
        if offset >= self.size || len == 0 {
            return Ok(Bytes::new());
        }
        let len = len.min(self.size - offset);
        let read = self
            .storage
            .read_range(&self.key, self.etag.as_deref(), offset, len);
        self.runtime
            .block_on(read)
            .map_err(|err| io::Error::other(err.to_string()))
    }
}

/// Analyses a file of type `mime`; `None` when the type is not analysed at all. A file of an
/// analysable type that fails is logged once (with `what`, which names it) and answers
/// empty fields.
pub async fn analyze(mime: &str, source: Arc<dyn ByteRanges>, what: &str) -> Option<Analysis> {
    let outcome = try_analyze(mime, source).await?;
    Some(outcome.unwrap_or_else(|why| {
        tracing::info!(file = what, mime, reason = %why, "media not analysed: its width, height and duration stay null");
        Analysis::default()
    }))
}

/// [`analyze`] without the log line: `None` when the type is not analysed, else what the
/// analysis found or why it found nothing.
pub async fn try_analyze(
    mime: &str,
    source: Arc<dyn ByteRanges>,
) -> Option<Result<Analysis, NotAnalysed>> {
    let kind = Kind::of(mime)?;
    let mime = mime.to_owned();
    let outcome = tokio::task::spawn_blocking(move || analyze_blocking(kind, &mime, source))
        .await
        .unwrap_or_else(|err| Err(NotAnalysed::Crashed(err.to_string())));
    Some(outcome)
}

/// The analysis itself, blocking. Public for the tests and the CLI.
pub fn analyze_blocking(
    kind: Kind,
    mime: &str,
    source: Arc<dyn ByteRanges>,
) -> Result<Analysis, NotAnalysed> {
    match kind {
        Kind::Image => image(&source),
        Kind::Container => container(mime, source),
    }
}

/// Width and height from the headers in the first window that holds them, turned by the
/// EXIF orientation.
fn image(source: &Arc<dyn ByteRanges>) -> Result<Analysis, NotAnalysed> {
    let mut last_error = String::new();
    for window in IMAGE_WINDOWS {
        let head = source
            .read_range(0, window)
            .map_err(|e| NotAnalysed::Io(e.to_string()))?;
        match imagesize::blob_size(&head) {
            Ok(size) => return Ok(displayed(size.width, size.height, exif_orientation(&head))),
            Err(err) => last_error = err.to_string(),
        }
        if (head.len() as u64) < window {
            // The whole file was read: more would not help.
            return Err(NotAnalysed::Unreadable(last_error));
        }
    }
    Err(NotAnalysed::Unreadable(format!(
        "{last_error} (within the first {} bytes)",
        IMAGE_WINDOWS[IMAGE_WINDOWS.len() - 1]
    )))
}

/// The EXIF orientation tag (1–8), if the headers carry one. Previews turn their pixels by it.
pub fn exif_orientation(head: &[u8]) -> Option<u32> {
    let exif = exif::Reader::new()
        .read_from_container(&mut Cursor::new(head))
        .ok()?;
    exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)?
        .value
        .get_uint(0)
}

/// The size as displayed: orientations 5–8 turn the image a quarter, swapping the sides.
/// Sides that do not fit the columns are unknown, not clamped.
fn displayed(width: usize, height: usize, orientation: Option<u32>) -> Analysis {
    let (width, height) = match orientation {
        Some(5..=8) => (height, width),
        _ => (width, height),
    };
    Analysis {
        width: side(width),
        height: side(height),
        duration_ms: None,
    }
}

/// A side in pixels as the columns hold it: positive and within `i32`, else unknown.
fn side(pixels: impl TryInto<i32>) -> Option<i32> {
    pixels.try_into().ok().filter(|p| *p > 0)
}

/// Dimensions and duration from the container's track headers.
fn container(mime: &str, source: Arc<dyn ByteRanges>) -> Result<Analysis, NotAnalysed> {
    let mut reader = BudgetedReader::new(source);
    let (spent, source_error) = (reader.spent.clone(), reader.source_error.clone());
    // Walked first, with the same cached blocks that the container reader then uses.
    let size = reader.source.size();
    let quarter_turn = is_mp4(mime) && turn::turned_a_quarter(&mut reader, size) == Some(true);
    reader.position = 0;
    let stream = MediaSourceStream::new(Box::new(reader), MediaSourceStreamOptions::default());
    let mut hint = Hint::new();
    hint.mime_type(mime);
    let format = symphonia::default::get_probe()
        .probe(
            &hint,
            stream,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|err| {
            // The reader's own failures first: the format's error only echoes them.
            if let Some(why) = source_error.lock().ok().and_then(|e| e.clone()) {
                NotAnalysed::Io(why)
            } else if spent.load(std::sync::atomic::Ordering::Relaxed) > READ_BUDGET {
                NotAnalysed::OverBudget
            } else {
                NotAnalysed::Unreadable(err.to_string())
            }
        })?;
    let found = from_headers(format.media_info(), format.tracks());
    Ok(match quarter_turn {
        true => Analysis {
            width: found.height,
            height: found.width,
            ..found
        },
        false => found,
    })
}

fn is_mp4(mime: &str) -> bool {
    matches!(mime, "video/mp4" | "video/quicktime")
}

/// The first video track's size; the duration the container gives the media as a whole, or
/// else the longest track's.
fn from_headers(media: &MediaInfo, tracks: &[Track]) -> Analysis {
    let video = tracks.iter().find_map(|t| match &t.codec_params {
        Some(CodecParameters::Video(v)) => Some((v.width?, v.height?)),
        _ => None,
    });
    let whole = media
        .time_base
        .zip(media.duration)
        .and_then(|(base, units)| to_ms(base, units));
    let duration_ms = whole.or_else(|| tracks.iter().filter_map(duration_ms).max());
    Analysis {
        width: video.and_then(|(w, _)| side(w)),
        height: video.and_then(|(_, h)| side(h)),
        duration_ms,
    }
}

/// A track's duration in milliseconds, from its duration or its frame count and time base;
/// `None` when the container does not say, or says something that does not fit.
fn duration_ms(track: &Track) -> Option<i64> {
    let time_base = track.time_base?;
    let units = track
        .duration
        .or_else(|| track.num_frames.map(symphonia::core::units::Duration::from))?;
    to_ms(time_base, units)
}

fn to_ms(base: TimeBase, units: symphonia::core::units::Duration) -> Option<i64> {
    let time = base.calc_duration(units)?;
    i64::try_from(time.as_millis()).ok().filter(|ms| *ms > 0)
}

/// `Read + Seek` over a [`ByteRanges`], fetching [`BLOCK`]-aligned windows once each and
/// refusing to fetch more than [`READ_BUDGET`] bytes in all.
struct BudgetedReader {
    source: Arc<dyn ByteRanges>,
    position: u64,
    blocks: HashMap<u64, Bytes>,
    spent: Arc<std::sync::atomic::AtomicU64>,
    /// Why a read of the source failed (S3 unreachable, the object changed), if one did.
    source_error: Arc<std::sync::Mutex<Option<String>>>,
}

impl BudgetedReader {
    fn new(source: Arc<dyn ByteRanges>) -> Self {
        Self {
            source,
            position: 0,
            blocks: HashMap::new(),
            spent: Arc::default(),
            source_error: Arc::default(),
        }
    }

    fn block(&mut self, index: u64) -> io::Result<Bytes> {
        if let Some(block) = self.blocks.get(&index) {
            return Ok(block.clone());
        }
        use std::sync::atomic::Ordering::Relaxed;
        let total = self.spent.fetch_add(BLOCK, Relaxed) + BLOCK;
        if total > READ_BUDGET {
            return Err(io::Error::other("read budget exhausted"));
        }
        let block = self
            .source
            .read_range(index * BLOCK, BLOCK)
            .inspect_err(|err| {
                if let Ok(mut slot) = self.source_error.lock() {
                    slot.get_or_insert_with(|| err.to_string());
                }
            })?;
        self.blocks.insert(index, block.clone());
        Ok(block)
    }
}

impl Read for BudgetedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.position >= self.source.size() {
            return Ok(0);
        }
        let (index, within) = (self.position / BLOCK, self.position % BLOCK);
        let block = self.block(index)?;
        let available = block.len().saturating_sub(within as usize);
        let n = available.min(buf.len());
        buf[..n].copy_from_slice(&block[within as usize..within as usize + n]);
        self.position += n as u64;
        Ok(n)
    }
}

impl Seek for BudgetedReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::End(delta) => self.source.size().checked_add_signed(delta),
            SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        };
        self.position = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek out of range"))?;
        Ok(self.position)
    }
}

impl MediaSource for BudgetedReader {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        Some(self.source.size())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orientations_five_to_eight_swap_the_sides() {
        for o in 5..=8 {
            assert_eq!(displayed(4000, 3000, Some(o)).width, Some(3000));
        }
        for o in [None, Some(1), Some(3), Some(9)] {
            assert_eq!(displayed(4000, 3000, o).width, Some(4000));
        }
    }

    #[test]
    fn sides_too_large_for_the_columns_are_unknown_not_clamped() {
        let a = displayed(usize::MAX, 10, None);
        assert_eq!((a.width, a.height), (None, Some(10)));
    }

    #[test]
    fn a_side_of_zero_pixels_is_unknown() {
        assert_eq!(displayed(0, 10, None).width, None);
    }

    #[test]
    fn only_the_types_with_a_reader_are_analysed() {
        assert_eq!(Kind::of("image/jpeg"), Some(Kind::Image));
        assert_eq!(Kind::of("video/quicktime"), Some(Kind::Container));
        assert_eq!(Kind::of("image/svg+xml"), None);
        assert_eq!(Kind::of("application/pdf"), None);
        assert_eq!(Kind::of("video/x-msvideo"), None);
        assert_eq!(Kind::of("audio/aac"), None);
    }

    #[test]
    fn in_memory_ranges_stop_at_the_end_and_never_panic() {
        let bytes = Bytes::from_static(b"0123456789");
        assert_eq!(&bytes.read_range(8, 100).unwrap()[..], b"89");
        assert!(bytes.read_range(u64::MAX, u64::MAX).unwrap().is_empty());
    }

    #[test]
    fn the_reader_refuses_to_read_past_its_budget() {
        let big = Bytes::from(vec![0u8; (READ_BUDGET + 2 * BLOCK) as usize]);
        let mut reader = BudgetedReader::new(Arc::new(big));
        let mut sink = Vec::new();
        let err = reader.read_to_end(&mut sink).unwrap_err();
        assert_eq!(err.to_string(), "read budget exhausted");
        assert_eq!(sink.len() as u64, READ_BUDGET);
    }

    #[test]
    fn a_seek_before_the_start_is_an_error_not_a_wrap() {
        let mut reader = BudgetedReader::new(Arc::new(Bytes::from_static(b"abc")));
        assert!(reader.seek(SeekFrom::Current(-1)).is_err());
        assert_eq!(reader.seek(SeekFrom::End(-1)).unwrap(), 2);
    }
}
