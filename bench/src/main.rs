//! `plugs-media-bench`: measures plugs-media against its physical floor on the local stack
//! (PostgreSQL and SeaweedFS, from `scripts/lib.sh`) and prints one table; `scripts/bench.sh`
//! runs it on a release build and writes `bench/RESULTS.md`, `scripts/test.sh` runs it with
//! `--smoke` (a few iterations of every path) so it cannot rot.

// Every endpoint's future nests in one `match` (latency::call): deeper than the default
// limit lets rustc compute its layout.
#![recursion_limit = "256"]

mod latency;
mod runtime_api;
mod stats;
mod world;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine as _;
use clap::Parser;
use stats::{Samples, ms, ratio};

/// Benchmarks of plugs-media against their floor: cold start, warm latency, memory, size.
#[derive(Parser)]
struct Args {
    /// A few iterations of every measurement, to prove the harness works (numbers not meaningful).
    #[arg(long)]
    smoke: bool,
    /// Where the function binaries are (target/release, or target/debug for --smoke).
    #[arg(long)]
    bin_dir: PathBuf,
    /// Sizes of the packaged functions: `name<TAB>binary bytes<TAB>zip bytes` lines.
    #[arg(long)]
    packages: Option<PathBuf>,
    /// Criterion's output folder, to include the micro-benchmarks' medians.
    #[arg(long)]
    criterion_dir: Option<PathBuf>,
    /// Write the report (Markdown) here too.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Measure only the warm latency of the endpoints whose name contains this (for profiling).
    #[arg(long)]
    only: Option<String>,
    /// No log subscriber, to see what the request logs cost (with --only).
    #[arg(long)]
    without_logs: bool,
    /// The command that produced the report, for the record.
    #[arg(long, default_value = "plugs-media-bench")]
    command: String,
    /// Cold starts read the database URL and the JWT key from the stack's Secrets Manager
    /// (the functions get DATABASE_SECRET_ARN and JWT_SECRET_ARN, as on AWS) instead of
    /// DATABASE_URL and SECRET_KEY.
    #[arg(long)]
    secrets_manager: bool,
    /// What was built (profile, compiler, target), for the record.
    #[arg(long, default_value = "")]
    build: String,
}

const INIT_TARGET_MS: f64 = 20.0;
const PACKAGE_TARGET_BYTES: u64 = 6_000_000;
const MICRO: [(&str, &str); 4] = [
    (
        "jwt_verify",
        "JWT verification (`Authenticator::verify`, HS256)",
    ),
    (
        "event_media_key",
        "key generation (`keys::event_media_key`)",
    ),
    (
        "multipart_4mib",
        "multipart parsing, 4 MiB file (`api::upload_form::read`)",
    ),
    ("presigned_get", "presign GET (`Storage::presigned_get`)"),
];

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    // The functions log every request; the same subscriber, writing nowhere, keeps that cost in.
    if !args.without_logs {
        use shared::telemetry::{DEFAULT_FILTER, Format, subscriber};
        use tracing_subscriber::util::SubscriberInitExt as _;
        let filter = tracing_subscriber::EnvFilter::new(DEFAULT_FILTER);
        subscriber(Format::Json, filter, std::io::sink).init();
    }

    let (cold_runs, iterations) = if args.smoke {
        (
            3,
            latency::Iterations {
                warm_up: 2,
                measured: 5,
            },
        )
    } else {
        (
            20,
            latency::Iterations {
                warm_up: 20,
                measured: 300,
            },
        )
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let logs = std::env::temp_dir().join(format!("plugs-media-bench-{}", std::process::id()));
    std::fs::create_dir_all(&logs)?;

    eprintln!("setting up the benchmark database and bucket");
    let mut world = world::World::create().await?;
    if args.secrets_manager {
        world.use_secrets_manager().await?;
    }
    let world: &'static world::World = Box::leak(Box::new(world));
    if let Some(only) = &args.only {
        for m in latency::run(world, &iterations, only).await? {
            println!(
                "{}: p50 {} ms, p99 {} ms; floor p50 {} ms, p99 {} ms",
                m.name,
                ms(m.endpoint.p50()),
                ms(m.endpoint.p99()),
                ms(m.floor.p50()),
                ms(m.floor.p99())
            );
        }
        return Ok(());
    }
    let mut api = runtime_api::RuntimeApi::start().await?;

    let mut functions: Vec<String> = std::fs::read_dir(root.join("functions"))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    functions.sort();
    let mut cold = Vec::new();
    for name in &functions {
        eprintln!("cold starts: {name}");
        let binary = args.bin_dir.join(name);
        let log = logs.join(format!("{name}.log"));
        let samples =
            runtime_api::cold_starts(&binary, &mut api, &world.function_env, cold_runs, &log)
                .await?;
        cold.push((name.clone(), samples));
    }

    eprintln!("memory: upload-media serving a 4 MiB upload");
    let file_size = 4 * world::MIB;
    let event = upload_event(world, file_size)?;
    let memory = runtime_api::upload_memory(
        &args.bin_dir.join("upload-media"),
        &mut api,
        &world.function_env,
        &event,
        file_size,
        &logs.join("upload-media-memory.log"),
    )
    .await?;

    eprintln!(
        "warm latency: {} warm-up + {} measured requests per endpoint and per floor",
        iterations.warm_up, iterations.measured
    );
    let warm = latency::run(world, &iterations, "").await?;
    let checkout = latency::pool_checkout(world, &iterations).await?;

    let packages = match &args.packages {
        Some(path) => read_packages(path)?,
        None => Vec::new(),
    };
    let micro = match &args.criterion_dir {
        Some(dir) => read_criterion(dir)?,
        None => Vec::new(),
    };

    let report = report(
        &args,
        &cold,
        &memory,
        &warm,
        &checkout,
        &packages,
        &micro,
        &iterations,
    );
    println!("{report}");
    if let Some(out) = &args.out {
        std::fs::write(out, &report).with_context(|| out.display().to_string())?;
        eprintln!("wrote {}", out.display());
    }
    std::fs::remove_dir_all(&logs).ok();
    Ok(())
}

