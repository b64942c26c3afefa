//! The dashboard, alarms and log groups of every stage's template, held to the
//! typed definitions they are built from (functions, ob-core's tables and
//! queues, ob-metrics' catalog), so none can drift from what is deployed.

use std::collections::BTreeSet;

use ob_core::functions;
use ob_core::queues;
use ob_core::tables;
use ob_metrics::catalog;
use obctl::stage;
use serde_json::Value as Json;
use serde_yaml::Value;

use crate::render::{project, rendered};

fn of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    template["Resources"]
        .as_mapping()
        .expect("resources")
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(k, v)| (k.as_str().expect("logical id"), v))
        .collect()
}

/// The dashboard's body (a `Fn::Sub` string) and the `${…}` names it refers to.
fn dashboard(template: &Value) -> (Json, BTreeSet<String>) {
    let text = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
        .as_str()
        .expect("DashboardBody is a Fn::Sub string");
    let refs = text
        .split("${")
        .skip(1)
        .map(|piece| piece.split('}').next().unwrap_or_default().to_owned())
        .collect();
    (serde_json::from_str(text).expect("the body is JSON"), refs)
}

/// Every metric line of every graph: `[namespace, name, dim, value, …, {options}]`.
fn metric_lines(body: &Json) -> Vec<(String, &Json)> {
    body["widgets"]
        .as_array()
        .expect("widgets")
        .iter()
        .filter(|w| w["type"] == "metric")
        .flat_map(|w| {
            let title = w["properties"]["title"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            w["properties"]["metrics"]
                .as_array()
                .expect("metrics")
                .iter()
                .map(move |line| (title.clone(), line))
        })
        .collect()
}

fn has_line(
    body: &Json,
    title: &str,
    namespace: &str,
    metric: &str,
    dimension_value: &str,
) -> bool {
    metric_lines(body).iter().any(|(t, line)| {
        t == title
            && line[0] == namespace
            && line[1] == metric
            && line
                .as_array()
                .is_some_and(|l| l.iter().any(|v| v == dimension_value))
    })
}

#[test]
fn every_stage_has_its_dashboard_named_in_the_outputs() {
    for name in project().stages() {
        let stage = stage::load(&project(), &name).expect("stage");
        let template = rendered(&name);
        let dashboard = &template["Resources"]["Dashboard"];
        assert_eq!(dashboard["Type"], "AWS::CloudWatch::Dashboard", "{name}");
        assert_eq!(
            dashboard["Properties"]["DashboardName"],
            stage.config.stack_name.as_str()
        );
        assert_eq!(
            template["Outputs"]["DashboardName"]["Value"]["Ref"],
            "Dashboard"
        );
        let url = template["Outputs"]["DashboardUrl"]["Value"]["Fn::Sub"]
            .as_str()
            .expect("url");
        assert!(url.ends_with("#dashboards/dashboard/${Dashboard}"), "{url}");
    }
}

#[test]
fn the_dashboard_shows_traffic_latency_functions_tables_streams_and_queues() {
    for name in project().stages() {
        let template = rendered(&name);
        let (body, refs) = dashboard(&template);
        let declared: BTreeSet<String> = template["Resources"]
            .as_mapping()
            .expect("resources")
            .keys()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect();
        for r in &refs {
            let id = r.split('.').next().unwrap_or_default();
            assert!(
                declared.contains(id) || id.starts_with("AWS::"),
                "{name}: the dashboard refers to ${{{r}}}, which the template does not declare"
            );
        }
        let titles: BTreeSet<String> = metric_lines(&body).into_iter().map(|(t, _)| t).collect();
        for title in [
            "API requests and errors",
            "API latency (ms)",
            "Duration p99 (ms)",
            "Cold starts",
            "Consumed capacity units",
            "Throttled requests",
            "Stream iterator age (ms)",
            "Realtime",
            "Sign-ins",
        ] {
            assert!(
                titles.contains(title),
                "{name}: no {title:?} graph in {titles:?}"
            );
        }
        for stat in ["p50", "p99"] {
            assert!(
                metric_lines(&body)
                    .iter()
                    .any(|(t, l)| t == "API latency (ms)"
                        && l[1] == "Latency"
                        && l[6]["stat"] == stat),
                "{name}: no {stat} latency"
            );
        }
        for function in functions::ALL {
            let id = format!("${{{}}}", function.logical_id());
            let name_ = function.name;
            assert!(
                has_line(&body, "Duration p99 (ms)", "AWS/Lambda", "Duration", &id),
                "{name}: {name_}"
            );
            assert!(
                has_line(
                    &body,
                    "Cold starts",
                    catalog::NAMESPACE,
                    "ColdStarts",
                    name_
                ),
                "{name}: {name_}"
            );
        }
        for table in tables::ALL {
            let id = format!("${{{}}}", table.logical_id);
            for metric in ["ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits"] {
                assert!(
                    has_line(
                        &body,
                        "Consumed capacity units",
                        "AWS/DynamoDB",
                        metric,
                        &id
                    ),
                    "{name}: {id} {metric}"
                );
            }
            for metric in ["ReadThrottleEvents", "WriteThrottleEvents"] {
                assert!(
                    has_line(&body, "Throttled requests", "AWS/DynamoDB", metric, &id),
                    "{name}: {id} {metric}"
                );
            }
        }
        for (_, mapping) in of_type(&template, "AWS::Lambda::EventSourceMapping") {
            let function = mapping["Properties"]["FunctionName"]["Ref"]
                .as_str()
                .expect("function");
            let id = format!("${{{function}}}");
            assert!(
                has_line(
                    &body,
                    "Stream iterator age (ms)",
                    "AWS/Lambda",
                    "IteratorAge",
                    &id
                ),
                "{name}: {function}"
            );
        }
        for queue in queues::ALL {
            let id = format!("${{{}.QueueName}}", queue.logical_id);
            assert!(
                has_line(
                    &body,
                    "Queue depth",
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    &id
                ),
                "{name}: {id}"
            );
        }
        // Custom metrics are the catalog's, by the names and dimensions the functions publish.
        let text = body.to_string();
        for (title, line) in metric_lines(&body) {
            if line[0] == catalog::NAMESPACE {
                let metric = line[1].as_str().unwrap_or_default();
                assert!(
                    catalog::MetricDef::by_name(metric).is_some(),
                    "{name}/{title}: {metric} is not in the catalog"
                );
            }
            if let Some(expression) = line["expression"].as_str() {
                let metric = expression
                    .split("MetricName=\\\"")
                    .nth(1)
                    .or_else(|| expression.split("MetricName=\"").nth(1));
                let metric = metric.and_then(|m| m.split('"').next()).unwrap_or_default();
                assert!(
                    catalog::MetricDef::by_name(metric).is_some(),
                    "{name}/{title}: SEARCH of unknown {metric:?}"
                );
                assert!(
                    expression.contains(&format!("Stage=\"{name}\"")),
                    "{name}/{title}: {expression}"
                );
            }
        }
        assert!(
            text.contains("\"type\":\"alarm\""),
            "{name}: no alarm status widget"
        );
    }
}

fn alarms(template: &Value) -> Vec<(&str, &Value)> {
    of_type(template, "AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|(id, a)| (id, &a["Properties"]))
        .collect()
}

#[test]
fn alarms_cover_p99_latency_stream_age_and_dead_letter_queues_and_reach_the_topic() {
    for name in project().stages() {
        let stage = stage::load(&project(), &name).expect("stage");
        let template = rendered(&name);
        let all = alarms(&template);
        for (id, alarm) in &all {
            for actions in ["AlarmActions", "OKActions"] {
                assert_eq!(
                    alarm[actions][0]["Ref"], "AlarmTopic",
                    "{name}/{id} {actions}"
                );
            }
        }
        let latency = &template["Resources"]["HttpApiLatencyAlarm"]["Properties"];
        assert_eq!(latency["Namespace"], "AWS/ApiGateway");
        assert_eq!(latency["MetricName"], "Latency");
        assert_eq!(latency["ExtendedStatistic"], "p99");
        assert_eq!(
            latency["Threshold"], stage.config.alarms.latency_p99_ms,
            "{name}"
        );

        // Stream mappings (a queue mapping's backlog is its queue's depth alarm).
        let mappings: Vec<_> = of_type(&template, "AWS::Lambda::EventSourceMapping")
            .into_iter()
            .filter(|(_, m)| m["Properties"]["EventSourceArn"]["Fn::GetAtt"][1] == "StreamArn")
            .collect();
        assert!(!mappings.is_empty());
        for (id, mapping) in mappings {
            let function = mapping["Properties"]["FunctionName"]["Ref"]
                .as_str()
                .expect("function");
            let watched = all.iter().any(|(_, a)| {
                a["MetricName"] == "IteratorAge"
                    && a["Dimensions"][0]["Value"]["Ref"] == function
                    && a["Threshold"]
                        == u64::from(stage.config.alarms.stream_iterator_age_seconds) * 1000
            });
            assert!(
                watched,
                "{name}: stream mapping {id} of {function} has no IteratorAge alarm"
            );
        }

        let declared: BTreeSet<&str> = of_type(&template, "AWS::SQS::Queue")
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let defined: BTreeSet<&str> = queues::ALL.iter().map(|q| q.logical_id).collect();
        assert_eq!(
            declared, defined,
            "{name}: queues differ from ob-core's queues.rs"
        );
        for queue in queues::ALL.iter().filter(|q| q.dead_letter) {
            let watched = all.iter().any(|(_, a)| {
                a["MetricName"] == "ApproximateNumberOfMessagesVisible"
                    && a["Dimensions"][0]["Value"]["Fn::GetAtt"][0] == queue.logical_id
            });
            assert!(
                watched,
                "{name}: dead-letter queue {} has no alarm",
                queue.logical_id
            );
        }
    }
}

#[test]
fn functions_log_where_obctl_logs_reads_and_get_the_metrics_settings() {
    for name in project().stages() {
        let stage = stage::load(&project(), &name).expect("stage");
        let template = rendered(&name);
        for function in functions::ALL {
            let id = function.resource_prefix();
            let group = &template["Resources"][format!("{id}LogGroup").as_str()]["Properties"];
            assert_eq!(
                group["LogGroupName"],
                stage::log_group(&stage.config.stack_name, function).as_str(),
                "{name}/{}",
                function.name
            );
            let properties = &template["Resources"][format!("{id}Function").as_str()]["Properties"];
            assert_eq!(
                properties["LoggingConfig"]["LogGroup"]["Ref"],
                format!("{id}LogGroup").as_str()
            );
            let env = &properties["Environment"]["Variables"];
            assert_eq!(env["STAGE"], name.as_str());
            assert_eq!(
                env[ob_core::env::METRICS_PER_APP_ROUTES.name],
                if stage.config.metrics.per_app_routes {
                    "true"
                } else {
                    "false"
                }
            );
        }
    }
}
