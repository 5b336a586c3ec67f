//! Logging set-up, once per process: JSON lines when Lambda's log format is JSON (the
//! template sets it), compact text otherwise. `RUST_LOG` overrides the default level.
//! [`subscriber`] builds that configuration over any writer, so tests and the benchmark log
//! through exactly what ships.

use tracing::Dispatch;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
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

/// The production subscriber, writing through `make_writer`.
pub fn subscriber<W>(format: Format, filter: EnvFilter, make_writer: W) -> Dispatch
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
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
                .finish(),
        ),
        Format::Text => Dispatch::new(builder.finish()),
    }
}

/// Installs the production subscriber, configured from the environment, over `make_writer`
/// for the whole process.
pub fn init_with_writer<W>(make_writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
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
