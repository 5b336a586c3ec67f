//! Image previews: the pure part. [`render`] turns an original image's bytes into a JPEG that
//! fits a [`PreviewSize`]'s box, with no S3 and no database, so the function, the tests and a
//! bench binary all time the same code.
//!
//! What a preview is: the first frame (animated GIF and WebP), turned by the EXIF orientation,
//! alpha flattened onto white, scaled down to fit the box (never up), sRGB, as a baseline JPEG
//! carrying no metadata at all (the encoder writes only the JFIF header: no EXIF, GPS, XMP,
//! ICC or comments; nothing of the original is copied).
//!
//! Colour: an embedded RGB ICC profile (JPEG APP2, PNG iCCP, WebP ICCP: Display P3, Adobe RGB…)
//! is converted to sRGB with moxcms once the frame is resized; pixels without one are taken as
//! sRGB. CMYK JPEGs are converted naively
//! (`r = (1 − c)(1 − k)` and so on), which is right for the Adobe-inverted files
//! Photoshop and ImageMagick write and approximate for press profiles.
//!
//! Hostile input: the dimensions are read from the header (`imagesize`) and checked against
//! [`MAX_PIXELS`] before any decoder runs, and each decoder gets a memory limit as well, so a
//! decompression bomb is refused without allocating its frame. A JPEG larger than twice the
//! box decodes with DCT scaling (1/2, 1/4 or 1/8: a 12 MP photo decodes as ~0.2 MP for a thumb),
//! a non-interlaced PNG is read row by row and box-shrunk as it is read (its full frame is
//! never held), and at most one decoded frame of the original is held at a time.

use std::io::Cursor;

use fast_image_resize as fr;

/// The most pixels an original may have to get a preview: 50 MP (8,660 × 5,773; a 48 MP phone
/// photo is 8,064 × 6,048). Above it the answer is 422 `IMAGE_TOO_LARGE`, decided from the
/// header alone. The decoded frame of a 50 MP PNG is 200 MB as RGBA, which is what sizes the
/// function's memory (README "Previews").
pub const MAX_PIXELS: u64 = 50_000_000;

/// The largest original a preview is made of, in bytes: the original is read whole into
/// memory, and a resumable upload may be an image of many GiB. A 50 MP photo is well under it.
pub const MAX_SOURCE_BYTES: u64 = 64 * 1024 * 1024;

/// JPEG quality of every preview, chosen by measurement on nine camera photographs (README
/// "Previews"): at 80 a 320 px thumb is 2.9–24.0 KB (median 12.5) and a 1280 px medium
/// 20–302 KB (median 102); 85 costs +16 % for both, 90 nearly doubles them (median 23 KB
/// thumb, 215 KB medium), 75 saves 11 %. Thumbs stay under a few tens of KB at 80.
pub const JPEG_QUALITY: u8 = 80;

/// The content type of every preview.
pub const CONTENT_TYPE: &str = "image/jpeg";

/// The file extension of every preview's object.
pub const EXTENSION: &str = "jpg";

/// A preview size: a square box the preview fits inside, never upscaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PreviewSize {
    /// 320 px on the long edge: grids.
    Thumb,
    /// 1280 px on the long edge: a lightbox.
    Medium,
}

impl PreviewSize {
    pub const ALL: [PreviewSize; 2] = [PreviewSize::Thumb, PreviewSize::Medium];

    /// The name in URLs, keys and the media JSON's `previews` object.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Thumb => "thumb",
            Self::Medium => "medium",
        }
    }

    /// The box's side in pixels.
    pub const fn long_edge(self) -> u32 {
        match self {
            Self::Thumb => 320,
            Self::Medium => 1280,
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|size| size.name() == name)
    }
}

/// A preview, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
}

/// Why an original has no preview. Each is the image's fault, never the service's: the edge
/// answers them with 422 and [`PreviewError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreviewError {
    /// Not a raster format previews are made of (SVG is never rasterised).
    #[error("previews are made of JPEG, PNG, GIF and WebP images only")]
    NotPreviewable,
    /// More pixels than [`MAX_PIXELS`], from the header: refused before decoding.
    #[error(
        "the image is {width}x{height} pixels; previews are made of images up to {MAX_PIXELS} pixels"
    )]
    TooLarge { width: u64, height: u64 },
    /// A file of more than [`MAX_SOURCE_BYTES`]: refused before it is read.
    #[error(
        "the image file is {bytes} bytes; previews are made of files up to {MAX_SOURCE_BYTES} bytes"
    )]
    FileTooLarge { bytes: u64 },
    /// Truncated, corrupt, or a variant the decoders do not read.
    #[error("the image cannot be decoded: {0}")]
    Undecodable(String),
}

