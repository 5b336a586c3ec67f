//! `plugs-media`: the operator's commands. Each subcommand is one small function; the work
//! itself is done by the `shared` crate, the same code the Lambda functions run, except for
//! what only an operator runs (`migrate-files`, `analyze`), which this crate's library holds.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use plugs_media::analyze;
use plugs_media::migrate_files::{self, Item, Migrator, Outcome, Progress, Summary};
use secrecy::{ExposeSecret, SecretString};
use shared::auth::issue;
use shared::config::Config;
use shared::db;
use shared::db::Unnamed;
use shared::preview::PreviewSize;
use shared::preview_link::PreviewSigner;
use shared::storage::{ObjectMetadata, Storage};
use uuid::Uuid;

mod template_cors;

#[derive(Parser)]
#[command(
    name = "plugs-media",
    version,
    about = "Operator commands for the plugs-media API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply the SQL files of migrations/ that the database has not seen yet.
    Migrate {
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: SecretString,
    },
    /// Move the files of rows still on local storage (`/uploads/...`) into the bucket.
    ///
    /// Resumable: run it again after any interruption. Exit code 0 when every row it looked
    /// at is in the bucket; 3 when it ran to the end but some rows are still local (missing
    /// file, conflict, rejected file, failure, or a --verify mismatch); 1 when it could not
    /// run. Local files are never deleted.
    MigrateFiles {
        /// The folder that `/uploads/...` URLs point into (the old server's `uploads/`).
        #[arg(long)]
        uploads_dir: PathBuf,
        /// Check every file and print the plan and totals; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Files in flight at once.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        concurrency: u16,
        /// Handle at most this many rows (the oldest first).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        limit: Option<u64>,
        /// After the run, read every object written or adopted back and compare size and MD5.
        #[arg(long)]
        verify: bool,
        /// Also write the summary and every row's outcome to this JSON file.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Fill in width, height and duration_ms of stored files that have none yet, reading
    /// each object's headers in bounded ranged GETs.
    ///
    /// Resumable: a row is marked when it is analysed (a file whose headers cannot be read is
    /// marked too, with nulls, and not tried again), so a rerun carries on where the last one
    /// stopped. Exit code 0 when every row it looked at is marked; 3 when some are not (object
    /// missing, or S3 or the database failed: the next run retries them); 1 when it could
    /// not run.
    Analyze {
        /// Count the rows that would be analysed, by type; read and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Rows fetched per query.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        batch_size: i64,
        /// Files analysed at once.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        concurrency: u16,
        /// Analyse at most this many rows (in id order).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        limit: Option<u64>,
    },
    /// Check the configuration, the bucket, the database and the JWT secret, one line each.
    Doctor {
        /// Also write, read and delete a probe object (with SSE) to prove write access.
        #[arg(long)]
        write: bool,
    },
    /// Print an access token shaped like The Plugs' own, for local testing.
    DevToken {
        #[arg(long)]
        user_id: Uuid,
        #[arg(long, env = "SECRET_KEY", hide_env_values = true)]
        secret_key: SecretString,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 24 * 3600)]
        ttl: i64,
    },
    /// Remove expired direct uploads and stray temp objects; report orphan objects and zones
    /// with no live file (and with --delete-orphans delete them) and rows whose object is
    /// missing.
    Sweep {
        /// Delete objects under events/ that no row points to, and soft-delete zones with
        /// no live file (default: report only).
        #[arg(long)]
        delete_orphans: bool,
        /// Leave objects and zones younger than this alone (default SWEEP_GRACE_SECONDS or
        /// 3600).
        #[arg(long)]
        grace_seconds: Option<u64>,
    },
    /// Create the bucket if it is missing (local stacks), optionally giving it the CORS rules
    /// of the template's bucket for pages from the given origins (direct uploads from a
    /// browser meet the rule AWS applies).
    DevBucket {
        /// The SAM template whose bucket CORS rules (methods, allowed and exposed headers, max
        /// age) to apply, with --cors-origin as the origins.
        #[arg(long, value_name = "TEMPLATE", requires = "cors_origins")]
        cors_from_template: Option<PathBuf>,
        /// An origin allowed instead of the template's, e.g. http://localhost:8001
        /// (repeatable; matched exactly).
        #[arg(long = "cors-origin", requires = "cors_from_template")]
        cors_origins: Vec<String>,
    },
    /// Print the `cargo lambda watch` configuration that routes like API Gateway, made from
    /// the endpoint registry (for `cargo lambda --global FILE watch`).
    WatchRouter,
    /// Rewrite the endpoint table of the README (between its marker lines) from the endpoint
    /// registry; the rest of the file is kept as it is.
    ReadmeEndpoints {
        #[arg(long, default_value = "README.md")]
        readme: PathBuf,
    },
    /// Create (or find) a demo user and an event it owns; prints USER_ID= and EVENT_ID=.
    SeedDemo {
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: SecretString,
        #[arg(long, default_value = "organiser@example.com")]
        email: String,
    },
    /// Make the events/ fixtures invocable as they are: create the events and media items
    /// their paths name (the events owned by the demo organiser, each media item with an
    /// object in the bucket; what exists is kept), and write copies carrying a token of that
    /// organiser under --out. Prints each function of the registry and its ready fixture.
    DevFixtures {
        /// The fixtures: `<function>/<case>.json` files.
        #[arg(long, default_value = "events")]
        events_dir: PathBuf,
        /// Where the ready copies go, in the same layout.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "organiser@example.com")]
        email: String,
        #[arg(long, env = "SECRET_KEY", hide_env_values = true)]
        secret_key: SecretString,
        /// Signs the preview fixtures' URLs.
        #[arg(long, env = "PREVIEW_SIGNING_KEY", hide_env_values = true)]
        preview_signing_key: SecretString,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Migrate { database_url } => migrate(&database_url).await,
        Command::WatchRouter => {
            print!("{}", shared::endpoint::watch_router_toml());
            Ok(true)
        }
        Command::ReadmeEndpoints { readme } => readme_endpoints(&readme),
        Command::DevBucket {
            cors_from_template,
            cors_origins,
        } => dev_bucket(cors_from_template.as_deref(), &cors_origins).await,
        Command::Sweep {
            delete_orphans,
            grace_seconds,
        } => sweep(delete_orphans, grace_seconds).await,
        Command::MigrateFiles {
            uploads_dir,
            dry_run,
            concurrency,
            limit,
            verify,
            report,
        } => {
            let options = migrate_files::Options {
                uploads_dir,
                dry_run,
                concurrency: usize::from(concurrency),
                limit: limit.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
                verify,
            };
            return match run_migrate_files(&options, report.as_deref()).await {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(NOT_CLEAN),
                Err(err) => {
                    eprintln!("error: {err:#}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Analyze {
            dry_run,
            batch_size,
            concurrency,
            limit,
        } => {
            let options = analyze::Options {
                dry_run,
                batch_size,
                concurrency: usize::from(concurrency),
                limit,
            };
            return match run_analyze(&options).await {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(NOT_CLEAN),
                Err(err) => {
                    eprintln!("error: {err:#}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Doctor { write } => doctor(write).await,
        Command::DevToken {
            user_id,
            secret_key,
            ttl,
        } => {
            println!("{}", dev_token(user_id, &secret_key, ttl));
            Ok(true)
        }
        Command::SeedDemo {
            database_url,
            email,
        } => seed_demo(&database_url, &email).await,
        Command::DevFixtures {
            events_dir,
            out,
            email,
            secret_key,
            preview_signing_key,
        } => dev_fixtures(&events_dir, &out, &email, &secret_key, &preview_signing_key).await,
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn connect(database_url: &SecretString) -> anyhow::Result<db::Client> {
    let pool = db::pool(database_url, 1)?;
    pool.get().await.context("cannot connect to the database")
}

async fn migrate(database_url: &SecretString) -> anyhow::Result<bool> {
    let mut client = connect(database_url).await?;
    let applied = db::migrate::run(&mut client)
        .await
        .context("migration failed")?;
    if applied.is_empty() {
        println!(
            "database is up to date ({} migrations)",
            db::migrate::MIGRATIONS.len()
        );
    }
    for name in applied {
        println!("applied {name}");
    }
    Ok(true)
}

/// Writes the registry's endpoint table into `readme`; says whether it changed.
fn readme_endpoints(readme: &std::path::Path) -> anyhow::Result<bool> {
    let text = std::fs::read_to_string(readme)
        .with_context(|| format!("cannot read {}", readme.display()))?;
    let updated = shared::endpoint::readme_with_endpoint_table(&text)
        .with_context(|| readme.display().to_string())?;
    if updated == text {
        println!("{}: the endpoint table is up to date", readme.display());
    } else {
        std::fs::write(readme, updated)
            .with_context(|| format!("cannot write {}", readme.display()))?;
        println!(
            "{}: endpoint table rewritten from the registry",
            readme.display()
        );
    }
    Ok(true)
}

async fn dev_bucket(
    cors_template: Option<&std::path::Path>,
    cors_origins: &[String],
) -> anyhow::Result<bool> {
    use aws_sdk_s3::types::CorsConfiguration;
    let config = Config::from_env()?;
    let storage = Storage::from_config(&config).await;
    let client = storage.client();
    if storage.probe().await.is_err() {
        client
            .create_bucket()
            .bucket(storage.bucket())
            .send()
            .await
            .with_context(|| format!("cannot create bucket {}", storage.bucket()))?;
        println!("created bucket {}", storage.bucket());
    }
    if let Some(template) = cors_template {
        let text = std::fs::read_to_string(template)
            .with_context(|| format!("cannot read {}", template.display()))?;
        let rules = template_cors::bucket_cors_rules(&text, cors_origins)
            .with_context(|| format!("{}: the bucket's CORS rules", template.display()))?;
        client
            .put_bucket_cors()
            .bucket(storage.bucket())
            .cors_configuration(
                CorsConfiguration::builder()
                    .set_cors_rules(Some(rules))
                    .build()?,
            )
            .send()
            .await
            .context("cannot set the bucket's CORS rules")?;
        println!(
            "bucket {} has the CORS rules of {}, for {}",
            storage.bucket(),
            template.display(),
            cors_origins.join(", ")
        );
    }
    Ok(true)
}

async fn sweep(delete_orphans: bool, grace_seconds: Option<u64>) -> anyhow::Result<bool> {
    use shared::endpoint::SWEEP_UPLOADS;
    let state =
        shared::AppState::for_function::<{ SWEEP_UPLOADS.builds_s3_client() }>(&SWEEP_UPLOADS)
            .await?;
    let mut options = shared::sweep::SweepOptions::from_config(&state.config);
    options.delete_orphans |= delete_orphans;
    if let Some(seconds) = grace_seconds {
        options.grace = std::time::Duration::from_secs(seconds);
    }
    let target = shared::sweep::SweepTarget {
        db: &state.db,
        storage: state.storage(),
    };
    let report = shared::sweep::run(&target, &options).await.map_err(|err| {
        anyhow::anyhow!(
            "sweep failed: {err}: {}",
            std::error::Error::source(&err)
                .map(ToString::to_string)
                .unwrap_or_default()
        )
    })?;
    println!(
        "expired uploads removed:     {}",
        report.expired_uploads_removed
    );
    println!(
        "stray temp objects removed:  {}",
        report.stray_temp_objects_removed
    );
    println!("objects under events/:       {}", report.objects_checked);
    println!(
        "orphan objects:              {} ({} deleted)",
        report.orphan_objects.len(),
        report.orphan_objects_deleted
    );
    for key in &report.orphan_objects {
        println!("  orphan  {key}");
    }
    println!(
        "rows missing their object:   {}",
        report.rows_missing_their_object.len()
    );
    for key in &report.rows_missing_their_object {
        println!("  missing {key}");
    }
    println!(
        "preview records forgotten:   {}",
        report.preview_records_forgotten.len()
    );
    for key in &report.preview_records_forgotten {
        println!("  forgot  {key}");
    }
    println!(
        "multipart uploads aborted:   {}",
        report.expired_multipart_uploads_aborted
    );
    println!(
        "zones with no live file:     {} ({} deleted)",
        report.orphan_zones.len(),
        report.orphan_zones_deleted
    );
    for zone_id in &report.orphan_zones {
        println!("  zone    {zone_id}");
    }
    Ok(true)
}

fn dev_token(user_id: Uuid, secret_key: &SecretString, ttl: i64) -> String {
    let claims = issue::access_claims(user_id, ttl);
    issue::sign(
        &claims,
        secret_key.expose_secret(),
        jsonwebtoken::Algorithm::HS256,
    )
}

/// The demo organiser with this email, created if missing.
async fn demo_user(client: &db::Client, email: &str) -> anyhow::Result<Uuid> {
    let row = client
        .query_one_unnamed(
            "insert into users (id, email, full_name) values ($1, $2, 'Demo organiser')
             on conflict (email) do update set email = excluded.email returning id",
            &[&Uuid::new_v4(), &email],
        )
        .await?;
    Ok(row.get(0))
}

async fn seed_demo(database_url: &SecretString, email: &str) -> anyhow::Result<bool> {
    let client = connect(database_url).await?;
    let user_id = demo_user(&client, email).await?;
    let existing = client
        .query_opt_unnamed(
            "select id from events where user_id = $1 and not is_deleted order by created_at limit 1",
            &[&user_id],
        )
        .await?;
    let event_id: Uuid = match existing {
        Some(row) => row.get(0),
        None => client
            .query_one_unnamed(
                "insert into events (id, user_id, title) values ($1, $2, 'Demo event') returning id",
                &[&Uuid::new_v4(), &user_id],
            )
            .await?
            .get(0),
    };
    println!("USER_ID={user_id}");
    println!("EVENT_ID={event_id}");
    Ok(true)
}

/// `migrate-files` ran to the end but left rows on local storage.
const NOT_CLEAN: u8 = 3;

/// Runs the migration with a progress bar; returns whether it was clean.
async fn run_migrate_files(
    options: &migrate_files::Options,
    report: Option<&std::path::Path>,
) -> anyhow::Result<bool> {
    let config = Config::from_env()?;
    let storage = Storage::from_config(&config).await;
    // One connection per file in flight, plus one for the planning queries.
    let pool = shared::open_database(&config, options.concurrency + 1)
        .await?
        .pool();
    let migrator = Migrator {
        pool: &pool,
        storage: &storage,
        config: &config,
    };
    let bar = Bar::new(options.dry_run);
    let summary = migrator
        .run(options, &bar)
        .await
        .context("migrate-files could not run")?;
    bar.bar.finish_and_clear();
    if options.dry_run {
        for item in &summary.items {
            println!("{}", plan_line(item, true));
        }
    }
    print_summary(&summary, options);
    if let Some(path) = report {
        let json = serde_json::to_vec_pretty(&summary)?;
        std::fs::write(path, json)
            .with_context(|| format!("cannot write the report to {}", path.display()))?;
        println!("report written to {}", path.display());
    }
    Ok(summary.is_clean())
}

/// One row of the plan (dry run) or one problem (real run).
fn plan_line(item: &Item, dry_run: bool) -> String {
    let what = match (item.outcome, dry_run) {
        (Outcome::Migrated, true) => "upload",
        (Outcome::Adopted, true) => "adopt",
        (Outcome::Migrated, false) => "migrated",
        (Outcome::Adopted, false) => "adopted",
        (Outcome::Missing, _) => "MISSING",
        (Outcome::Conflict, _) => "CONFLICT",
        (Outcome::Rejected, _) => "REJECTED",
        (Outcome::Failed, _) => "FAILED",
    };
    let target = item.key.as_deref().unwrap_or("-");
    let mut line = format!(
        "{what:<9} {} {} -> {target} ({} bytes)",
        item.media_id, item.file_url, item.bytes
    );
    if let Some(detail) = &item.detail {
        line.push_str(": ");
        line.push_str(detail);
    }
    line
}

fn print_summary(summary: &Summary, options: &migrate_files::Options) {
    let mode = if summary.dry_run {
        " (dry run: nothing was written)"
    } else {
        ""
    };
    let (migrated, adopted) = if summary.dry_run {
        ("to upload", "to adopt")
    } else {
        ("migrated", "adopted")
    };
    println!(
        "migrate-files: {} rows looked at in {:.1} s{mode}",
        summary.considered, summary.seconds
    );
    println!("  {migrated:<16} {}", summary.migrated);
    println!(
        "  {adopted:<16} {} (the same bytes were already at the key)",
        summary.adopted
    );
    println!(
        "  {:<16} {} bytes",
        if summary.dry_run {
            "bytes"
        } else {
            "bytes moved"
        },
        summary.bytes
    );
    println!(
        "  {:<16} {} (rows in the bucket before this run)",
        "already done", summary.already_done
    );
    println!("  {:<16} {}", "missing on disk", summary.missing);
    println!("  {:<16} {}", "conflicts", summary.conflicts);
    println!("  {:<16} {}", "rejected", summary.rejected);
    println!("  {:<16} {}", "failed", summary.failed);
    if options.verify && !summary.dry_run {
        println!(
            "  {:<16} {} ({} mismatches)",
            "verified", summary.verified, summary.verify_failures
        );
    }
    if summary.is_clean() {
        println!("result: clean");
    } else {
        println!(
            "result: NOT clean: {} rows stay on local storage; fix what is listed above and run again",
            summary.missing
                + summary.conflicts
                + summary.rejected
                + summary.failed
                + summary.verify_failures
        );
    }
}

/// The progress bar: bytes as the bar, files in the message. indicatif draws it on stderr
/// only when stderr is a terminal, so logs and tests get the plain lines alone.
struct Bar {
    bar: ProgressBar,
    dry_run: bool,
    files: AtomicU64,
    done: AtomicU64,
}

impl Bar {
    fn new(dry_run: bool) -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} {msg} eta {eta}",
            )
            .expect("the template is valid"),
        );
        Self {
            bar,
            dry_run,
            files: AtomicU64::new(0),
            done: AtomicU64::new(0),
        }
    }
}

impl Progress for Bar {
    fn planned(&self, files: u64, bytes: u64) {
        self.files.store(files, Ordering::Relaxed);
        self.bar.set_length(bytes);
        self.bar.set_message(format!("0/{files} files"));
    }

    fn finished(&self, item: &Item) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        self.bar.inc(item.bytes);
        self.bar.set_message(format!(
            "{done}/{} files",
            self.files.load(Ordering::Relaxed)
        ));
        if !self.dry_run && !matches!(item.outcome, Outcome::Migrated | Outcome::Adopted) {
            // suspend, not println: println is dropped when the bar is hidden.
            self.bar.suspend(|| println!("{}", plan_line(item, false)));
        }
    }

    fn verifying(&self, objects: u64) {
        self.bar.finish_and_clear();
        println!("verifying {objects} objects (size and MD5)");
    }
}

/// `analyze`: the run with a progress bar, then its totals; whether every row is marked.
async fn run_analyze(options: &analyze::Options) -> anyhow::Result<bool> {
    let config = Config::from_env()?;
    let storage = Storage::from_config(&config).await;
    // One connection per file in flight, plus one for the batch queries.
    let pool = shared::open_database(&config, options.concurrency + 1)
        .await?
        .pool();
    let bar = AnalyzeBar::new();
    let summary = analyze::run(&pool, &storage, options, &bar)
        .await
        .context("analyze could not run")?;
    bar.bar.finish_and_clear();
    print_analyze_summary(&summary);
    Ok(summary.is_clean())
}

fn print_analyze_summary(summary: &analyze::Summary) {
    let by_type: Vec<String> = summary
        .pending_by_type
        .iter()
        .map(|(mime, n)| format!("{mime} {n}"))
        .collect();
    let by_type = if by_type.is_empty() {
        "none".to_owned()
    } else {
        by_type.join(", ")
    };
    if summary.dry_run {
        println!(
            "dry run: would analyse {} files ({by_type}); nothing read or written",
            summary.pending()
        );
        return;
    }
    println!(
        "{} files to analyse ({by_type}); looked at {}: {} analysed, {} not analysable \
         (marked, not retried), {} missing, {} failed, {} done by someone else; {:.1}s",
        summary.pending(),
        summary.considered,
        summary.analysed,
        summary.unreadable,
        summary.missing,
        summary.failed,
        summary.skipped,
        summary.seconds
    );
    if !summary.is_clean() {
        println!("run it again to retry the missing and failed files");
    }
}

/// The progress bar of `analyze`: files done of files planned; each file not analysed gets
/// a line above the bar.
struct AnalyzeBar {
    bar: ProgressBar,
}

impl AnalyzeBar {
    fn new() -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} files eta {eta}",
            )
            .expect("the template is valid"),
        );
        Self { bar }
    }
}

