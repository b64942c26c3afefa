//! The stage's CloudWatch dashboard, built from the typed definitions and the merged template.
//!
//! Functions (and the stream mappings feeding them), tables and queues come
//! from ob-core, custom metrics from ob-metrics' catalog, alarms from the
//! template being rendered, so each new function, table,
//! queue, stream mapping or alarm gets its widget line without an edit here.
//! The body is a `Fn::Sub` string: `${Resource}` references resolve to the
//! deployed names (functions, tables, the HTTP API).

use ob_core::queues::QueueDef;
use ob_core::tables::TableDef;
use ob_metrics::catalog::{self, MetricDef, NAMESPACE};
use serde_json::{Value, json};
use serde_yaml::{Mapping, Value as Yaml};

use ob_core::functions;

use crate::stage::Stage;

const REGION: &str = "${AWS::Region}";
/// Five-minute points: what the alarms evaluate and what CloudWatch keeps longest.
const PERIOD: u32 = 300;

/// What the dashboard is built from.
#[derive(Debug)]
pub struct Inputs<'a> {
    pub stage: &'a Stage,
    /// The template as merged so far (everything but the dashboard).
    pub template: &'a Yaml,
    pub tables: &'a [TableDef],
    pub queues: &'a [QueueDef],
}

/// Lays widgets out two to a row, section titles across the whole width.
#[derive(Debug, Default)]
struct Grid {
    widgets: Vec<Value>,
    x: u32,
    y: u32,
}

impl Grid {
    fn title(&mut self, markdown: &str) {
        self.newline();
        self.widgets.push(json!({
            "type": "text", "x": 0, "y": self.y, "width": 24, "height": 1,
            "properties": {"markdown": markdown, "background": "transparent"}
        }));
        self.y += 1;
    }

    fn newline(&mut self) {
        if self.x > 0 {
            self.x = 0;
            self.y += 6;
        }
    }

    fn graph(&mut self, title: &str, metrics: &[Value], extra: Value) {
        let mut properties = json!({
            "title": title, "region": REGION, "view": "timeSeries", "stacked": false,
            "period": PERIOD, "metrics": metrics,
        });
        if let (Some(p), Value::Object(more)) = (properties.as_object_mut(), extra) {
            p.extend(more);
        }
        self.widgets.push(json!({
            "type": "metric", "x": self.x, "y": self.y, "width": 12, "height": 6,
            "properties": properties,
        }));
        if self.x == 0 {
            self.x = 12;
        } else {
            self.newline();
        }
    }
}

fn resources(template: &Yaml) -> impl Iterator<Item = (&str, &Yaml)> {
    template
        .get("Resources")
        .and_then(Yaml::as_mapping)
        .into_iter()
        .flat_map(Mapping::iter)
        .filter_map(|(k, v)| Some((k.as_str()?, v)))
}

fn of_type<'a>(template: &'a Yaml, kind: &'a str) -> impl Iterator<Item = (&'a str, &'a Yaml)> {
    resources(template).filter(move |(_, r)| r.get("Type").and_then(Yaml::as_str) == Some(kind))
}

/// A custom metric of the stage, by stage only.
fn custom(metric: &MetricDef, stage: &str, stat: &str) -> Value {
    json!([NAMESPACE, metric.name, "Stage", stage, {"stat": stat, "label": metric.name}])
}

/// A SEARCH over one catalog metric, one line per value of `by`.
fn search(id: &str, metric: &MetricDef, by: &str, stage: &str, stat: &str) -> Value {
    let expression = format!(
        "SEARCH('{{{NAMESPACE},{by},Stage}} MetricName=\"{}\" Stage=\"{stage}\"', '{stat}', {PERIOD})",
        metric.name
    );
    json!({"id": id, "expression": expression, "label": "", "region": REGION})
}

fn api(metric: &str, stat: &str, label: &str) -> Value {
    json!(["AWS/ApiGateway", metric, "ApiId", "${HttpApi}", "Stage", "$default", {"stat": stat, "label": label}])
}

fn threshold(label: &str, value: f64) -> Value {
    json!({"annotations": {"horizontal": [{"label": label, "value": value}]}})
}