impl PreviewError {
    /// The stable machine code of the error answer.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotPreviewable => "PREVIEW_UNAVAILABLE",
            Self::TooLarge { .. } | Self::FileTooLarge { .. } => "IMAGE_TOO_LARGE",
            Self::Undecodable(_) => "IMAGE_UNREADABLE",
        }
    }
}

/// The raster formats previews are made of, told by their signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Jpeg,
    Png,
    Gif,
    WebP,
}

impl Format {
    fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(Self::Gif)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Self::WebP)
        } else {
            None
        }
    }
}

/// Whether previews are offered for a media item of this stored type.
pub fn is_previewable_type(file_type: &str) -> bool {
    matches!(
        file_type,
        "image/jpeg" | "image/png" | "image/gif" | "image/webp"
    )
}

/// The preview of `original` at `size`. Pure and blocking: call it from a blocking task.
pub fn render(original: &[u8], size: PreviewSize) -> Result<Rendered, PreviewError> {
    render_at_quality(original, size, JPEG_QUALITY)
}

/// [`render`] at another JPEG quality (1–100): for the bench that measures what each
/// quality costs in bytes; previews are always made at [`JPEG_QUALITY`].
pub fn render_at_quality(
    original: &[u8],
    size: PreviewSize,
    quality: u8,
) -> Result<Rendered, PreviewError> {
    let format = Format::sniff(original).ok_or(PreviewError::NotPreviewable)?;
    let (stored_w, stored_h) = header_size(original)?;
    check_pixels(stored_w, stored_h)?;
    let orientation = crate::analysis::exif_orientation(original).unwrap_or(1);
    let turned = (5..=8).contains(&orientation);
    // The box applies to the picture as displayed; decoding works on it as stored.
    let (shown_w, shown_h) = if turned {
        (stored_h, stored_w)
    } else {
        (stored_w, stored_h)
    };
    let (fit_w, fit_h) = fit(shown_w, shown_h, size.long_edge());
    let (want_w, want_h) = if turned {
        (fit_h, fit_w)
    } else {
        (fit_w, fit_h)
    };
    let Decoded { frame, profile } = decode(format, original, want_w, want_h)?;
    let scaled = resize(frame, want_w, want_h)?;
    // Converted once it is small: the same colours at a fraction of the pixels (libvips'
    // thumbnail does the same).
    let srgb = to_srgb(scaled, profile.as_deref());
    let shown = orient(srgb, orientation);
    let bytes = encode(&shown, quality)?;
    Ok(Rendered {
        bytes,
        content_type: CONTENT_TYPE,
        width: shown.width,
        height: shown.height,
    })
}

/// The stored width and height from the header only.
fn header_size(original: &[u8]) -> Result<(u32, u32), PreviewError> {
    let size = imagesize::blob_size(original)
        .map_err(|err| PreviewError::Undecodable(format!("no readable header: {err}")))?;
    let side = |n: usize| u32::try_from(n).ok().filter(|n| *n > 0);
    match (side(size.width), side(size.height)) {
        (Some(w), Some(h)) => Ok((w, h)),
        _ => Err(PreviewError::Undecodable(format!(
            "the header declares {}x{} pixels",
            size.width, size.height
        ))),
    }
}

fn check_pixels(width: u32, height: u32) -> Result<(), PreviewError> {
    let (width, height) = (u64::from(width), u64::from(height));
    if width * height > MAX_PIXELS {
        return Err(PreviewError::TooLarge { width, height });
    }
    Ok(())
}

/// The size that fits `width` × `height` inside a `edge` square, keeping the aspect ratio and
/// never growing; each side at least one pixel.
pub fn fit(width: u32, height: u32, edge: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= edge {
        return (width, height);
    }
    let scale = |side: u32| {
        ((u64::from(side) * u64::from(edge) + u64::from(long) / 2) / u64::from(long)).max(1) as u32
    };
    (scale(width), scale(height))
}