/// The API Gateway event of a multipart upload of `size` bytes, as Lambda hands it over.
fn upload_event(world: &world::World, size: usize) -> Result<Vec<u8>> {
    let text = world.request_text(
        ("upload-media", "upload-photo"),
        world.event,
        uuid::Uuid::nil(),
    );
    let mut event: serde_json::Value = serde_json::from_str(&text.0)?;
    let form = world::multipart(&world::jpeg(size));
    event["headers"]["content-type"] = world::multipart_content_type().into();
    event["headers"]["content-length"] = form.len().to_string().into();
    event["body"] = base64::engine::general_purpose::STANDARD
        .encode(&form)
        .into();
    event["isBase64Encoded"] = true.into();
    Ok(serde_json::to_vec(&event)?)
}

fn read_packages(path: &Path) -> Result<Vec<(String, u64, u64)>> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut cols = line.split('\t');
            let name = cols.next().context("name")?.to_owned();
            let binary = cols.next().context("binary size")?.parse()?;
            let zipped = cols.next().context("zip size")?.parse()?;
            Ok((name, binary, zipped))
        })
        .collect()
}

/// Criterion's median estimate (ns) of each micro-benchmark.
fn read_criterion(dir: &Path) -> Result<Vec<(&'static str, f64)>> {
    MICRO
        .iter()
        .map(|(id, label)| {
            let path = dir.join(id).join("new").join("estimates.json");
            let json: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(&path).with_context(|| path.display().to_string())?,
            )?;
            let ns = json["median"]["point_estimate"]
                .as_f64()
                .with_context(|| format!("no median in {}", path.display()))?;
            Ok((*label, ns))
        })
        .collect()
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[allow(clippy::too_many_arguments)]
fn report(
    args: &Args,
    cold: &[(String, Samples)],
    memory: &runtime_api::UploadMemory,
    warm: &[latency::Measured],
    checkout: &Samples,
    packages: &[(String, u64, u64)],
    micro: &[(&str, f64)],
    iterations: &latency::Iterations,
) -> String {
    let mut r = String::new();
    let _ = writeln!(r, "# Benchmark results\n");
    if args.smoke {
        let _ = writeln!(
            r,
            "**Smoke run**: a few iterations to prove every path works; the numbers mean nothing.\n"
        );
    }
    let _ = writeln!(r, "- Machine: {}", machine());
    let _ = writeln!(
        r,
        "- Date: {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    let _ = writeln!(r, "- Command: `{}`", args.command);
    if !args.build.is_empty() {
        let _ = writeln!(r, "- Build: {}", args.build);
    }
    let _ = writeln!(r, "- Binaries: `{}`", args.bin_dir.display());
    let _ = writeln!(
        r,
        "- Stack: PostgreSQL and SeaweedFS on loopback (started by `scripts/lib.sh`)\n"
    );

    let _ = writeln!(
        r,
        "## Cold start: exec to the first poll for an invocation\n"
    );
    let secrets = if args.secrets_manager {
        "read from the local Secrets Manager (DATABASE_SECRET_ARN, JWT_SECRET_ARN), as on AWS"
    } else {
        "given as values (DATABASE_URL, SECRET_KEY); `--secrets-manager` reads them as on AWS"
    };
    let _ = writeln!(r, "Secrets: {secrets}.\n");
    let _ = writeln!(
        r,
        "| function | runs | median ms | max ms | target ≤ {INIT_TARGET_MS} ms |"
    );
    let _ = writeln!(r, "| --- | ---: | ---: | ---: | --- |");
    for (name, s) in cold {
        let met = s.max().as_secs_f64() * 1000.0 <= INIT_TARGET_MS;
        let _ = writeln!(
            r,
            "| {name} | {} | {} | {} | {} |",
            s.len(),
            ms(s.p50()),
            ms(s.max()),
            verdict(met)
        );
    }

    let _ = writeln!(r, "\n## Warm latency against the floor\n");
    let _ = writeln!(
        r,
        "{} warm-up + {} measured requests each, endpoint and floor alternating. Ratio = endpoint / floor.\n",
        iterations.warm_up, iterations.measured
    );
    let _ = writeln!(
        r,
        "| endpoint | p50 ms | p99 ms | floor p50 ms | floor p99 ms | ratio p50 | ratio p99 | target (p50) | floor = |"
    );
    let _ = writeln!(
        r,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"
    );
    for m in warm {
        let p50 = ratio(m.endpoint.p50(), m.floor.p50());
        let target = match m.target {
            Some(t) => format!("≤ {t}×: {}", verdict(p50 <= t)),
            None => "–".into(),
        };
        let _ = writeln!(
            r,
            "| {} | {} | {} | {} | {} | {:.2}× | {:.2}× | {} | {} |",
            m.name,
            ms(m.endpoint.p50()),
            ms(m.endpoint.p99()),
            ms(m.floor.p50()),
            ms(m.floor.p99()),
            p50,
            ratio(m.endpoint.p99(), m.floor.p99()),
            target,
            m.floor_is
        );
        for (label, s) in &m.also {
            let _ = writeln!(
                r,
                "| {} vs {label} | | | {} | {} | {:.2}× | {:.2}× | | {label} (same bytes, same client) |",
                m.name,
                ms(s.p50()),
                ms(s.p99()),
                ratio(m.endpoint.p50(), s.p50()),
                ratio(m.endpoint.p99(), s.p99()),
            );
        }
    }
    let _ = writeln!(
        r,
        "\nPool checkout alone (part of every floor; a verified recycle is one round trip): p50 {} ms, p99 {} ms.",
        ms(checkout.p50()),
        ms(checkout.p99())
    );

    let _ = writeln!(r, "\n## Memory: `upload-media` serving one 4 MiB upload\n");
    let peak = memory.after.hwm;
    let limit = memory.baseline.rss + 3 * memory.file_size as u64;
    let _ = writeln!(
        r,
        "| baseline RSS (after init) | peak RSS (VmHWM) | peak − baseline | target: peak ≤ baseline + 3 × file ({}) |",
        mib(limit)
    );
    let _ = writeln!(r, "| ---: | ---: | ---: | --- |");
    let _ = writeln!(
        r,
        "| {} | {} | {} ({:.1}× the file) | {} |",
        mib(memory.baseline.rss),
        mib(peak),
        mib(peak.saturating_sub(memory.baseline.rss)),
        peak.saturating_sub(memory.baseline.rss) as f64 / memory.file_size as f64,
        verdict(peak <= limit)
    );

    if !packages.is_empty() {
        let _ = writeln!(r, "\n## Package size: the binary zipped as `bootstrap`\n");
        let _ = writeln!(r, "| function | binary | zipped | target ≤ 6 MB |");
        let _ = writeln!(r, "| --- | ---: | ---: | --- |");
        for (name, binary, zipped) in packages {
            let _ = writeln!(
                r,
                "| {name} | {:.2} MB | {:.2} MB | {} |",
                *binary as f64 / 1e6,
                *zipped as f64 / 1e6,
                verdict(*zipped <= PACKAGE_TARGET_BYTES)
            );
        }
    }

    if !micro.is_empty() {
        let _ = writeln!(r, "\n## Micro-benchmarks (criterion, median)\n");
        let _ = writeln!(r, "| function | median |");
        let _ = writeln!(r, "| --- | ---: |");
        for (label, ns) in micro {
            let text = if *ns >= 1e6 {
                format!("{:.2} ms", ns / 1e6)
            } else if *ns >= 1e3 {
                format!("{:.2} µs", ns / 1e3)
            } else {
                format!("{ns:.0} ns")
            };
            let _ = writeln!(r, "| {label} | {text} |");
        }
    }
    r
}

/// CPU model, cores, memory and kernel, from /proc.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kb: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{model}, {cores} cores, {:.0} GiB, Linux {} ({}), shared with other work",
        mem_kb as f64 / 1024.0 / 1024.0,
        kernel.trim(),
        std::env::consts::ARCH
    )
}