impl analyze::Progress for AnalyzeBar {
    fn planned(&self, rows: u64) {
        self.bar.set_length(rows);
    }

    fn finished(&self, id: Uuid, problem: Option<&str>) {
        self.bar.inc(1);
        if let Some(problem) = problem {
            self.bar.suspend(|| println!("{id}: {problem}"));
        }
    }
}

/// One line per check; returns whether all passed.
async fn doctor(write: bool) -> anyhow::Result<bool> {
    let mut report = Report::default();
    let config = match Config::from_env() {
        Ok(config) => {
            report.pass("configuration", "every variable is valid");
            config
        }
        Err(err) => {
            report.fail(
                "configuration",
                &err.to_string(),
                "set the variables listed (see .env.example)",
            );
            return Ok(false);
        }
    };
    match shared::open_authenticator(&config).await {
        Ok(_) => report.pass("jwt secret", "read (SECRET_KEY or JWT_SECRET_ARN)"),
        Err(err) => report.fail(
            "jwt secret",
            &err.to_string(),
            "check JWT_SECRET_ARN, the secret's value and secretsmanager:GetSecretValue",
        ),
    }

    let storage = Storage::from_config(&config).await;
    let bucket_ok = check_bucket(&storage, &mut report).await;
    if write && bucket_ok {
        check_write(&storage, &mut report).await;
    } else if write {
        // Some S3 servers create a missing bucket on the first PUT: never let the probe do it.
        report.skip("bucket write", "not tried: the bucket check failed");
    }
    check_database(&config, &mut report).await;
    Ok(report.all_passed())
}

