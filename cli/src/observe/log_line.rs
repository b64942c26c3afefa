//! One log event of a function, understood: its request id, level and message, readable on a terminal or as JSON.
//!
//! Functions write JSON lines (tracing's JSON format), EMF metric lines and,
//! with Lambda's JSON log format, platform records (`platform.start`,
//! `platform.report`); Lambda's text format writes `START RequestId: …`
//! lines. Each is shown compactly with the request id kept; anything else is
//! shown as it is.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::terminal::Style;

/// An event as CloudWatch Logs returned it, with the function it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    pub timestamp_ms: i64,
    pub function: String,
    pub log_stream: String,
    pub event_id: String,
    pub message: String,
}

/// The event in `--output json`: the message passed through as JSON when it is JSON.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonLine<'a> {
    pub timestamp: String,
    pub function: &'a str,
    pub log_stream: &'a str,
    pub event_id: &'a str,
    pub request_id: Option<String>,
    pub level: Option<String>,
    pub message: Value,
}

impl LogEvent {
    fn parsed(&self) -> Option<Map<String, Value>> {
        match serde_json::from_str(self.message.trim_end()) {
            Ok(Value::Object(map)) => Some(map),
            _ => None,
        }
    }

    /// The request id the line belongs to, wherever its format keeps it.
    pub fn request_id(&self) -> Option<String> {
        let Some(map) = self.parsed() else {
            // Lambda's text format: "START RequestId: <id> Version: …".
            let rest = self.message.split("RequestId: ").nth(1)?;
            return rest.split_whitespace().next().map(str::to_owned);
        };
        let text = |v: &Value| v.as_str().map(str::to_owned);
        map.get("requestId")
            .and_then(text)
            .or_else(|| map.get("record")?.get("requestId").and_then(text))
            .or_else(|| map.get("fields")?.get("request_id").and_then(text))
            .or_else(|| {
                map.get("spans")?
                    .as_array()?
                    .iter()
                    .find_map(|s| s.get("requestId").and_then(text))
            })
    }

    pub fn level(&self) -> Option<String> {
        let map = self.parsed()?;
        map.get("level")
            .and_then(Value::as_str)
            .map(str::to_uppercase)
            .or_else(|| map.contains_key("_aws").then(|| "METRICS".to_owned()))
    }

    pub fn to_json(&self) -> JsonLine<'_> {
        JsonLine {
            timestamp: rfc3339_millis(self.timestamp_ms),
            function: &self.function,
            log_stream: &self.log_stream,
            event_id: &self.event_id,
            request_id: self.request_id(),
            level: self.level(),
            message: self
                .parsed()
                .map_or_else(|| json!(self.message.trim_end()), Value::Object),
        }
    }

    /// One line for a terminal: time, function, request id, level, message.
    pub fn render(&self, function_width: usize, color: bool) -> String {
        let level = self.level();
        let level_style = match level.as_deref() {
            Some("ERROR") => Style::BoldRed,
            Some("WARN") => Style::Yellow,
            Some("METRICS" | "DEBUG" | "TRACE") => Style::Dim,
            _ => Style::Green,
        };
        let mut line = format!(
            "{} {} ",
            Style::Dim.paint(color, &rfc3339_millis(self.timestamp_ms)),
            Style::Cyan.paint(color, &format!("{:<function_width$}", self.function)),
        );
        if let Some(id) = self.request_id() {
            line.push_str(&Style::Magenta.paint(color, &id));
            line.push(' ');
        }
        if let Some(level) = &level {
            line.push_str(&level_style.paint(color, &format!("{level:<5}")));
            line.push(' ');
        }
        let body = match self.parsed() {
            Some(map) => describe(&map),
            None => self.message.trim_end().to_owned(),
        };
        line.push_str(&body);
        line
    }
}

/// The readable part of a JSON line (request id and level are shown apart).
fn describe(map: &Map<String, Value>) -> String {
    if map.contains_key("_aws") {
        return pairs(
            map.iter()
                .filter(|(k, _)| *k != "_aws" && *k != "requestId"),
        );
    }
    if let (Some(kind), Some(record)) = (
        map.get("type").and_then(Value::as_str),
        map.get("record").and_then(Value::as_object),
    ) {
        return platform(kind, record);
    }
    if let Some(fields) = map.get("fields").and_then(Value::as_object) {
        let message = fields
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let rest = pairs(
            fields
                .iter()
                .filter(|(k, _)| *k != "message" && *k != "request_id"),
        );
        let target = map
            .get("target")
            .and_then(Value::as_str)
            .map(|t| format!("({t})"))
            .unwrap_or_default();
        return [message.to_owned(), rest, target]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
    }
    pairs(
        map.iter()
            .filter(|(k, _)| *k != "level" && *k != "requestId"),
    )
}

