//! Request metrics in CloudWatch's Embedded Metric Format (EMF): one JSON object per request,
//! written as one line of the function's own log, from which CloudWatch Logs extracts the
//! metrics. No agent, extension or API call: the line is all there is.
//!
//! Each line carries the request's metrics ([`RequestRecord`]) under two dimension sets,
//! `[Service]` (what the alarms watch) and `[Service, Endpoint]` (the dashboard's per-endpoint
//! graphs), and as plain properties what would cost a metric per value: the status, its class
//! and the error code. CloudWatch Logs Insights reads those from the same line.
//!
//! The writer is ours rather than `metrics_cloudwatch_embedded`'s: that crate is a recorder
//! for the `metrics` facade, one per process, aggregating whatever is recorded between two
//! flushes. A request's line here is a value built from the request alone, so requests served
//! side by side (the integration tests run many in one process) each get exactly their own.
//! The rules of the EMF specification this module keeps are checked by its tests.

use std::cell::Cell;
use std::future::Future;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Map, Value, json};

/// The CloudWatch namespace of every metric this service writes.
pub const NAMESPACE: &str = "PlugsMedia";

/// The variable naming the `Service` dimension: the template sets it to the stack's name, so
/// two stacks in one account (staging, production) keep apart.
pub const SERVICE_VARIABLE: &str = "METRICS_SERVICE";

/// The `Service` dimension's value when [`SERVICE_VARIABLE`] is not set (local runs).
pub const DEFAULT_SERVICE: &str = "plugs-media";

/// The metrics' names, as the template's alarms and dashboard name them.
pub mod name {
    pub const REQUESTS: &str = "Requests";
    pub const LATENCY: &str = "Latency";
    pub const STATUS_4XX: &str = "Status4xx";
    pub const STATUS_5XX: &str = "Status5xx";
    pub const SERVICE_BUSY: &str = "ServiceBusy";
    pub const BYTES_IN: &str = "BytesIn";
    pub const BYTES_OUT: &str = "BytesOut";
    pub const COLD_START: &str = "ColdStart";
    pub const POOL_WAIT: &str = "PoolWait";

    /// Every metric a request line may carry.
    pub const ALL: [&str; 9] = [
        REQUESTS,
        LATENCY,
        STATUS_4XX,
        STATUS_5XX,
        SERVICE_BUSY,
        BYTES_IN,
        BYTES_OUT,
        COLD_START,
        POOL_WAIT,
    ];
}

/// The units this module writes: a subset of CloudWatch's (`MetricDatum.Unit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Bytes,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Bytes => "Bytes",
        }
    }
}

/// What one request did, as its metrics line reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    /// The registry name of the endpoint (`get-media`): the `Endpoint` dimension.
    pub endpoint: &'static str,
    pub status: u16,
    /// The error envelope's machine code, for 4xx and 5xx answers.
    pub error_code: Option<&'static str>,
    /// From the request reaching the edge to its answer being ready.
    pub latency: Duration,
    /// The request body's length (after API Gateway's base64, as the handler sees it).
    pub bytes_in: usize,
    /// The response body's length (0 for a redirect or an empty answer).
    pub bytes_out: usize,
    /// The first request this process served.
    pub cold_start: bool,
    /// The time spent waiting for database connections, when the request asked for one.
    pub pool_wait: Option<Duration>,
    /// The API Gateway request id, so a metric's outlier can be found in the other log lines.
    pub correlation_id: String,
}

impl RequestRecord {
    /// `1xx`…`5xx`.
    pub fn status_class(&self) -> String {
        format!("{}xx", self.status / 100)
    }

    fn metrics(&self) -> Vec<(&'static str, Unit, f64)> {
        let flag = |set: bool| if set { 1.0 } else { 0.0 };
        let mut metrics = vec![
            (name::REQUESTS, Unit::Count, 1.0),
            (name::LATENCY, Unit::Milliseconds, millis(self.latency)),
            (name::STATUS_4XX, Unit::Count, flag(self.status / 100 == 4)),
            (name::STATUS_5XX, Unit::Count, flag(self.status / 100 == 5)),
            (
                name::SERVICE_BUSY,
                Unit::Count,
                flag(self.error_code == Some("SERVICE_BUSY")),
            ),
            (name::BYTES_IN, Unit::Bytes, self.bytes_in as f64),
            (name::BYTES_OUT, Unit::Bytes, self.bytes_out as f64),
            (name::COLD_START, Unit::Count, flag(self.cold_start)),
        ];
        // Only requests that asked for a connection: a request that never did would pull the
        // average wait towards zero and hide a starved pool.
        if let Some(wait) = self.pool_wait {
            metrics.push((name::POOL_WAIT, Unit::Milliseconds, millis(wait)));
        }
        metrics
    }