/// Returns whether the bucket is there and readable.
async fn check_bucket(storage: &Storage, report: &mut Report) -> bool {
    match storage.probe().await {
        Ok(_) => {
            report.pass("bucket", &format!("{} is reachable", storage.bucket()));
            true
        }
        Err(err) => {
            report.fail(
                "bucket",
                &format!("{}: {err}", storage.bucket()),
                err.hint(),
            );
            false
        }
    }
}

async fn check_write(storage: &Storage, report: &mut Report) {
    let key = format!("temp/doctor-probe-{}", Uuid::new_v4());
    let result = async {
        storage
            .put_new(
                &key,
                bytes::Bytes::from_static(b"probe"),
                "text/plain",
                ObjectMetadata::default(),
            )
            .await?;
        let info = storage.info(&key).await?;
        storage.delete(&key).await?;
        Ok::<_, shared::storage::StorageError>(info)
    }
    .await;
    match result {
        Ok(info) if info.server_side_encryption.as_deref() == Some("AES256") => report.pass(
            "bucket write",
            "put, head and delete of an AES256-encrypted probe succeeded",
        ),
        Ok(info) => report.fail(
            "bucket write",
            &format!(
                "the probe was stored with encryption {:?}",
                info.server_side_encryption
            ),
            "enable SSE-S3 (AES256) on the bucket",
        ),
        Err(err) => report.fail("bucket write", &err.to_string(), err.hint()),
    }
}

