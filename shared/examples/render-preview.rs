//! Renders one preview in-process and reports it, for measuring `shared::preview::render`:
//! `cargo run --release -p shared --example render-preview -- photo.jpg thumb [out.jpg] [runs]`
//! prints `{"bytes", "width", "height", "ms"}` (the fastest of `runs`, default 1) and writes
//! the preview to `out.jpg` when given. `/usr/bin/time -v` around it gives the peak RSS.

use std::time::Instant;

use shared::preview::{PreviewSize, render};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, size, rest @ ..] = args.as_slice() else {
        eprintln!("usage: render-preview FILE thumb|medium [OUT] [RUNS]");
        std::process::exit(2);
    };
    let size = PreviewSize::from_name(size).expect("thumb or medium");
    let original = std::fs::read(input).expect("the input file");
    let runs: usize = rest
        .get(1)
        .map_or(1, |n| n.parse().expect("a number of runs"));
    let mut best = f64::MAX;
    let mut last = None;
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let rendered = render(&original, size);
        best = best.min(started.elapsed().as_secs_f64() * 1000.0);
        last = Some(rendered);
    }
    match last.expect("one run") {
        Ok(preview) => {
            if let Some(out) = rest.first() {
                std::fs::write(out, &preview.bytes).expect("the output file");
            }
            println!(
                "{{\"bytes\": {}, \"width\": {}, \"height\": {}, \"ms\": {best:.2}}}",
                preview.bytes.len(),
                preview.width,
                preview.height
            );
        }
        Err(err) => {
            println!(
                "{{\"error\": \"{}\", \"message\": \"{err}\", \"ms\": {best:.2}}}",
                err.code()
            );
            std::process::exit(1);
        }
    }
}