/// A decoded frame: 8-bit RGB, rows packed.
struct Frame {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

/// The most bytes a decoder may allocate: one RGBA frame at the pixel limit, plus slack for
/// its tables.
const DECODER_MEMORY_LIMIT: usize = (MAX_PIXELS as usize) * 4 + 16 * 1024 * 1024;

/// A decoded frame and the ICC profile its original embeds, if any.
struct Decoded {
    frame: Frame,
    profile: Option<Vec<u8>>,
}

fn decode(format: Format, bytes: &[u8], want_w: u32, want_h: u32) -> Result<Decoded, PreviewError> {
    let decoded = match format {
        Format::Jpeg => decode_jpeg(bytes, want_w, want_h),
        Format::Png => decode_png(bytes, want_w, want_h),
        Format::Gif => decode_gif(bytes).map(|frame| Decoded {
            frame,
            profile: None,
        }),
        Format::WebP => decode_webp(bytes),
    }?;
    let frame = &decoded.frame;
    // The header `imagesize` read may not be the one the decoder trusted (a GIF frame larger
    // than its screen, say): the decoded size is checked as well.
    check_pixels(frame.width, frame.height)?;
    Ok(decoded)
}

fn undecodable(err: impl std::fmt::Display) -> PreviewError {
    PreviewError::Undecodable(err.to_string())
}

fn decode_jpeg(bytes: &[u8], want_w: u32, want_h: u32) -> Result<Decoded, PreviewError> {
    use jpeg_decoder::PixelFormat;
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.set_max_decoding_buffer_size(DECODER_MEMORY_LIMIT);
    let clamp = |n: u32| u16::try_from(n).unwrap_or(u16::MAX);
    // DCT scaling: the smallest of 1/8, 1/4, 1/2, 1 that still covers the wanted size.
    let (width, height) = decoder
        .scale(clamp(want_w), clamp(want_h))
        .map_err(undecodable)?;
    let pixels = decoder.decode().map_err(undecodable)?;
    let info = decoder
        .info()
        .ok_or_else(|| undecodable("no frame header"))?;
    let (width, height) = (u32::from(width), u32::from(height));
    let rgb = match info.pixel_format {
        PixelFormat::RGB24 => pixels,
        PixelFormat::L8 => gray_to_rgb(&pixels),
        PixelFormat::L16 => gray_to_rgb(&pixels.chunks_exact(2).map(|p| p[0]).collect::<Vec<_>>()),
        PixelFormat::CMYK32 => cmyk_to_rgb(&pixels),
    };
    Ok(Decoded {
        frame: frame(width, height, rgb)?,
        profile: decoder.icc_profile(),
    })
}

/// A PNG has no shrink-on-load of its own: its rows are read one at a time, turned into RGB
/// (alpha flattened), and averaged in integer boxes into a frame still at least
/// [`RESIZE_LEFT`] times the wanted size, so the full decoded frame (48 MB as RGBA at
/// 12 MP) is never held; the final Lanczos3 does the rest. An interlaced PNG's rows come in
/// seven passes, so it is decoded whole.
fn decode_png(bytes: &[u8], want_w: u32, want_h: u32) -> Result<Decoded, PreviewError> {
    let limits = png::Limits {
        bytes: DECODER_MEMORY_LIMIT,
    };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), limits);
    // Palette and low bit depths expand to 8 bits, 16-bit samples keep their high byte.
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(undecodable)?;
    let (width, height) = (reader.info().width, reader.info().height);
    check_pixels(width, height)?;
    let profile = reader.info().icc_profile.as_ref().map(|p| p.to_vec());
    if reader.info().interlaced {
        let frame = decode_png_whole(reader)?;
        return Ok(Decoded { frame, profile });
    }
    let (color, _) = reader.output_color_type();
    let mut shrinker = BoxShrink::new(width, height, box_factor(width, height, want_w, want_h));
    let mut rgb_row = vec![0u8; width as usize * 3];
    // The first frame: an APNG's default image.
    for _ in 0..height {
        let row = reader
            .next_row()
            .map_err(undecodable)?
            .ok_or_else(|| undecodable("the image data ends before its last row"))?;
        row_to_rgb(color, row.data(), &mut rgb_row)?;
        shrinker.push_row(&rgb_row);
    }
    Ok(Decoded {
        frame: shrinker.finish(),
        profile,
    })
}