async fn check_database(config: &Config, report: &mut Report) {
    let connected = async {
        let db = shared::open_database(config, 1).await?;
        Ok::<_, anyhow::Error>(db.get().await?)
    };
    let client = match connected.await {
        Ok(client) => client,
        Err(err) => {
            return report.fail(
                "database",
                &format!("{err:#}"),
                "check DATABASE_URL (or DATABASE_SECRET_ARN and its secret), the network path \
                 (VPC, security group) and sslmode",
            );
        }
    };
    match db::migrate::pending(&client).await {
        Ok(pending) if pending.is_empty() => report.pass("database", "reachable and migrated"),
        Ok(pending) => report.fail(
            "database",
            &format!(
                "{} migrations not applied: {}",
                pending.len(),
                pending.join(", ")
            ),
            "run `plugs-media migrate`",
        ),
        Err(err) => report.fail(
            "database",
            &err.to_string(),
            "check the database user's permissions",
        ),
    }
}

/// The gist of an error on one line: the AWS SDK appends a multi-kilobyte debug dump of the
/// response in parentheses, which belongs in logs, not in a checklist.
fn one_line(detail: &str) -> String {
    const MAX: usize = 200;
    let gist = detail.split(" (").next().unwrap_or(detail);
    let gist = gist.split_whitespace().collect::<Vec<_>>().join(" ");
    if gist.chars().count() > MAX {
        format!("{}…", gist.chars().take(MAX).collect::<String>())
    } else {
        gist
    }
}