    /// The EMF document of this request for `service`, stamped `timestamp_ms` (milliseconds
    /// since the Unix epoch).
    pub fn to_emf(&self, service: &str, timestamp_ms: i64) -> Value {
        let mut document = Document::new(timestamp_ms);
        document.dimension("Service", service);
        document.dimension("Endpoint", self.endpoint);
        for (name, unit, value) in self.metrics() {
            document.metric(name, unit, value);
        }
        document.property("Status", json!(self.status));
        document.property("StatusClass", json!(self.status_class()));
        if let Some(code) = self.error_code {
            document.property("ErrorCode", json!(code));
        }
        document.property("CorrelationId", json!(self.correlation_id));
        document.into_value(&[&["Service"], &["Service", "Endpoint"]])
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// One EMF document: the dimensions', metrics' and properties' values at its root, and the
/// `_aws` directive naming which of them are dimensions and metrics.
struct Document {
    timestamp_ms: i64,
    root: Map<String, Value>,
    metrics: Vec<Value>,
}

impl Document {
    fn new(timestamp_ms: i64) -> Self {
        Self {
            timestamp_ms,
            root: Map::new(),
            metrics: Vec::new(),
        }
    }

    fn insert(&mut self, key: &str, value: Value) {
        let previous = self.root.insert(key.to_owned(), value);
        debug_assert!(previous.is_none(), "{key} written twice");
    }

    fn dimension(&mut self, key: &str, value: &str) {
        self.insert(key, Value::String(value.to_owned()));
    }

    fn metric(&mut self, name: &str, unit: Unit, value: f64) {
        self.insert(name, json!(value));
        self.metrics
            .push(json!({"Name": name, "Unit": unit.as_str()}));
    }

    fn property(&mut self, key: &str, value: Value) {
        self.insert(key, value);
    }

    fn into_value(mut self, dimension_sets: &[&[&str]]) -> Value {
        let directive = json!({
            "Namespace": NAMESPACE,
            "Dimensions": dimension_sets,
            "Metrics": self.metrics,
        });
        self.insert(
            "_aws",
            json!({"Timestamp": self.timestamp_ms, "CloudWatchMetrics": [directive]}),
        );
        Value::Object(self.root)
    }
}

/// The `Service` dimension: [`SERVICE_VARIABLE`], read once.
pub fn service() -> &'static str {
    static SERVICE: OnceLock<String> = OnceLock::new();
    SERVICE.get_or_init(|| {
        std::env::var(SERVICE_VARIABLE)
            .ok()
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_SERVICE.to_owned())
    })
}

/// Whether this is the first request of the process: true once, for the request that also
/// paid the container's start (the secrets' reads, the clients' set-up).
pub fn first_request_in_process() -> bool {
    static SERVED: AtomicBool = AtomicBool::new(false);
    !SERVED.swap(true, Ordering::Relaxed)
}

tokio::task_local! {
    /// The database waits of the request being served on this task.
    static POOL_WAIT: Cell<Option<Duration>>;
}

/// Adds `wait` to the current request's pool wait (see [`measuring_pool_wait`]); outside of
/// one (the CLI, the sweep) it is not counted anywhere.
pub fn record_pool_wait(wait: Duration) {
    let _outside_a_request = POOL_WAIT.try_with(|total| {
        total.set(Some(total.get().unwrap_or_default() + wait));
    });
}

/// Runs `future` and returns its output with the time it spent waiting for database
/// connections, or `None` when it asked for none.
pub async fn measuring_pool_wait<F: Future>(future: F) -> (F::Output, Option<Duration>) {
    POOL_WAIT
        .scope(Cell::new(None), async {
            let output = future.await;
            (output, POOL_WAIT.with(Cell::get))
        })
        .await
}