fn decode_png_whole<R: std::io::BufRead + std::io::Seek>(
    mut reader: png::Reader<R>,
) -> Result<Frame, PreviewError> {
    let buffer_size = reader
        .output_buffer_size()
        .ok_or_else(|| undecodable("the frame does not fit in memory"))?;
    let mut buffer = vec![0; buffer_size];
    // The first frame: an APNG's default image.
    let info = reader.next_frame(&mut buffer).map_err(undecodable)?;
    buffer.truncate(info.buffer_size());
    let rgb = match info.color_type {
        png::ColorType::Rgb => buffer,
        png::ColorType::Rgba => rgba_on_white(buffer),
        png::ColorType::Grayscale => gray_to_rgb(&buffer),
        png::ColorType::GrayscaleAlpha => gray_alpha_on_white(&buffer),
        png::ColorType::Indexed => return Err(undecodable("an indexed PNG was not expanded")),
    };
    frame(info.width, info.height, rgb)
}

/// One decoded PNG row (8-bit samples, after EXPAND and STRIP_16) as RGB on white.
fn row_to_rgb(color: png::ColorType, row: &[u8], rgb: &mut [u8]) -> Result<(), PreviewError> {
    let channels = match color {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Indexed => return Err(undecodable("an indexed PNG was not expanded")),
    };
    if row.len() < rgb.len() / 3 * channels {
        return Err(undecodable("a row is shorter than the image is wide"));
    }
    for (out, pixel) in rgb.chunks_exact_mut(3).zip(row.chunks_exact(channels)) {
        let value = match *pixel {
            [r, g, b] => [r, g, b],
            [r, g, b, a] => over_white(&[r, g, b, a]),
            [g] => [g, g, g],
            [g, a] => over_white(&[g, g, g, a]),
            _ => unreachable!("chunks of 1 to 4 samples"),
        };
        out.copy_from_slice(&value);
    }
    Ok(())
}

/// The box shrink leaves the final Lanczos3 at least this much of the downscale
/// (numerator, denominator: 1.5×). A box average alone aliases fine patterns; a resize of 1.5×
/// or more filters that out, the room a JPEG's DCT scaling leaves as well (1/8 for a 12 MP
/// thumb: 500 px for 320).
const RESIZE_LEFT: (u64, u64) = (3, 2);

/// The integer box side that shrinks `width` × `height` towards `want_w` × `want_h` while
/// leaving [`RESIZE_LEFT`] of the scale to the resize; 1 when there is no room.
fn box_factor(width: u32, height: u32, want_w: u32, want_h: u32) -> u32 {
    let (num, den) = RESIZE_LEFT;
    let room = |have: u32, want: u32| u64::from(have) * den / (u64::from(want.max(1)) * num);
    let factor = room(width, want_w).min(room(height, want_h)).max(1);
    u32::try_from(factor).unwrap_or(u32::MAX)
}

/// A streaming integer box shrink of RGB rows: each output pixel is the rounded mean of a
/// `factor` × `factor` box; the last `width % factor` columns and `height % factor` rows, less
/// than one output pixel, are dropped (as libvips' shrink does).
struct BoxShrink {
    factor: u32,
    in_width: usize,
    out_width: u32,
    out_height: u32,
    /// Per output sample of the band being summed.
    sums: Vec<u32>,
    rows_in_band: u32,
    rgb: Vec<u8>,
}

impl BoxShrink {
    fn new(width: u32, height: u32, factor: u32) -> Self {
        let (out_width, out_height) = (width / factor, height / factor);
        let samples = out_width as usize * 3;
        BoxShrink {
            factor,
            in_width: width as usize,
            out_width,
            out_height,
            sums: if factor > 1 {
                vec![0; samples]
            } else {
                Vec::new()
            },
            rows_in_band: 0,
            rgb: Vec::with_capacity(samples * out_height as usize),
        }
    }

    fn push_row(&mut self, row: &[u8]) {
        if self.rgb.len() >= self.out_width as usize * 3 * self.out_height as usize {
            return; // a dropped remainder row
        }
        if self.factor == 1 {
            self.rgb.extend_from_slice(&row[..self.in_width * 3]);
            return;
        }
        let factor = self.factor as usize;
        for (x, sum) in self.sums.chunks_exact_mut(3).enumerate() {
            for pixel in row[x * factor * 3..(x + 1) * factor * 3].chunks_exact(3) {
                sum[0] += u32::from(pixel[0]);
                sum[1] += u32::from(pixel[1]);
                sum[2] += u32::from(pixel[2]);
            }
        }
        self.rows_in_band += 1;
        if self.rows_in_band == self.factor {
            let area = self.factor * self.factor;
            self.rgb
                .extend(self.sums.iter().map(|&sum| ((sum + area / 2) / area) as u8));
            self.sums.fill(0);
            self.rows_in_band = 0;
        }
    }

