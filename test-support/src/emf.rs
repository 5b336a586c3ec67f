//! The rules of CloudWatch's Embedded Metric Format specification that a document must keep
//! for CloudWatch Logs to extract its metrics, as one check the unit and integration tests
//! apply to the lines the functions write (`shared::metrics`).

use serde_json::Value;

/// CloudWatch's units (`MetricDatum.Unit`), the only values EMF's `Unit` may take.
const CLOUDWATCH_UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// The rules of the EMF specification a document must keep, or why it does not.
pub fn problems(document: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(root) = document.as_object() else {
        return vec!["the document is not a JSON object".into()];
    };
    let aws = &root["_aws"];
    if !aws["Timestamp"].is_i64() && !aws["Timestamp"].is_u64() {
        problems.push("_aws.Timestamp is not an integer of milliseconds".into());
    }
    let Some(directives) = aws["CloudWatchMetrics"].as_array() else {
        problems.push("_aws.CloudWatchMetrics is not an array".into());
        return problems;
    };
    for directive in directives {
        if directive["Namespace"].as_str().is_none_or(str::is_empty) {
            problems.push("a directive has no Namespace".into());
        }
        for set in directive["Dimensions"].as_array().into_iter().flatten() {
            let keys = set.as_array().cloned().unwrap_or_default();
            if keys.len() > 30 {
                problems.push("a dimension set has more than 30 keys".into());
            }
            for key in keys {
                let key = key.as_str().unwrap_or_default();
                match root.get(key).and_then(Value::as_str) {
                    Some(value) if !value.is_empty() && value.len() <= 1024 => {}
                    _ => problems.push(format!("dimension {key} is no string at the root")),
                }
            }
        }
        let metrics = directive["Metrics"].as_array().cloned().unwrap_or_default();
        if metrics.is_empty() || metrics.len() > 100 {
            problems.push(format!("{} metrics in a directive", metrics.len()));
        }
        let mut names = std::collections::HashSet::new();
        for metric in metrics {
            let name = metric["Name"].as_str().unwrap_or_default();
            if !names.insert(name.to_owned()) {
                problems.push(format!("metric {name} is named twice"));
            }
            if !root.get(name).is_some_and(Value::is_number) {
                problems.push(format!("metric {name} has no number at the root"));
            }
            if let Some(unit) = metric.get("Unit")
                && !unit.as_str().is_some_and(|u| CLOUDWATCH_UNITS.contains(&u))
            {
                problems.push(format!("metric {name} has unit {unit}"));
            }
        }
    }
    problems
}

/// The EMF documents among `logs`' lines (those with an `_aws` member), parsed.
pub fn documents(logs: &str) -> Vec<Value> {
    logs.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|value| value.get("_aws").is_some())
        .collect()
}