/// The `DashboardBody` value: `{"Fn::Sub": "<JSON>"}`.
pub fn body(inputs: &Inputs<'_>) -> Yaml {
    let stage = inputs.stage.name.as_str();
    let alarms = &inputs.stage.config.alarms;
    let functions: Vec<(&str, String)> = functions::ALL
        .iter()
        .map(|f| (f.name, f.logical_id()))
        .collect();
    let mut grid = Grid::default();

    grid.title(&format!("# One Backend, stage {stage}\nHTTP API, functions, tables, realtime and queues. Metrics in `{NAMESPACE}` come from the functions' EMF log lines (see the README)."));
    grid.graph(
        "API requests and errors",
        &[
            api("Count", "Sum", "requests"),
            api("4xx", "Sum", "4xx"),
            api("5xx", "Sum", "5xx"),
        ],
        json!({}),
    );
    grid.graph(
        "API latency (ms)",
        &[
            api("Latency", "p50", "p50"),
            api("Latency", "p90", "p90"),
            api("Latency", "p99", "p99"),
            api("IntegrationLatency", "p99", "integration p99"),
        ],
        threshold("p99 alarm", f64::from(alarms.latency_p99_ms)),
    );
    grid.graph(
        "Requests by route",
        &[search("routes", &catalog::REQUESTS, "Route", stage, "Sum")],
        json!({}),
    );
    grid.graph(
        "Latency p99 by route (ms)",
        &[search(
            "routesp99",
            &catalog::LATENCY,
            "Route",
            stage,
            "p99",
        )],
        json!({}),
    );
    grid.graph(
        "5xx by route",
        &[search(
            "routes5xx",
            &catalog::SERVER_ERRORS,
            "Route",
            stage,
            "Sum",
        )],
        json!({}),
    );
    grid.graph(
        "Requests by app",
        &[search("apps", &catalog::REQUESTS, "App", stage, "Sum")],
        json!({}),
    );

    grid.title("## Functions");
    let per_function = |metric: &str, stat: &str| -> Vec<Value> {
        functions
            .iter()
            .map(|(name, id)| json!(["AWS/Lambda", metric, "FunctionName", format!("${{{id}}}"), {"stat": stat, "label": name}]))
            .collect()
    };
    grid.graph(
        "Duration p99 (ms)",
        &per_function("Duration", "p99"),
        json!({}),
    );
    let cold: Vec<Value> = functions
        .iter()
        .map(|(name, _)| json!([NAMESPACE, catalog::COLD_STARTS.name, "Stage", stage, "Function", name, {"stat": "Sum", "label": name}]))
        .collect();
    grid.graph("Cold starts", &cold, json!({}));
    grid.graph("Errors", &per_function("Errors", "Sum"), json!({}));
    grid.graph("Throttles", &per_function("Throttles", "Sum"), json!({}));

    grid.title("## DynamoDB");
    let per_table = |metrics: [&str; 2]| -> Vec<Value> {
        inputs
            .tables
            .iter()
            .flat_map(|t| metrics.map(|m| (t.logical_id, m)))
            .map(|(id, m)| json!(["AWS/DynamoDB", m, "TableName", format!("${{{id}}}"), {"stat": "Sum", "label": format!("{id} {m}")}]))
            .collect()
    };
    grid.graph(
        "Consumed capacity units",
        &per_table(["ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits"]),
        json!({}),
    );
    grid.graph(
        "Throttled requests",
        &per_table(["ReadThrottleEvents", "WriteThrottleEvents"]),
        json!({}),
    );

    grid.title("## Realtime, sign-ins and queues");
    let consumers: Vec<Value> = functions::ALL
        .iter()
        .filter(|f| !f.event_sources.is_empty())
        .map(|f| {
            let id = f.logical_id();
            json!(["AWS/Lambda", "IteratorAge", "FunctionName", format!("${{{id}}}"), {"stat": "Maximum", "label": format!("{} iterator age", f.name)}])
        })
        .collect();
    grid.graph(
        "Stream iterator age (ms)",
        &consumers,
        threshold(
            "alarm",
            f64::from(alarms.stream_iterator_age_seconds) * 1000.0,
        ),
    );
    let mut realtime: Vec<Value> = [
        &catalog::CONNECTIONS,
        &catalog::DELIVERIES,
        &catalog::GONE_CONNECTIONS,
    ]
    .into_iter()
    .map(|m| custom(m, stage, "Sum"))
    .collect();
    realtime.push(json!([NAMESPACE, catalog::FAN_OUT_LAG.name, "Stage", stage, {"stat": "p99", "label": "fan-out lag p99 (ms)", "yAxis": "right"}]));
    grid.graph("Realtime", &realtime, json!({}));
    let sign_ins: Vec<Value> = [
        &catalog::LOGINS,
        &catalog::LOGIN_FAILURES,
        &catalog::LOCK_OUTS,
        &catalog::REGISTRATIONS,
    ]
    .into_iter()
    .map(|m| custom(m, stage, "Sum"))
    .collect();
    grid.graph("Sign-ins", &sign_ins, json!({}));
    if !inputs.queues.is_empty() {
        let depth: Vec<Value> = inputs
            .queues
            .iter()
            .flat_map(|q| {
                let name = format!("${{{}.QueueName}}", q.logical_id);
                [
                    json!(["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", name, {"stat": "Maximum", "label": format!("{} depth", q.logical_id)}]),
                    json!(["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", name, {"stat": "Maximum", "label": format!("{} oldest (s)", q.logical_id), "yAxis": "right"}]),
                ]
            })
            .collect();
        grid.graph("Queue depth", &depth, json!({}));
    }

    grid.newline();
    let alarm_arns: Vec<String> = of_type(inputs.template, "AWS::CloudWatch::Alarm")
        .filter_map(|(_, a)| a.get("Properties")?.get("AlarmName")?.as_str())
        .map(|name| {
            format!("arn:${{AWS::Partition}}:cloudwatch:{REGION}:${{AWS::AccountId}}:alarm:{name}")
        })
        .collect();
    grid.widgets.push(json!({
        "type": "alarm", "x": 0, "y": grid.y, "width": 24, "height": 4,
        "properties": {"title": "Alarms", "alarms": alarm_arns, "sortBy": "stateUpdatedTimestamp"}
    }));

    // Pretty, so `obctl render` shows the body line by line (a YAML block).
    let body = json!({"start": "-PT6H", "periodOverride": "inherit", "widgets": grid.widgets});
    let text = serde_json::to_string_pretty(&body).unwrap_or_default();
    let mut sub = Mapping::new();
    sub.insert(Yaml::String("Fn::Sub".into()), Yaml::String(text));
    Yaml::Mapping(sub)
}
