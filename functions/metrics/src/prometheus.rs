//! Turns EMF documents into Prometheus text exposition (`obctl dev`'s `GET /_dev/metrics`).
//!
//! Each document is one observation: its metrics are added once, labelled
//! with every dimension its sets name plus any catalog dimension it carries
//! as a property (`app` on sign-in and realtime documents), so local numbers
//! can be summed per app or route the way CloudWatch shows them deployed.
//! Count metrics become counters (`_total`), time metrics histograms in
//! milliseconds, anything else a counter of the values' sum.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use crate::catalog::{Dimension, MetricDef};
use crate::emit::Sink;
use crate::parse::{EmfError, Record, parse_line};

/// Histogram bucket bounds, in milliseconds.
pub const BUCKETS_MS: [f64; 13] = [
    1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];

type Labels = Vec<(String, String)>;

#[derive(Debug, Clone, Default)]
struct Histogram {
    /// Observations at or below each bound of [`BUCKETS_MS`] (not cumulative).
    buckets: [u64; BUCKETS_MS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug)]
enum Series {
    Counter(BTreeMap<Labels, f64>),
    Histogram(BTreeMap<Labels, Histogram>),
}

#[derive(Debug)]
struct Family {
    help: String,
    series: Series,
}

#[derive(Debug, Default)]
struct State {
    families: BTreeMap<String, Family>,
    documents: u64,
    rejected: u64,
}

/// Metrics aggregated from EMF lines; safe to share between threads.
#[derive(Debug, Default)]
pub struct Registry(Mutex<State>);

/// `FanOutLag` → `fan_out_lag`, `4xx` → `4xx`.
fn snake(name: &str) -> String {
    let mut out = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            if previous_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            previous_lower = false;
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
            previous_lower = true;
        } else {
            out.push('_');
            previous_lower = false;
        }
    }
    out
}

/// Milliseconds in one of the unit, for time units.
fn millis_per(unit: &str) -> Option<f64> {
    match unit {
        "Milliseconds" => Some(1.0),
        "Seconds" => Some(1000.0),
        "Microseconds" => Some(0.001),
        _ => None,
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels_text(labels: &Labels, extra: Option<(&str, String)>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn number(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

impl Registry {
    /// Adds one log line; `Ok(false)` when it is not an EMF document.
    pub fn ingest_line(&self, line: &str) -> Result<bool, EmfError> {
        match parse_line(line) {
            Ok(Some(record)) => {
                self.ingest(&record);
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(err) => {
                if let Ok(mut state) = self.0.lock() {
                    state.rejected += 1;
                }
                Err(err)
            }
        }
    }

    /// Adds one document.
    pub fn ingest(&self, record: &Record) {
        let Ok(mut state) = self.0.lock() else {
            return;
        };
        state.documents += 1;
        for directive in &record.directives {
            let prefix = snake(&directive.namespace);
            let mut labels: BTreeMap<String, String> = directive
                .dimension_sets
                .iter()
                .flatten()
                .map(|(k, v)| (snake(k), v.clone()))
                .collect();
            for dimension in Dimension::ALL {
                if let Some(v) = record.text(dimension.name()) {
                    labels
                        .entry(snake(dimension.name()))
                        .or_insert_with(|| v.to_owned());
                }
            }
            let labels: Labels = labels.into_iter().collect();
            for metric in &directive.metrics {
                let help = MetricDef::by_name(&metric.name).map_or_else(
                    || format!("{} ({})", metric.name, metric.unit),
                    |d| d.help.to_owned(),
                );
                let base = format!("{prefix}_{}", snake(&metric.name));
                if let Some(per) = millis_per(&metric.unit) {
                    let family = state
                        .families
                        .entry(format!("{base}_milliseconds"))
                        .or_insert_with(|| Family {
                            help,
                            series: Series::Histogram(BTreeMap::new()),
                        });
                    if let Series::Histogram(series) = &mut family.series {
                        let h = series.entry(labels.clone()).or_default();
                        for v in &metric.values {
                            let ms = v * per;
                            h.count += 1;
                            h.sum += ms;
                            if let Some(i) = BUCKETS_MS.iter().position(|b| ms <= *b) {
                                h.buckets[i] += 1;
                            }
                        }
                    }
                } else {
                    let family = state
                        .families
                        .entry(format!("{base}_total"))
                        .or_insert_with(|| Family {
                            help,
                            series: Series::Counter(BTreeMap::new()),
                        });
                    if let Series::Counter(series) = &mut family.series {
                        *series.entry(labels.clone()).or_default() +=
                            metric.values.iter().sum::<f64>();
                    }
                }
            }
        }
    }

    /// The Prometheus text exposition (format 0.0.4) of everything ingested.
    pub fn render(&self) -> String {
        let Ok(state) = self.0.lock() else {
            return String::new();
        };
        let mut out = String::new();
        for (name, family) in &state.families {
            let kind = match family.series {
                Series::Counter(_) => "counter",
                Series::Histogram(_) => "histogram",
            };
            let _ = writeln!(out, "# HELP {name} {}", family.help.replace('\n', " "));
            let _ = writeln!(out, "# TYPE {name} {kind}");
            match &family.series {
                Series::Counter(series) => {
                    for (labels, v) in series {
                        let _ = writeln!(out, "{name}{} {}", labels_text(labels, None), number(*v));
                    }
                }
                Series::Histogram(series) => {
                    for (labels, h) in series {
                        let mut cumulative = 0;
                        for (bound, n) in BUCKETS_MS.iter().zip(h.buckets) {
                            cumulative += n;
                            let le = labels_text(labels, Some(("le", number(*bound))));
                            let _ = writeln!(out, "{name}_bucket{le} {cumulative}");
                        }
                        let inf = labels_text(labels, Some(("le", "+Inf".to_owned())));
                        let _ = writeln!(out, "{name}_bucket{inf} {}", h.count);
                        let _ = writeln!(
                            out,
                            "{name}_sum{} {}",
                            labels_text(labels, None),
                            number(h.sum)
                        );
                        let _ =
                            writeln!(out, "{name}_count{} {}", labels_text(labels, None), h.count);
                    }
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP emf_documents_total EMF documents read from the functions' output"
        );
        let _ = writeln!(out, "# TYPE emf_documents_total counter");
        let _ = writeln!(out, "emf_documents_total {}", state.documents);
        let _ = writeln!(
            out,
            "# HELP emf_rejected_total Lines with an _aws member that break the EMF specification (CloudWatch would drop them)"
        );
        let _ = writeln!(out, "# TYPE emf_rejected_total counter");
        let _ = writeln!(out, "emf_rejected_total {}", state.rejected);
        out
    }
}

/// A registry is a sink: `obctl dev` hands it the lines its functions print.
impl Sink for Registry {
    fn write_line(&self, line: &str) {
        if let Err(err) = self.ingest_line(line) {
            eprintln!("metrics: a function printed an invalid EMF document ({err})");
        }
    }
}