#[derive(Default)]
struct Report {
    failures: usize,
}

impl Report {
    fn pass(&mut self, check: &str, detail: &str) {
        println!("ok   {check:<14} {detail}");
    }

    /// One line: what failed, then what to do.
    fn fail(&mut self, check: &str, detail: &str, hint: &str) {
        self.failures += 1;
        println!("FAIL {check:<14} {} | fix: {hint}", one_line(detail));
    }

    fn skip(&mut self, check: &str, detail: &str) {
        println!("skip {check:<14} {detail}");
    }

    fn all_passed(&self) -> bool {
        self.failures == 0
    }
}

/// A valid 1×1 PNG: the object behind each fixture media item.
const FIXTURE_PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82";

/// A fixture of `events/`: where it lies, and its payload.
struct Fixture {
    relative: PathBuf,
    payload: serde_json::Value,
}

impl Fixture {
    fn path_id(&self, name: &str) -> anyhow::Result<Option<Uuid>> {
        self.payload["pathParameters"][name]
            .as_str()
            .map(|id| {
                id.parse()
                    .with_context(|| format!("{}: {name}", self.relative.display()))
            })
            .transpose()
    }

    /// The payload with `token` in its Authorization header (when it has one), and a valid
    /// `expires` and `signature` in a preview URL's query (when it is one).
    fn ready(&self, token: &str, previews: &PreviewSigner) -> anyhow::Result<serde_json::Value> {
        let mut payload = self.payload.clone();
        let headers = payload.get_mut("headers");
        if let Some(auth) = headers.and_then(|headers| headers.get_mut("authorization")) {
            *auth = format!("Bearer {token}").into();
        }
        let size = payload["pathParameters"]["size"]
            .as_str()
            .map(str::to_owned);
        if let (Some(size), Some(media_id)) = (size, self.path_id("media_id")?) {
            let size = PreviewSize::from_name(&size)
                .with_context(|| format!("{}: no such size", self.relative.display()))?;
            let expires = shared::preview_link::expiry(chrono::Utc::now().timestamp());
            let signature = previews.sign(media_id, size, expires);
            payload["rawQueryString"] = format!("expires={expires}&signature={signature}").into();
            payload["queryStringParameters"] =
                serde_json::json!({"expires": expires.to_string(), "signature": signature});
        }
        Ok(payload)
    }
}

