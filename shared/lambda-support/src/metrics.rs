//! CloudWatch Embedded Metric Format: one JSON line on stdout per metric, which CloudWatch Logs
//! turns into a metric without any API call (no client, no latency on the request path).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

/// Namespace of every metric.
pub const NAMESPACE: &str = "Switchboard";

/// Counts one occurrence of `metric` with one dimension.
#[allow(clippy::print_stdout)] // EMF lines must reach stdout as standalone JSON documents
pub fn count(metric: &str, dimension: &str, value: &str) {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let line = json!({
        "_aws": {
            "Timestamp": ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[dimension]],
                "Metrics": [{"Name": metric, "Unit": "Count"}]
            }]
        },
        dimension: value,
        metric: 1
    });
    println!("{line}");
}