/// Writes `record` as one EMF line to the log (see [`crate::telemetry::write_line`]).
pub fn emit(record: &RequestRecord) {
    let now = chrono::Utc::now().timestamp_millis();
    crate::telemetry::write_line(&record.to_emf(service(), now).to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use test_support::emf::problems as emf_problems;

    fn record() -> RequestRecord {
        RequestRecord {
            endpoint: "get-media",
            status: 200,
            error_code: None,
            latency: Duration::from_micros(12_500),
            bytes_in: 0,
            bytes_out: 321,
            cold_start: false,
            pool_wait: Some(Duration::from_millis(3)),
            correlation_id: "req-1".into(),
        }
    }

    fn metric_names(document: &Value) -> BTreeSet<String> {
        document["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn a_request_line_keeps_the_emf_rules() {
        let document = record().to_emf("stack", 1_700_000_000_000);
        assert_eq!(emf_problems(&document), Vec::<String>::new(), "{document}");
        assert_eq!(document["_aws"]["Timestamp"], 1_700_000_000_000i64);
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(
            directive["Dimensions"],
            json!([["Service"], ["Service", "Endpoint"]])
        );
        assert_eq!(document["Service"], "stack");
        assert_eq!(document["Endpoint"], "get-media");
        assert_eq!(document["Latency"], 12.5);
        assert_eq!(document["PoolWait"], 3.0);
        assert_eq!(document["StatusClass"], "2xx");
        assert!(document.get("ErrorCode").is_none());
    }

    #[test]
    fn the_checker_catches_what_cloudwatch_would_reject() {
        let good = record().to_emf("stack", 1);
        let mut no_value = good.clone();
        no_value.as_object_mut().unwrap().remove("Latency");
        assert!(!emf_problems(&no_value).is_empty());
        let mut text_value = good.clone();
        text_value["BytesIn"] = json!("12");
        assert!(!emf_problems(&text_value).is_empty());
        let mut number_dimension = good.clone();
        number_dimension["Endpoint"] = json!(7);
        assert!(!emf_problems(&number_dimension).is_empty());
        let mut bad_unit = good.clone();
        bad_unit["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Requests");
        assert!(!emf_problems(&bad_unit).is_empty());
        let mut no_timestamp = good;
        no_timestamp["_aws"]
            .as_object_mut()
            .unwrap()
            .remove("Timestamp");
        assert!(!emf_problems(&no_timestamp).is_empty());
    }

    #[test]
    fn errors_carry_their_class_and_code_and_busy_is_counted_apart() {
        let busy = RequestRecord {
            status: 503,
            error_code: Some("SERVICE_BUSY"),
            ..record()
        }
        .to_emf("s", 1);
        assert_eq!(busy["Status5xx"], 1.0);
        assert_eq!(busy["ServiceBusy"], 1.0);
        assert_eq!(busy["ErrorCode"], "SERVICE_BUSY");
        assert_eq!(busy["StatusClass"], "5xx");

        let missing = RequestRecord {
            status: 404,
            error_code: Some("MEDIA_NOT_FOUND"),
            ..record()
        }
        .to_emf("s", 1);
        assert_eq!(missing["Status4xx"], 1.0);
        assert_eq!(missing["Status5xx"], 0.0);
        assert_eq!(missing["ServiceBusy"], 0.0);
        assert_eq!(missing["ErrorCode"], "MEDIA_NOT_FOUND");
    }

    #[test]
    fn pool_wait_is_a_metric_only_when_a_connection_was_asked_for() {
        let without = RequestRecord {
            pool_wait: None,
            ..record()
        }
        .to_emf("s", 1);
        assert_eq!(emf_problems(&without), Vec::<String>::new());
        assert!(!metric_names(&without).contains(name::POOL_WAIT));
        assert!(without.get(name::POOL_WAIT).is_none());
        assert!(metric_names(&record().to_emf("s", 1)).contains(name::POOL_WAIT));
    }

    #[tokio::test]
    async fn pool_waits_add_up_per_request_and_not_outside_one() {
        record_pool_wait(Duration::from_secs(9));
        let ((), wait) = measuring_pool_wait(async {
            record_pool_wait(Duration::from_millis(2));
            record_pool_wait(Duration::from_millis(5));
        })
        .await;
        assert_eq!(wait, Some(Duration::from_millis(7)));
        let ((), none) = measuring_pool_wait(async {}).await;
        assert_eq!(none, None);
    }
}
