//! `render-preview FILE SIZE [ITERATIONS] [OUT] [QUALITY]`: times `shared::preview::render`
//! in-process on one file (at another JPEG quality with QUALITY: `render_at_quality`), as the preview function runs it once the original's bytes are in memory (reading
//! the file is not timed). Prints one JSON line: every render's time, the median and the
//! fastest, and the preview's size in bytes and pixels; writes the last preview to OUT when
//! given.
//!
//! `scripts/bench_previews.py` runs it next to `vipsthumbnail` on the same files, and under
//! GNU time with one iteration for the peak RSS of a process that renders one preview.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use shared::preview::{JPEG_QUALITY, PreviewSize, render_at_quality};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, size, rest @ ..] = args.as_slice() else {
        bail!("usage: render-preview FILE thumb|medium [ITERATIONS] [OUT] [QUALITY]");
    };
    let size = PreviewSize::from_name(size).with_context(|| format!("no preview size {size}"))?;
    let iterations: usize = match rest.first() {
        Some(n) => n.parse().context("ITERATIONS")?,
        None => 1,
    };
    let quality: u8 = match rest.get(2) {
        Some(q) => q.parse().context("QUALITY")?,
        None => JPEG_QUALITY,
    };
    let original = std::fs::read(file).with_context(|| file.clone())?;

    let mut took = Vec::with_capacity(iterations);
    let mut last = None;
    for _ in 0..iterations.max(1) {
        let start = Instant::now();
        let rendered = render_at_quality(&original, size, quality)
            .map_err(|err| anyhow::anyhow!("{file}: {err}"))?;
        took.push(start.elapsed());
        last = Some(rendered);
    }
    let rendered = last.context("no render")?;
    if let Some(out) = rest.get(1) {
        std::fs::write(out, &rendered.bytes).with_context(|| out.clone())?;
    }
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    let samples: Vec<f64> = took.iter().map(ms).collect();
    took.sort_unstable();
    println!(
        "{}",
        serde_json::json!({
            "file": file,
            "size": size.name(),
            "iterations": took.len(),
            "samples_ms": samples,
            "median_ms": ms(&took[(took.len() - 1) / 2]),
            "min_ms": ms(&took[0]),
            "bytes": rendered.bytes.len(),
            "width": rendered.width,
            "height": rendered.height,
            "content_type": rendered.content_type,
            "quality": quality,
        })
    );
    Ok(())
}