    fn finish(self) -> Frame {
        Frame {
            width: self.out_width,
            height: self.out_height,
            rgb: self.rgb,
        }
    }
}

fn decode_gif(bytes: &[u8]) -> Result<Frame, PreviewError> {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    options.set_memory_limit(gif::MemoryLimit::Bytes(
        std::num::NonZeroU64::new(DECODER_MEMORY_LIMIT as u64).expect("not zero"),
    ));
    let mut decoder = options.read_info(Cursor::new(bytes)).map_err(undecodable)?;
    let (screen_w, screen_h) = (u32::from(decoder.width()), u32::from(decoder.height()));
    check_pixels(screen_w, screen_h)?;
    let first = decoder
        .read_next_frame()
        .map_err(undecodable)?
        .ok_or_else(|| undecodable("no frame"))?;
    // The first frame painted on its logical screen (white where it does not reach).
    let mut rgb = vec![255u8; screen_w as usize * screen_h as usize * 3];
    let (left, top) = (u32::from(first.left), u32::from(first.top));
    let (frame_w, frame_h) = (u32::from(first.width), u32::from(first.height));
    for y in 0..frame_h.min(screen_h.saturating_sub(top)) {
        for x in 0..frame_w.min(screen_w.saturating_sub(left)) {
            let src = ((y * frame_w + x) * 4) as usize;
            let Some(pixel) = first.buffer.get(src..src + 4) else {
                continue;
            };
            let dst = (((top + y) * screen_w + left + x) * 3) as usize;
            rgb[dst..dst + 3].copy_from_slice(&over_white(pixel));
        }
    }
    frame(screen_w, screen_h, rgb)
}

fn decode_webp(bytes: &[u8]) -> Result<Decoded, PreviewError> {
    let mut decoder = image_webp::WebPDecoder::new(Cursor::new(bytes)).map_err(undecodable)?;
    decoder.set_memory_limit(DECODER_MEMORY_LIMIT);
    let (width, height) = decoder.dimensions();
    check_pixels(width, height)?;
    let size = decoder
        .output_buffer_size()
        .ok_or_else(|| undecodable("the frame does not fit in memory"))?;
    let mut buffer = vec![0; size];
    // An animated WebP gives its first frame here.
    decoder.read_image(&mut buffer).map_err(undecodable)?;
    let rgb = if decoder.has_alpha() {
        rgba_on_white(buffer)
    } else {
        buffer
    };
    // A profile that cannot be read is no profile: the pixels are taken as sRGB.
    let profile = decoder.icc_profile().ok().flatten();
    Ok(Decoded {
        frame: frame(width, height, rgb)?,
        profile,
    })
}

fn frame(width: u32, height: u32, rgb: Vec<u8>) -> Result<Frame, PreviewError> {
    if rgb.len() < width as usize * height as usize * 3 {
        return Err(undecodable("the decoder gave fewer pixels than its header"));
    }
    Ok(Frame { width, height, rgb })
}

fn gray_to_rgb(gray: &[u8]) -> Vec<u8> {
    gray.iter().flat_map(|&g| [g, g, g]).collect()
}

fn gray_alpha_on_white(pixels: &[u8]) -> Vec<u8> {
    pixels
        .chunks_exact(2)
        .flat_map(|p| over_white(&[p[0], p[0], p[0], p[1]]))
        .collect()
}

/// RGBA to RGB in the same buffer (each pixel's 3 bytes land at or before its 4), so a
/// frame at the pixel limit is never held twice.
fn rgba_on_white(mut pixels: Vec<u8>) -> Vec<u8> {
    let count = pixels.len() / 4;
    for i in 0..count {
        let rgb = over_white(&pixels[i * 4..i * 4 + 4]);
        pixels[i * 3..i * 3 + 3].copy_from_slice(&rgb);
    }
    pixels.truncate(count * 3);
    pixels
}