/// Every `<function>/<case>.json` under `dir`.
fn read_fixtures(dir: &std::path::Path) -> anyhow::Result<Vec<Fixture>> {
    let mut fixtures = Vec::new();
    for function in
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?
    {
        let function = function?.path();
        if !function.is_dir() {
            continue;
        }
        for case in std::fs::read_dir(&function)? {
            let path = case?.path();
            if path.extension().is_some_and(|ext| ext == "json") {
                let text = std::fs::read_to_string(&path)?;
                fixtures.push(Fixture {
                    relative: path.strip_prefix(dir)?.to_owned(),
                    payload: serde_json::from_str(&text)
                        .with_context(|| format!("{} is not JSON", path.display()))?,
                });
            }
        }
    }
    Ok(fixtures)
}

async fn dev_fixtures(
    events_dir: &std::path::Path,
    out: &std::path::Path,
    email: &str,
    secret_key: &SecretString,
    preview_signing_key: &SecretString,
) -> anyhow::Result<bool> {
    let previews = PreviewSigner::new(preview_signing_key)?;
    let config = Config::from_env()?;
    let storage = Storage::from_config(&config).await;
    let mut client = shared::open_database(&config, 1).await?.get().await?;
    let user_id = demo_user(&client, email).await?;
    let fixtures = read_fixtures(events_dir)?;
    for fixture in &fixtures {
        let Some(event_id) = fixture.path_id("event_id")? else {
            continue;
        };
        seed_fixture_event(&client, event_id, user_id).await?;
        // A fixture's zone is the fixture media item's: on the seed era the item is its own
        // zone, and on the current shape its zone gets the item's id.
        for name in ["media_id", "zone_id"] {
            if let Some(media_id) = fixture.path_id(name)? {
                seed_fixture_media(&mut client, &storage, &config, event_id, media_id, user_id)
                    .await?;
            }
        }
    }
    let token = dev_token(user_id, secret_key, 24 * 3600);
    for fixture in &fixtures {
        let path = out.join(&fixture.relative);
        std::fs::create_dir_all(path.parent().expect("a fixture lies in a folder"))?;
        std::fs::write(
            &path,
            serde_json::to_vec_pretty(&fixture.ready(&token, &previews)?)?,
        )
        .with_context(|| format!("cannot write {}", path.display()))?;
    }
    for spec in shared::endpoint::functions() {
        let path = out.join(spec.name).join(format!("{}.json", spec.fixture));
        anyhow::ensure!(
            path.is_file(),
            "{}: the registry's fixture is missing",
            path.display()
        );
        println!("{} {}", spec.name, path.display());
    }
    Ok(true)
}

