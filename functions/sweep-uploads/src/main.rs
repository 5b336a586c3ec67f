//! `sweep-uploads`: the scheduled clean-up (an EventBridge schedule in the template). Removes
//! expired direct uploads and stray temp objects, reports (and, when configured, deletes)
//! orphan objects and zones with no live file, and rows whose object is missing. The logic
//! lives in `shared::sweep`.

use lambda_http::lambda_runtime::{self, Error, LambdaEvent, service_fn};
use serde_json::Value;
use shared::endpoint::SWEEP_UPLOADS;
use shared::sweep::{self, SweepOptions, SweepTarget};
use shared::{AppState, edge, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    // What the registry entry declares: no JWT key, the sweep checks no tokens.
    let state = AppState::for_function::<{ SWEEP_UPLOADS.builds_s3_client() }>(&SWEEP_UPLOADS);
    let state: &'static AppState = Box::leak(Box::new(state.await?));
    lambda_runtime::run(service_fn(move |_event: LambdaEvent<Value>| async move {
        // A failed sweep is retried by the next schedule; the error goes to the log and the
        // invocation is marked failed so alarms can see it.
        let target = SweepTarget {
            db: &state.db,
            storage: state.storage(),
        };
        let report = sweep::run(&target, &SweepOptions::from_config(&state.config))
            .await
            .inspect_err(|err| tracing::error!(error = %edge::error_chain(err), "sweep failed"))?;
        Ok::<_, Error>(serde_json::to_value(report)?)
    }))
    .await
}
