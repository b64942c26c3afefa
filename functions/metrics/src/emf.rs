//! Writes CloudWatch Embedded Metric Format documents: one JSON object per log line.
//!
//! A document names its metrics and dimension sets under `_aws` and carries
//! their values as top-level members; CloudWatch Logs extracts the metrics
//! when the line is ingested, so publishing costs no API call on the request
//! path. Other members (request id, app) stay searchable in the logs.

use serde_json::{Map, Value, json};

use crate::catalog::{Dimension, MetricDef, NAMESPACE};

/// Most values one metric may carry in one document (the specification's limit).
pub const MAX_VALUES: usize = 100;
/// Most metrics one directive may name.
pub const MAX_METRICS: usize = 100;
/// Most dimension keys in one dimension set.
pub const MAX_DIMENSIONS: usize = 30;

/// One EMF document under construction: a single directive in [`NAMESPACE`].
#[derive(Debug, Clone)]
pub struct Document {
    timestamp_ms: u64,
    dimension_sets: Vec<Vec<&'static str>>,
    metrics: Vec<&'static MetricDef>,
    members: Map<String, Value>,
}

impl Document {
    pub fn new(timestamp_ms: u64) -> Self {
        Self {
            timestamp_ms,
            dimension_sets: Vec::new(),
            metrics: Vec::new(),
            members: Map::new(),
        }
    }

    /// Publishes the document's metrics under this set of dimensions too.
    pub fn dimension_set(mut self, set: &[Dimension]) -> Self {
        self.dimension_sets
            .push(set.iter().map(|d| d.name()).collect());
        self
    }

    /// The value of a dimension (every dimension a set names must have one).
    pub fn dimension(mut self, dimension: Dimension, value: &str) -> Self {
        self.members
            .insert(dimension.name().to_owned(), Value::String(value.to_owned()));
        self
    }

    /// One value of a metric.
    pub fn value(self, metric: &'static MetricDef, value: f64) -> Self {
        self.values(metric, &[value])
    }

    /// Several values of a metric (each one a sample, e.g. one latency per change).
    /// At most [`MAX_VALUES`]; see [`chunks`] for longer lists.
    pub fn values(mut self, metric: &'static MetricDef, values: &[f64]) -> Self {
        let numbers: Vec<Value> = values
            .iter()
            .filter(|v| v.is_finite())
            .take(MAX_VALUES)
            .map(|v| json!(v))
            .collect();
        let value = match numbers.as_slice() {
            [one] => one.clone(),
            _ => Value::Array(numbers),
        };
        if !self.metrics.iter().any(|m| m.name == metric.name) {
            self.metrics.push(metric);
        }
        self.members.insert(metric.name.to_owned(), value);
        self
    }

    /// A member that is not a metric or dimension (searchable in the logs).
    pub fn property(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.members.insert(name.to_owned(), value.into());
        self
    }

    /// Whether the document names any metric (an empty one is not worth a line).
    pub fn has_metrics(&self) -> bool {
        !self.metrics.is_empty()
    }

    /// The document as one line of JSON, `_aws` first.
    pub fn to_line(&self) -> String {
        let directive = json!({
            "Namespace": NAMESPACE,
            "Dimensions": self.dimension_sets,
            "Metrics": self.metrics.iter().map(|m| json!({"Name": m.name, "Unit": m.unit.as_str()})).collect::<Vec<_>>(),
        });
        let mut root = Map::new();
        root.insert(
            "_aws".to_owned(),
            json!({"Timestamp": self.timestamp_ms, "CloudWatchMetrics": [directive]}),
        );
        for (name, value) in &self.members {
            root.insert(name.clone(), value.clone());
        }
        Value::Object(root).to_string()
    }
}

/// Splits samples into lists a document can carry.
pub fn chunks(values: &[f64]) -> impl Iterator<Item = &[f64]> {
    values.chunks(MAX_VALUES)
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
