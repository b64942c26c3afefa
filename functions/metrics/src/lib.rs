//! One Backend's metrics: the catalog, the EMF lines the functions print, their parser and a Prometheus view.
//!
//! Functions publish through [`Metrics`] (no AWS SDK, no API call on the
//! request path: CloudWatch Logs extracts the metrics from the lines);
//! `obctl` builds the dashboard, alarms and `obctl metrics` from [`catalog`];
//! `obctl dev` and the tests read the lines back with [`parse`].

// Tests may panic on unexpected values; production code may not (workspace lint).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod catalog;
pub mod emf;
pub mod emit;
pub mod parse;
pub mod prometheus;

pub use catalog::{Dimension, HttpDetail, MetricDef, Route};
pub use emit::{AuthEvent, Metrics, RealtimeActivity, Recorder, RequestSample, Sink, Stdout};
pub use parse::{EmfError, Record, parse_line};
pub use prometheus::Registry;

#[cfg(test)]
mod tests;
