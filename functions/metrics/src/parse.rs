//! Reads Embedded Metric Format documents back, checked against the specification.
//!
//! CloudWatch drops a document that breaks the specification without telling
//! the function, so the tests and `obctl dev` read every line the functions
//! print through this parser: a line that is not a JSON object, or has no
//! `_aws` member, is an ordinary log line (`Ok(None)`); an `_aws` member that
//! breaks a rule is an error naming the member and the rule.

use serde_json::{Map, Value};

use crate::emf::{MAX_DIMENSIONS, MAX_METRICS, MAX_VALUES};

/// Largest log event CloudWatch Logs accepts (bytes).
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Units CloudWatch accepts in a MetricDefinition.
pub const UNITS: &[&str] = &[
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

/// A valid EMF document.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// `_aws.Timestamp`: milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    pub directives: Vec<Directive>,
    /// Every top-level member except `_aws` (dimension values, metric values, properties).
    pub members: Map<String, Value>,
}

/// One MetricDirective with its values resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Directive {
    pub namespace: String,
    /// Each set as (dimension name, value) pairs, in the order the set names them.
    pub dimension_sets: Vec<Vec<(String, String)>>,
    pub metrics: Vec<Metric>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: String,
    /// `None` when the definition gives no unit (the specification's default).
    pub unit: String,
    /// 1 (high resolution) or 60 (the default).
    pub storage_resolution: u32,
    pub values: Vec<f64>,
}

/// Why a document with an `_aws` member is not valid EMF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmfError {
    /// The offending member, e.g. `_aws.CloudWatchMetrics[0].Dimensions[1]`.
    pub at: String,
    pub rule: String,
}

impl std::fmt::Display for EmfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.rule)
    }
}

impl std::error::Error for EmfError {}

fn fail<T>(at: impl Into<String>, rule: impl Into<String>) -> Result<T, EmfError> {
    Err(EmfError {
        at: at.into(),
        rule: rule.into(),
    })
}

/// Parses one log line: `Ok(None)` for anything that is not an EMF document.
pub fn parse_line(line: &str) -> Result<Option<Record>, EmfError> {
    let line = line.trim_end_matches(['\n', '\r']);
    let Ok(Value::Object(mut root)) = serde_json::from_str::<Value>(line) else {
        return Ok(None);
    };
    let Some(aws) = root.remove("_aws") else {
        return Ok(None);
    };
    if line.len() > MAX_DOCUMENT_BYTES {
        return fail(
            "document",
            format!("is larger than {MAX_DOCUMENT_BYTES} bytes"),
        );
    }
    let Value::Object(aws) = aws else {
        return fail("_aws", "must be an object");
    };
    let timestamp_ms = match aws.get("Timestamp") {
        Some(Value::Number(n)) => match n.as_u64() {
            Some(ms) => ms,
            None => {
                return fail(
                    "_aws.Timestamp",
                    "must be a non-negative integer (milliseconds since the epoch)",
                );
            }
        },
        Some(_) => return fail("_aws.Timestamp", "must be a number"),
        None => return fail("_aws.Timestamp", "is required"),
    };
    let Some(Value::Array(list)) = aws.get("CloudWatchMetrics") else {
        return fail("_aws.CloudWatchMetrics", "is required and must be an array");
    };
    let directives = list
        .iter()
        .enumerate()
        .map(|(i, d)| directive(&format!("_aws.CloudWatchMetrics[{i}]"), d, &root))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Record {
        timestamp_ms,
        directives,
        members: root,
    }))
}

fn name_of(at: &str, value: &Value) -> Result<String, EmfError> {
    match value.as_str() {
        Some(s) if (1..=255).contains(&s.len()) => Ok(s.to_owned()),
        Some(_) => fail(at, "must be 1 to 255 characters"),
        None => fail(at, "must be a string"),
    }
}

