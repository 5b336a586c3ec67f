//! `plugs-media`: the operator's commands. Each subcommand is one small function; the work
//! itself is done by the `shared` crate, the same code the Lambda functions run, except for
//! what only an operator runs (`migrate-files`), which this crate's library holds.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use plugs_media::migrate_files::{self, Item, Migrator, Outcome, Progress, Summary};
use secrecy::{ExposeSecret, SecretString};
use shared::auth::issue;
use shared::config::Config;
use shared::db;
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
    /// Remove expired direct uploads and stray temp objects; report orphan objects (and with
    /// --delete-orphans delete them) and rows whose object is missing.
    Sweep {
        /// Delete objects under events/ that no row points to (default: report only).
        #[arg(long)]
        delete_orphans: bool,
        /// Leave objects younger than this alone (default SWEEP_GRACE_SECONDS or 3600).
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
    /// Create (or find) a demo user and an event it owns; prints USER_ID= and EVENT_ID=.
    SeedDemo {
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: SecretString,
        #[arg(long, default_value = "organiser@example.com")]
        email: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Migrate { database_url } => migrate(&database_url).await,
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
        Command::Doctor { write } => doctor(write).await,
        Command::DevToken {
            user_id,
            secret_key,
            ttl,
        } => {
            let claims = issue::access_claims(user_id, ttl);
            println!(
                "{}",
                issue::sign(
                    &claims,
                    secret_key.expose_secret(),
                    jsonwebtoken::Algorithm::HS256
                )
            );
            Ok(true)
        }
        Command::SeedDemo {
            database_url,
            email,
        } => seed_demo(&database_url, &email).await,
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
    let state = shared::AppState::from_env().await?;
    let mut options = shared::sweep::SweepOptions::from_state(&state);
    options.delete_orphans |= delete_orphans;
    if let Some(seconds) = grace_seconds {
        options.grace = std::time::Duration::from_secs(seconds);
    }
    let report = shared::sweep::run(&state, &options).await.map_err(|err| {
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
    Ok(true)
}

async fn seed_demo(database_url: &SecretString, email: &str) -> anyhow::Result<bool> {
    let client = connect(database_url).await?;
    let user_id: Uuid = client
        .query_one(
            "insert into users (id, email, full_name) values ($1, $2, 'Demo organiser')
             on conflict (email) do update set email = excluded.email returning id",
            &[&Uuid::new_v4(), &email],
        )
        .await?
        .get(0);
    let existing = client
        .query_opt(
            "select id from events where user_id = $1 and not is_deleted order by created_at limit 1",
            &[&user_id],
        )
        .await?;
    let event_id: Uuid = match existing {
        Some(row) => row.get(0),
        None => client
            .query_one(
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
    let pool = db::pool(&config.database_url, options.concurrency + 1)?;
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
    report.pass("jwt secret", "SECRET_KEY is set");

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
    let client = match connect(&config.database_url).await {
        Ok(client) => client,
        Err(err) => {
            return report.fail(
                "database",
                &format!("{err:#}"),
                "check DATABASE_URL, the network path (VPC, security group) and sslmode",
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