/// The event, live and owned by `user_id`.
async fn seed_fixture_event(
    client: &db::Client,
    event_id: Uuid,
    user_id: Uuid,
) -> anyhow::Result<()> {
    client
        .execute_unnamed(
            "insert into events (id, user_id, title) values ($1, $2, 'Fixture event')
             on conflict (id) do update
             set user_id = excluded.user_id, is_deleted = false, deleted_at = null",
            &[&event_id, &user_id],
        )
        .await?;
    Ok(())
}

/// The media item with its object, in a zone with the item's id, unless the event has it
/// already (a delete fixture consumes it; running this again brings it back, into the same
/// zone when that still has other files, or into a new one of that id).
async fn seed_fixture_media(
    client: &mut db::Client,
    storage: &Storage,
    config: &Config,
    event_id: Uuid,
    media_id: Uuid,
    user_id: Uuid,
) -> anyhow::Result<()> {
    let shape = db::shape::detect(client).await?;
    if db::media::find_in_event(client, shape, event_id, media_id)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let (key, created_at) = store_fixture_png(storage, event_id, user_id).await?;
    let new = db::media::NewMedia {
        id: media_id,
        event_id,
        title: Some("Fixture photo"),
        description: None,
        file_url: &config.file_url(key.as_str()),
        s3_key: key.as_str(),
        file_type: "image/png",
        file_size: FIXTURE_PNG.len() as i32,
        tags: "fixture",
        original_filename: "fixture.png",
        created_at,
        analysis: None,
    };
    let tx = client.transaction().await?;
    if shape == db::shape::Shape::Current {
        // A zone emptied by the delete fixture is soft-deleted; it is made again.
        tx.execute_unnamed(
            "delete from event_media_zones where id = $1 and is_deleted",
            &[&media_id],
        )
        .await?;
    }
    db::media::insert_in(&tx, shape, &new, db::media::Zone::Batch(media_id))
        .await
        .with_context(|| format!("cannot record media {media_id} (is the id taken elsewhere?)"))?
        .with_context(|| format!("zone {media_id} is in another event"))?;
    tx.commit().await?;
    Ok(())
}