/// A pixel with alpha flattened onto white: JPEG has no alpha, and a transparent PNG's hidden
/// colour is often black.
fn over_white(pixel: &[u8]) -> [u8; 3] {
    let alpha = u16::from(pixel[3]);
    let blend = |c: u8| ((u16::from(c) * alpha + 255 * (255 - alpha) + 127) / 255) as u8;
    [blend(pixel[0]), blend(pixel[1]), blend(pixel[2])]
}

/// CMYK ink (0 is none, as jpeg-decoder gives it after undoing the Adobe inversion that
/// Photoshop, libjpeg and Pillow write) to RGB, naively, without a press profile.
fn cmyk_to_rgb(pixels: &[u8]) -> Vec<u8> {
    pixels
        .chunks_exact(4)
        .flat_map(|p| {
            let paper = 255 - u16::from(p[3]);
            let channel = |ink: u8| (((255 - u16::from(ink)) * paper + 127) / 255) as u8;
            [channel(p[0]), channel(p[1]), channel(p[2])]
        })
        .collect()
}

/// The frame scaled to `width` × `height` (a SIMD convolution; a no-op at the same size).
fn resize(frame: Frame, width: u32, height: u32) -> Result<Frame, PreviewError> {
    if frame.width == width && frame.height == height {
        return Ok(frame);
    }
    // DCT scaling may have left the frame smaller than wanted (a rounding pixel): never grow.
    let (width, height) = (width.min(frame.width), height.min(frame.height));
    let mut rgb = frame.rgb;
    rgb.truncate(frame.width as usize * frame.height as usize * 3);
    let source =
        fr::images::Image::from_vec_u8(frame.width, frame.height, rgb, fr::PixelType::U8x3)
            .map_err(undecodable)?;
    let mut target = fr::images::Image::new(width, height, fr::PixelType::U8x3);
    let options =
        fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3));
    fr::Resizer::new()
        .resize(&source, &mut target, &options)
        .map_err(undecodable)?;
    Ok(Frame {
        width,
        height,
        rgb: target.into_vec(),
    })
}

/// The frame converted from the colour space of its ICC `profile` to sRGB (relative
/// colorimetric, as libvips' `icc_transform` and browsers do). No profile, one that cannot be
/// read or used, or one that is not RGB (a CMYK JPEG is converted naively, a grey image's
/// profile only sets its tone curve) leaves the pixels as they are, taken as sRGB: a profile
/// never makes a preview fail.
fn to_srgb(frame: Frame, profile: Option<&[u8]>) -> Frame {
    let Some(source) = profile
        .and_then(|bytes| moxcms::ColorProfile::new_from_slice(bytes).ok())
        .filter(|source| source.color_space == moxcms::DataColorSpace::Rgb)
    else {
        return frame;
    };
    let options = moxcms::TransformOptions {
        rendering_intent: moxcms::RenderingIntent::RelativeColorimetric,
        ..Default::default()
    };
    let Ok(transform) = source.create_transform_8bit(
        moxcms::Layout::Rgb,
        &moxcms::ColorProfile::new_srgb(),
        moxcms::Layout::Rgb,
        options,
    ) else {
        return frame;
    };
    let samples = frame.width as usize * frame.height as usize * 3;
    let mut rgb = vec![0u8; samples];
    match transform.transform(&frame.rgb[..samples], &mut rgb) {
        Ok(()) => Frame { rgb, ..frame },
        Err(_) => frame,
    }
}

/// The frame turned as its EXIF orientation says (1: as stored; 2–8: mirrored and/or turned),
/// so that the preview needs no orientation tag of its own.
fn orient(frame: Frame, orientation: u32) -> Frame {
    if !(2..=8).contains(&orientation) {
        return frame;
    }
    let (w, h) = (frame.width as usize, frame.height as usize);
    let turned = orientation >= 5;
    let (out_w, out_h) = if turned { (h, w) } else { (w, h) };
    let mut rgb = vec![0u8; w * h * 3];
    for y in 0..out_h {
        for x in 0..out_w {
            // Where the displayed pixel (x, y) sits in the stored frame.
            let (sx, sy) = match orientation {
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (y, h - 1 - x),
                7 => (w - 1 - y, h - 1 - x),
                _ => (w - 1 - y, x),
            };
            let src = (sy * w + sx) * 3;
            let dst = (y * out_w + x) * 3;
            rgb[dst..dst + 3].copy_from_slice(&frame.rgb[src..src + 3]);
        }
    }
    Frame {
        width: out_w as u32,
        height: out_h as u32,
        rgb,
    }
}

