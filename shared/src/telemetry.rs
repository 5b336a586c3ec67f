//! Logging set-up, once per process: JSON lines when Lambda's log format is JSON (the
//! template sets it), compact text otherwise. `RUST_LOG` overrides the default level.

use tracing_subscriber::EnvFilter;

/// What production logs: our own events at info, the SDKs' only when something is wrong.
pub const DEFAULT_FILTER: &str = "info,aws_config=warn,aws_smithy_runtime=warn,tokio_postgres=warn";

pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // CloudWatch adds its own timestamps and shows no colours.
        .without_time()
        .with_ansi(false);
    let result = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder.try_init()
    };
    // A second call (tests) keeps the first subscriber.
    drop(result);
}