/// The fixture PNG stored under a new key of the event; returns the key and its time.
async fn store_fixture_png(
    storage: &Storage,
    event_id: Uuid,
    user_id: Uuid,
) -> anyhow::Result<(shared::keys::S3Key, chrono::DateTime<chrono::Utc>)> {
    let created_at = chrono::Utc::now();
    let key = shared::keys::event_media_key(event_id, created_at, "png");
    let metadata = ObjectMetadata {
        event_id: event_id.to_string(),
        user_id: user_id.to_string(),
        original_filename: "fixture.png".into(),
    };
    storage
        .put_new(
            key.as_str(),
            bytes::Bytes::from_static(FIXTURE_PNG),
            "image/png",
            metadata,
        )
        .await
        .with_context(|| format!("cannot store {key}"))?;
    Ok((key, created_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(payload: serde_json::Value) -> Fixture {
        Fixture {
            relative: PathBuf::from("f/case.json"),
            payload,
        }
    }

    fn signer() -> PreviewSigner {
        PreviewSigner::new(&SecretString::from("p".repeat(32))).unwrap()
    }

    #[test]
    fn a_ready_fixture_carries_the_token_and_is_otherwise_unchanged() {
        let http = serde_json::json!({"headers": {"authorization": "Bearer X", "accept": "*/*"}});
        assert_eq!(
            fixture(http).ready("tok", &signer()).unwrap(),
            serde_json::json!({"headers": {"authorization": "Bearer tok", "accept": "*/*"}})
        );
        let scheduled = serde_json::json!({"detail-type": "Scheduled Event", "detail": {}});
        assert_eq!(
            fixture(scheduled.clone()).ready("tok", &signer()).unwrap(),
            scheduled
        );
    }

    #[test]
    fn a_ready_preview_fixture_carries_a_signature_that_verifies() {
        let media_id = Uuid::new_v4();
        let preview = serde_json::json!({
            "headers": {"accept": "image/*"},
            "rawQueryString": "expires=X&signature=Y",
            "queryStringParameters": {"expires": "X", "signature": "Y"},
            "pathParameters": {"media_id": media_id.to_string(), "size": "medium"},
        });
        let ready = fixture(preview).ready("tok", &signer()).unwrap();
        let query = &ready["queryStringParameters"];
        let (expires, signature) = (query["expires"].as_str(), query["signature"].as_str());
        let now = chrono::Utc::now().timestamp();
        assert_eq!(
            signer().verify(media_id, PreviewSize::Medium, expires, signature, now),
            Ok(())
        );
        assert_eq!(
            ready["rawQueryString"],
            format!(
                "expires={}&signature={}",
                expires.unwrap(),
                signature.unwrap()
            )
        );
    }
}