fn encode(frame: &Frame, quality: u8) -> Result<Vec<u8>, PreviewError> {
    let (width, height) = (
        u16::try_from(frame.width).map_err(undecodable)?,
        u16::try_from(frame.height).map_err(undecodable)?,
    );
    let mut bytes = Vec::with_capacity(64 * 1024);
    let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, quality);
    encoder.set_optimized_huffman_tables(true);
    encoder
        .encode(&frame.rgb, width, height, jpeg_encoder::ColorType::Rgb)
        .map_err(undecodable)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_fit_their_box_and_never_grow() {
        assert_eq!(fit(4000, 3000, 320), (320, 240));
        assert_eq!(fit(3000, 4000, 1280), (960, 1280));
        assert_eq!(fit(200, 100, 320), (200, 100));
        assert_eq!(fit(100_000, 1, 320), (320, 1));
    }

    #[test]
    fn size_names_are_found_again() {
        for size in PreviewSize::ALL {
            assert_eq!(PreviewSize::from_name(size.name()), Some(size));
        }
        assert_eq!(PreviewSize::from_name("huge"), None);
        assert!(PreviewSize::Thumb.long_edge() < PreviewSize::Medium.long_edge());
    }

    #[test]
    fn an_svg_is_never_rasterised() {
        let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>"#;
        assert_eq!(
            render(svg, PreviewSize::Thumb),
            Err(PreviewError::NotPreviewable)
        );
    }

    #[test]
    fn orientation_six_turns_a_quarter_clockwise() {
        // Stored 2×1: red, blue. Orientation 6 displays it 1×2: red on top.
        let frame = Frame {
            width: 2,
            height: 1,
            rgb: vec![255, 0, 0, 0, 0, 255],
        };
        let shown = orient(frame, 6);
        assert_eq!((shown.width, shown.height), (1, 2));
        assert_eq!(shown.rgb, vec![255, 0, 0, 0, 0, 255]);
    }

    #[test]
    fn the_box_leaves_the_resize_at_least_one_and_a_half_times() {
        // 12 MP to a thumb: 8 (500 × 375 for 320 × 240); to a medium: 2 (2000 × 1500).
        assert_eq!(box_factor(4000, 3000, 320, 240), 8);
        assert_eq!(box_factor(4000, 3000, 1280, 960), 2);
        // No room: under 3 × 1.5 the box does nothing.
        assert_eq!(box_factor(1900, 1425, 1280, 960), 1);
        assert_eq!(box_factor(300, 200, 300, 200), 1);
    }

    #[test]
    fn the_box_shrink_averages_each_box_and_drops_the_remainder() {
        // 5 × 3 grey rows of 0, 10, 20, 30, 40 (+ 100 on the second row): boxes of 2 give
        // 2 × 1; the fifth column and the third row are less than a box and dropped.
        let mut shrink = BoxShrink::new(5, 3, 2);
        for offset in [0u8, 100, 200] {
            let row: Vec<u8> = (0..5u8).flat_map(|x| [x * 10 + offset; 3]).collect();
            shrink.push_row(&row);
        }
        let frame = shrink.finish();
        assert_eq!((frame.width, frame.height), (2, 1));
        // (0 + 10 + 100 + 110) / 4 = 55, (20 + 30 + 120 + 130) / 4 = 75.
        assert_eq!(frame.rgb, vec![55, 55, 55, 75, 75, 75]);
    }

    fn png_of(width: u32, height: u32, color: png::ColorType, pixels: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, width, height);
        encoder.set_color(color);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().expect("header");
        writer.write_image_data(pixels).expect("pixels");
        writer.finish().expect("finish");
        bytes
    }

    #[test]
    fn a_png_read_row_by_row_matches_its_whole_decode() {
        let (width, height) = (37u32, 23u32);
        let rgba: Vec<u8> = (0..width * height)
            .flat_map(|i| [(i * 7) as u8, (i * 13) as u8, (i * 29) as u8, (i * 3) as u8])
            .collect();
        let bytes = png_of(width, height, png::ColorType::Rgba, &rgba);
        let by_rows = decode_png(&bytes, width, height).expect("rows").frame;
        let mut decoder = png::Decoder::new(Cursor::new(&bytes[..]));
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let whole = decode_png_whole(decoder.read_info().expect("info")).expect("whole");
        assert_eq!((by_rows.width, by_rows.height), (width, height));
        assert_eq!(by_rows.rgb, whole.rgb);
    }

    #[test]
    fn a_large_png_is_shrunk_while_read() {
        // 400 × 300 grey with alpha for a 50 × 38 box: boxes of 5, so 80 × 60 is all it holds.
        let pixels: Vec<u8> = (0..400u32 * 300)
            .flat_map(|i| [(i % 251) as u8, 255])
            .collect();
        let bytes = png_of(400, 300, png::ColorType::GrayscaleAlpha, &pixels);
        let frame = decode_png(&bytes, 50, 38).expect("decoded").frame;
        assert_eq!((frame.width, frame.height), (80, 60));
        assert_eq!(frame.rgb.len(), 80 * 60 * 3);
    }

    /// The mean and the largest absolute difference of two RGB buffers.
    fn difference(a: &[u8], b: &[u8]) -> (f64, u8) {
        assert_eq!(a.len(), b.len());
        let diffs = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y));
        let (sum, max) = diffs.fold((0u64, 0u8), |(sum, max), d| {
            (sum + u64::from(d), max.max(d))
        });
        (sum as f64 / a.len() as f64, max)
    }

    /// libvips' sRGB conversion of `adobe-rgb.png` (samples/make-icc.sh).
    fn libvips_srgb() -> Frame {
        let reference = include_bytes!("../tests/samples/adobe-rgb.srgb.png");
        decode_png(reference, 128, 80).expect("reference").frame
    }

    #[test]
    fn an_adobe_rgb_png_becomes_the_srgb_libvips_makes_of_it() {
        let original = include_bytes!("../tests/samples/adobe-rgb.png");
        let Decoded { frame, profile } = decode_png(original, 128, 80).expect("decoded");
        assert!(profile.is_some(), "the iCCP profile is read");
        let reference = libvips_srgb();
        let (ignored, _) = difference(&frame.rgb, &reference.rgb);
        let converted = to_srgb(frame, profile.as_deref());
        let (mean, max) = difference(&converted.rgb, &reference.rgb);
        eprintln!("profile ignored: mean {ignored:.2}; converted: mean {mean:.3}, max {max}");
        assert!(ignored > 4.0, "the profile must matter: {ignored}");
        assert!(mean < 0.5 && max <= 2, "mean {mean}, max {max}");
    }

    #[test]
    fn an_adobe_rgb_jpeg_becomes_the_srgb_libvips_makes_of_it() {
        // 4:4:4, so the decoders differ by their IDCT's rounding only.
        let original = include_bytes!("../tests/samples/adobe-rgb.jpg");
        let reference = include_bytes!("../tests/samples/adobe-rgb.jpg.srgb.png");
        let reference = decode_png(reference, 128, 80).expect("reference").frame;
        let Decoded { frame, profile } = decode_jpeg(original, 128, 80).expect("decoded");
        assert!(profile.is_some(), "the APP2 profile is read");
        let (ignored, _) = difference(&frame.rgb, &reference.rgb);
        let converted = to_srgb(frame, profile.as_deref());
        let (mean, max) = difference(&converted.rgb, &reference.rgb);
        eprintln!("profile ignored: mean {ignored:.2}; converted: mean {mean:.3}, max {max}");
        assert!(ignored > 4.0, "the profile must matter: {ignored}");
        assert!(mean < 0.5 && max <= 6, "mean {mean}, max {max}");
    }

    #[test]
    fn a_preview_of_a_profiled_original_carries_no_profile() {
        let original = include_bytes!("../tests/samples/adobe-rgb.jpg");
        let preview = render(original, PreviewSize::Thumb).expect("rendered");
        let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(&preview.bytes));
        decoder.decode().expect("the preview decodes");
        assert_eq!(decoder.icc_profile(), None);
        assert_eq!((preview.width, preview.height), (128, 80));
    }

    #[test]
    fn transparent_pixels_become_white() {
        assert_eq!(over_white(&[0, 0, 0, 0]), [255, 255, 255]);
        assert_eq!(over_white(&[10, 20, 30, 255]), [10, 20, 30]);
    }
}
