//! What a rendered template declares about its functions, HTTP and WebSocket APIs and event source mappings, read back as typed values.
//!
//! `obctl dev` runs exactly this shape locally and the tests hold it to
//! `ob_core::functions`; both read the template the same way, here. Values a
//! deploy resolves (`!Ref`, `!GetAtt`, `!Sub`) stay as written: the local
//! runtime resolves them against the deployed stack.

use ob_core::functions::{self, FunctionDef};
use serde_yaml::Value;

use super::Template;

/// The runnable shape of a stack.
#[derive(Debug, Clone)]
pub struct StackModel {
    pub functions: Vec<FunctionModel>,
    pub apis: Vec<ApiModel>,
    pub mappings: Vec<MappingModel>,
}

/// One `AWS::Lambda::Function`.
#[derive(Debug, Clone)]
pub struct FunctionModel {
    pub logical_id: String,
    pub def: &'static FunctionDef,
    /// `FunctionName` as written (a string once rendered).
    pub function_name: String,
    pub memory_mb: u32,
    pub timeout_seconds: u32,
    /// `Environment.Variables`, values unresolved, in template order.
    pub environment: Vec<(String, Value)>,
    /// Logical id of the `LoggingConfig.LogGroup` it logs to, if any.
    pub log_group: Option<String>,
    /// `LoggingConfig.LogFormat` (`JSON` or `Text`).
    pub log_format: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http,
    WebSocket,
}

/// One `AWS::ApiGatewayV2::Api` with its stage and routes.
#[derive(Debug, Clone)]
pub struct ApiModel {
    pub logical_id: String,
    pub protocol: Protocol,
    /// `RouteSelectionExpression` (WebSocket APIs).
    pub route_selection: Option<String>,
    pub stage_name: String,
    /// `DefaultRouteSettings` throttling of the stage: (requests per second, burst).
    pub throttle: Option<(f64, u32)>,
    pub routes: Vec<RouteModel>,
}

/// One `AWS::ApiGatewayV2::Route` and the function its integration invokes.
#[derive(Debug, Clone)]
pub struct RouteModel {
    pub logical_id: String,
    pub key: String,
    pub function: &'static FunctionDef,
    /// The integration's `PayloadFormatVersion` (HTTP APIs).
    pub payload_format: Option<String>,
    /// A `$default` RouteResponse exists: the function's reply goes back to the client.
    pub two_way: bool,
}

/// One `AWS::Lambda::EventSourceMapping`.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingModel {
    pub logical_id: String,
    pub function: &'static FunctionDef,
    /// `EventSourceArn` as written (e.g. `!GetAtt DataTable.StreamArn`).
    pub source: Value,
    pub batch_size: u32,
    pub batching_window_seconds: u32,
    pub starting_position: Option<String>,
    pub report_batch_item_failures: bool,
    pub bisect_on_error: bool,
    /// `MaximumRetryAttempts`; `None` is Lambda's default (retry until the record expires).
    pub max_retries: Option<u32>,
    pub max_record_age_seconds: Option<u32>,
    /// `DestinationConfig.OnFailure.Destination` as written.
    pub on_failure: Option<Value>,
}