/// Lambda platform records, e.g. `REPORT duration=12.3 ms billed=13 ms memory=45/256 MB init=80.1 ms`.
fn platform(kind: &str, record: &Map<String, Value>) -> String {
    let name = kind
        .strip_prefix("platform.")
        .unwrap_or(kind)
        .to_uppercase();
    let metrics = record.get("metrics").and_then(Value::as_object);
    let number = |key: &str| metrics.and_then(|m| m.get(key)).and_then(Value::as_f64);
    if let (Some(duration), true) = (number("durationMs"), kind == "platform.report") {
        let mut text = format!("{name} duration={duration} ms");
        if let Some(billed) = number("billedDurationMs") {
            text.push_str(&format!(" billed={billed} ms"));
        }
        if let (Some(used), Some(size)) = (number("maxMemoryUsedMB"), number("memorySizeMB")) {
            text.push_str(&format!(" memory={used}/{size} MB"));
        }
        if let Some(init) = number("initDurationMs") {
            text.push_str(&format!(" init={init} ms"));
        }
        return text;
    }
    let rest = pairs(record.iter().filter(|(k, _)| *k != "requestId"));
    format!("{name} {rest}").trim_end().to_owned()
}

fn pairs<'a>(items: impl Iterator<Item = (&'a String, &'a Value)>) -> String {
    items
        .map(|(k, v)| match v {
            Value::String(s) if s.contains(' ') => format!("{k}={s:?}"),
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `2025-11-23T20:43:05.123Z`.
pub fn rfc3339_millis(ms: i64) -> String {
    ob_core::clock::epoch_millis_to_rfc3339(ms)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn event(message: &str) -> LogEvent {
        LogEvent {
            timestamp_ms: 1_763_930_585_123,
            function: "auth".into(),
            log_stream: "2025/11/23/[$LATEST]abc".into(),
            event_id: "1".into(),
            message: message.into(),
        }
    }

    #[test]
    fn json_logs_read_as_level_message_fields_with_the_request_id() {
        let e = event(
            r#"{"level":"WARN","fields":{"message":"could not record api key use","error":"throttled"},"target":"ob_api::context","spans":[{"requestId":"8f2c-11","name":"Lambda runtime invoke"}]}"#,
        );
        assert_eq!(e.request_id().as_deref(), Some("8f2c-11"));
        assert_eq!(
            e.render(6, false),
            "2025-11-23T20:43:05.123Z auth   8f2c-11 WARN  could not record api key use error=throttled (ob_api::context)"
        );
        let json = serde_json::to_value(e.to_json()).unwrap();
        assert_eq!(
            json["message"]["fields"]["error"], "throttled",
            "passed through"
        );
        assert_eq!(json["requestId"], "8f2c-11");
        assert_eq!(json["timestamp"], "2025-11-23T20:43:05.123Z");
    }

    #[test]
    fn metrics_platform_records_and_text_lines_stay_readable() {
        let emf = event(
            r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[]},"Stage":"dev","Route":"GET /health","Requests":1,"Latency":2.5,"requestId":"r-1"}"#,
        );
        assert_eq!(
            emf.render(4, false),
            "2025-11-23T20:43:05.123Z auth r-1 METRICS Stage=dev Route=\"GET /health\" Requests=1 Latency=2.5"
        );
        let report = event(
            r#"{"time":"2025-11-23T20:43:05.123Z","type":"platform.report","record":{"requestId":"r-2","metrics":{"durationMs":12.5,"billedDurationMs":13,"memorySizeMB":256,"maxMemoryUsedMB":40,"initDurationMs":80.2}}}"#,
        );
        assert!(
            report.render(4, false).ends_with(
                "r-2 REPORT duration=12.5 ms billed=13 ms memory=40/256 MB init=80.2 ms"
            )
        );
        let start = event("START RequestId: 6b1e-77 Version: $LATEST\n");
        assert_eq!(start.request_id().as_deref(), Some("6b1e-77"));
        assert!(
            start
                .render(4, false)
                .ends_with("6b1e-77 START RequestId: 6b1e-77 Version: $LATEST")
        );
        assert_eq!(
            serde_json::to_value(start.to_json()).unwrap()["message"],
            "START RequestId: 6b1e-77 Version: $LATEST"
        );
        assert!(Style::Red.paint(true, "x").contains('\x1b'));
        assert!(
            !report.render(4, false).contains('\x1b'),
            "no colour unless asked"
        );
    }
}