fn directive(at: &str, value: &Value, root: &Map<String, Value>) -> Result<Directive, EmfError> {
    let Value::Object(d) = value else {
        return fail(at, "must be an object (a MetricDirective)");
    };
    let namespace = name_of(
        &format!("{at}.Namespace"),
        d.get("Namespace").unwrap_or(&Value::Null),
    )?;
    let Some(Value::Array(sets)) = d.get("Dimensions") else {
        return fail(
            format!("{at}.Dimensions"),
            "is required and must be an array of dimension sets",
        );
    };
    if sets.is_empty() {
        return fail(
            format!("{at}.Dimensions"),
            "must hold at least one dimension set",
        );
    }
    let dimension_sets = sets
        .iter()
        .enumerate()
        .map(|(i, set)| dimension_set(&format!("{at}.Dimensions[{i}]"), set, root))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(Value::Array(definitions)) = d.get("Metrics") else {
        return fail(format!("{at}.Metrics"), "is required and must be an array");
    };
    if definitions.len() > MAX_METRICS {
        return fail(
            format!("{at}.Metrics"),
            format!("must not name more than {MAX_METRICS} metrics"),
        );
    }
    let metrics = definitions
        .iter()
        .enumerate()
        .map(|(i, m)| metric(&format!("{at}.Metrics[{i}]"), m, root))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Directive {
        namespace,
        dimension_sets,
        metrics,
    })
}

fn dimension_set(
    at: &str,
    set: &Value,
    root: &Map<String, Value>,
) -> Result<Vec<(String, String)>, EmfError> {
    let Value::Array(keys) = set else {
        return fail(at, "must be an array of dimension names");
    };
    if keys.len() > MAX_DIMENSIONS {
        return fail(
            at,
            format!("must not hold more than {MAX_DIMENSIONS} dimensions"),
        );
    }
    keys.iter()
        .enumerate()
        .map(|(i, key)| {
            let key_at = format!("{at}[{i}]");
            let name = name_of(&key_at, key)?;
            match root.get(&name) {
                Some(Value::String(v)) if (1..=1024).contains(&v.len()) => Ok((name, v.clone())),
                Some(Value::String(_)) => fail(
                    key_at,
                    format!("the value of {name:?} must be 1 to 1024 characters"),
                ),
                Some(_) => fail(key_at, format!("the member {name:?} must be a string")),
                None => fail(
                    key_at,
                    format!("names {name:?}, which is not a top-level member"),
                ),
            }
        })
        .collect()
}

fn metric(at: &str, value: &Value, root: &Map<String, Value>) -> Result<Metric, EmfError> {
    let Value::Object(m) = value else {
        return fail(at, "must be an object (a MetricDefinition)");
    };
    let name = name_of(&format!("{at}.Name"), m.get("Name").unwrap_or(&Value::Null))?;
    let unit = match m.get("Unit") {
        None => "None".to_owned(),
        Some(Value::String(u)) if UNITS.contains(&u.as_str()) => u.clone(),
        Some(other) => {
            return fail(
                format!("{at}.Unit"),
                format!("{other} is not a CloudWatch unit"),
            );
        }
    };
    let storage_resolution = match m.get("StorageResolution") {
        None => 60,
        Some(v) if v.as_u64() == Some(1) => 1,
        Some(v) if v.as_u64() == Some(60) => 60,
        Some(_) => return fail(format!("{at}.StorageResolution"), "must be 1 or 60"),
    };
    let target = format!("the member {name:?}");
    let values = match root.get(&name) {
        Some(Value::Number(n)) => vec![n.as_f64().unwrap_or(f64::NAN)],
        Some(Value::Array(items)) => {
            if items.len() > MAX_VALUES {
                return fail(
                    at,
                    format!("{target} must not hold more than {MAX_VALUES} values"),
                );
            }
            items
                .iter()
                .map(|v| v.as_f64().ok_or(()))
                .collect::<Result<Vec<_>, _>>()
                .or_else(|()| fail(at, format!("{target} must hold numbers only")))?
        }
        Some(_) => {
            return fail(
                at,
                format!("{target} must be a number or an array of numbers"),
            );
        }
        None => {
            return fail(
                at,
                format!("{target} is missing: a metric needs a top-level value"),
            );
        }
    };
    Ok(Metric {
        name,
        unit,
        storage_resolution,
        values,
    })
}

impl Record {
    /// A top-level string member (a dimension value or a string property).
    pub fn text(&self, name: &str) -> Option<&str> {
        self.members.get(name).and_then(Value::as_str)
    }
}
