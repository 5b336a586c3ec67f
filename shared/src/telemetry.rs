//! Logging set-up, once per process: JSON lines when Lambda's log format is JSON (the
//! template sets it), compact text otherwise. `RUST_LOG` overrides the default level.
//! [`subscriber`] builds that configuration over any writer, so tests and the benchmark log
//! through exactly what ships.
//!
//! The subscriber also carries the writer of the request metrics ([`crate::metrics`]): those
//! lines are whole JSON documents of their own (EMF), not events with fields, so they are
//! written as they are, through the same writer as the log, by [`write_line`].

use std::io::Write as _;

use tracing::Dispatch;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt;

/// What production logs: our own events at info, the SDKs' only when something is wrong.
pub const DEFAULT_FILTER: &str = "info,aws_config=warn,aws_smithy_runtime=warn,tokio_postgres=warn";

/// The shape of each log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object a line, the event's fields flattened, with the current span.
    Json,
    /// Compact text, for a terminal.
    Text,
}

impl Format {
    /// JSON when Lambda's `AWS_LAMBDA_LOG_FORMAT` says so, text otherwise.
    pub fn from_env() -> Self {
        let json =
            std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
        if json { Format::Json } else { Format::Text }
    }
}

/// `RUST_LOG` when set and valid, [`DEFAULT_FILTER`] otherwise.
pub fn filter_from_env() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter())
}

/// [`DEFAULT_FILTER`], whatever `RUST_LOG` says.
pub fn default_filter() -> EnvFilter {
    EnvFilter::new(DEFAULT_FILTER)
}

/// The production subscriber, writing the log and the metrics lines through `make_writer`.
pub fn subscriber<W>(format: Format, filter: EnvFilter, make_writer: W) -> Dispatch
where
    W: for<'w> MakeWriter<'w> + Clone + Send + Sync + 'static,
{
    let lines = LineWriter(BoxMakeWriter::new(make_writer.clone()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // CloudWatch adds its own timestamps and shows no colours.
        .without_time()
        .with_ansi(false)
        .with_writer(make_writer);
    match format {
        Format::Json => Dispatch::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .finish()
                .with(lines),
        ),
        Format::Text => Dispatch::new(builder.finish().with(lines)),
    }
}

/// The subscriber's writer for lines written whole ([`write_line`]). A layer that sees no
/// events: it only rides along in the subscriber, where [`write_line`] finds it.
pub struct LineWriter(BoxMakeWriter);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LineWriter {}

/// Writes `line` as one line of the current subscriber's log, unfiltered: the metrics must
/// not depend on `RUST_LOG`. Found through the subscriber in scope (not a process global), so
/// a test that installs its own subscriber gets its own lines. Without the production
/// subscriber (the CLI) nothing is written.
pub fn write_line(line: &str) {
    tracing::dispatcher::get_default(|dispatch| {
        if let Some(LineWriter(make_writer)) = dispatch.downcast_ref::<LineWriter>() {
            let mut whole = String::with_capacity(line.len() + 1);
            whole.push_str(line);
            whole.push('\n');
            // One write, as the log's own lines, so concurrent lines do not interleave. A
            // failed write of the log has nowhere to be reported.
            let _ = make_writer.make_writer().write_all(whole.as_bytes());
        }
    });
}

/// Installs the production subscriber, configured from the environment, over `make_writer`
/// for the whole process.
pub fn init_with_writer<W>(make_writer: W)
where
    W: for<'w> MakeWriter<'w> + Clone + Send + Sync + 'static,
{
    let dispatch = subscriber(Format::from_env(), filter_from_env(), make_writer);
    // As the fmt builder's own `try_init`: `log` records are forwarded too. A second call
    // (tests) keeps the first subscriber.
    drop(dispatch.try_init());
}

/// Installs the production subscriber over standard output (what Lambda ships to CloudWatch).
pub fn init() {
    init_with_writer(std::io::stdout);
}