/// Reads the model; an error names the resource and property that could not be read.
pub fn read(template: &Template) -> Result<StackModel, String> {
    let resources = template
        .resources()
        .ok_or("the template has no Resources")?;
    let by_id = |id: &str| resources.get(id);
    let of_type = |kind: &str| -> Vec<(String, &Value)> {
        resources
            .iter()
            .filter(|(_, r)| r["Type"] == kind)
            .filter_map(|(k, r)| Some((k.as_str()?.to_owned(), r)))
            .collect()
    };

    let mut functions = Vec::new();
    for (id, resource) in of_type("AWS::Lambda::Function") {
        let def = functions::ALL
            .iter()
            .find(|f| f.logical_id() == id)
            .ok_or_else(|| {
                format!("{id}: no function of ob_core::functions has this logical id")
            })?;
        let p = &resource["Properties"];
        functions.push(FunctionModel {
            function_name: text(&p["FunctionName"])
                .ok_or_else(|| format!("{id}.Properties.FunctionName is not a string"))?,
            memory_mb: number(&p["MemorySize"]).unwrap_or(128),
            timeout_seconds: number(&p["Timeout"]).unwrap_or(3),
            environment: p["Environment"]["Variables"]
                .as_mapping()
                .map(|vars| {
                    vars.iter()
                        .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.clone())))
                        .collect()
                })
                .unwrap_or_default(),
            log_group: p["LoggingConfig"]["LogGroup"]["Ref"]
                .as_str()
                .map(str::to_owned),
            log_format: text(&p["LoggingConfig"]["LogFormat"]),
            logical_id: id,
            def,
        });
    }
    let function_of = |owner: &str, target: &Value| -> Result<&'static FunctionDef, String> {
        let id = referenced_function(target)
            .ok_or_else(|| format!("{owner}: cannot tell which function it invokes"))?;
        functions
            .iter()
            .find(|f| f.logical_id == id)
            .map(|f| f.def)
            .ok_or_else(|| format!("{owner}: invokes {id}, which is not a function here"))
    };

    let mut apis = Vec::new();
    for (id, resource) in of_type("AWS::ApiGatewayV2::Api") {
        let p = &resource["Properties"];
        let protocol = match p["ProtocolType"].as_str() {
            Some("HTTP") => Protocol::Http,
            Some("WEBSOCKET") => Protocol::WebSocket,
            other => return Err(format!("{id}.Properties.ProtocolType is {other:?}")),
        };
        let stage = of_type("AWS::ApiGatewayV2::Stage")
            .into_iter()
            .find(|(_, s)| refers_to(&s["Properties"]["ApiId"], &id));
        let (stage_name, throttle) = match stage {
            Some((stage_id, s)) => {
                let sp = &s["Properties"];
                let settings = &sp["DefaultRouteSettings"];
                let throttle = match (
                    float(&settings["ThrottlingRateLimit"]),
                    number(&settings["ThrottlingBurstLimit"]),
                ) {
                    (Some(rate), Some(burst)) => Some((rate, burst)),
                    _ => None,
                };
                let name = text(&sp["StageName"])
                    .ok_or_else(|| format!("{stage_id}.Properties.StageName is not a string"))?;
                (name, throttle)
            }
            None => ("$default".to_owned(), None),
        };
        let mut routes = Vec::new();
        for (route_id, route) in of_type("AWS::ApiGatewayV2::Route") {
            let rp = &route["Properties"];
            if !refers_to(&rp["ApiId"], &id) {
                continue;
            }
            let key = text(&rp["RouteKey"])
                .ok_or_else(|| format!("{route_id}.Properties.RouteKey is not a string"))?;
            let integration_id = integration_of(&rp["Target"])
                .ok_or_else(|| format!("{route_id}.Properties.Target names no integration"))?;
            let integration = by_id(&integration_id)
                .ok_or_else(|| format!("{route_id}: integration {integration_id} is missing"))?;
            let ip = &integration["Properties"];
            let function = function_of(&integration_id, &ip["IntegrationUri"])?;
            let two_way = of_type("AWS::ApiGatewayV2::RouteResponse")
                .into_iter()
                .any(|(_, r)| {
                    refers_to(&r["Properties"]["RouteId"], &route_id)
                        && r["Properties"]["RouteResponseKey"] == "$default"
                });
            routes.push(RouteModel {
                logical_id: route_id,
                key,
                function,
                payload_format: text(&ip["PayloadFormatVersion"]),
                two_way,
            });
        }
        apis.push(ApiModel {
            route_selection: text(&p["RouteSelectionExpression"]),
            logical_id: id,
            protocol,
            stage_name,
            throttle,
            routes,
        });
    }

    let mut mappings = Vec::new();
    for (id, resource) in of_type("AWS::Lambda::EventSourceMapping") {
        let p = &resource["Properties"];
        let types = p["FunctionResponseTypes"].as_sequence();
        mappings.push(MappingModel {
            function: function_of(&id, &p["FunctionName"])?,
            source: p["EventSourceArn"].clone(),
            batch_size: number(&p["BatchSize"]).unwrap_or(100),
            batching_window_seconds: number(&p["MaximumBatchingWindowInSeconds"]).unwrap_or(0),
            starting_position: text(&p["StartingPosition"]),
            report_batch_item_failures: types
                .is_some_and(|t| t.iter().any(|v| v == "ReportBatchItemFailures")),
            bisect_on_error: p["BisectBatchOnFunctionError"] == true,
            max_retries: number(&p["MaximumRetryAttempts"]).filter(|n| *n != u32::MAX),
            max_record_age_seconds: number(&p["MaximumRecordAgeInSeconds"]),
            on_failure: Some(&p["DestinationConfig"]["OnFailure"]["Destination"])
                .filter(|d| !d.is_null())
                .cloned(),
            logical_id: id,
        });
    }
    Ok(StackModel {
        functions,
        apis,
        mappings,
    })
}

impl StackModel {
    pub fn api(&self, protocol: Protocol) -> Option<&ApiModel> {
        self.apis.iter().find(|a| a.protocol == protocol)
    }

    pub fn function(&self, def: &FunctionDef) -> Option<&FunctionModel> {
        self.functions.iter().find(|f| f.def.name == def.name)
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A whole number written as a number or a numeric string (`"{{fn.memoryMb}}"` renders either way).
fn number(value: &Value) -> Option<u32> {
    match value {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn float(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn refers_to(value: &Value, logical_id: &str) -> bool {
    value["Ref"].as_str() == Some(logical_id)
}

/// `integrations/${X}` (a `Fn::Sub`) → `X`.
fn integration_of(target: &Value) -> Option<String> {
    let sub = target["Fn::Sub"].as_str()?;
    let id = sub.strip_prefix("integrations/${")?.strip_suffix('}')?;
    Some(id.to_owned())
}

/// The function an integration URI or a mapping's `FunctionName` points at:
/// `!Ref F`, `!GetAtt F.Arn`, or a `!Sub` naming `${F.Arn}`.
fn referenced_function(value: &Value) -> Option<String> {
    if let Some(id) = value["Ref"].as_str() {
        return Some(id.to_owned());
    }
    if let Some(parts) = value["Fn::GetAtt"].as_sequence() {
        return parts.first()?.as_str().map(str::to_owned);
    }
    let sub = value["Fn::Sub"].as_str()?;
    sub.split("${")
        .skip(1)
        .filter_map(|piece| piece.split('}').next())
        .find_map(|name| name.strip_suffix(".Arn"))
        .map(str::to_owned)
}

/// Lets tests build a model from hand-written YAML.
pub fn read_value(value: Value) -> Result<StackModel, String> {
    read(&Template { value })
}
