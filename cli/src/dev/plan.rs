//! Turns the rendered template's functions, APIs and mappings, resolved against the deployed stack, into what the local runtime runs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use ob_core::route_key::RouteKey;
use ob_local::sources::MappingSpec;
use ob_local::sources::dynamodb_stream::{StartingPosition, StreamSpec};
use ob_local::sources::sqs_queue::QueueSpec;
use ob_local::{FunctionSpec, HttpApiSpec, Limits, WebSocketRoute, WebSocketSpec};

use super::resolve::{Deployed, LocalApis, Resolver};
use crate::error::{CliError, Result};
use crate::render::model::{Protocol, StackModel};

/// Everything `obctl dev` starts.
#[derive(Debug)]
pub struct LocalPlan {
    pub functions: Vec<FunctionSpec>,
    pub http: Option<HttpApiSpec>,
    pub websocket: Option<WebSocketSpec>,
    pub streams: Vec<(MappingSpec, StreamSpec)>,
    pub queues: Vec<(MappingSpec, QueueSpec)>,
}

/// What the plan needs besides the template and the stack.
#[derive(Debug, Clone)]
pub struct Options {
    /// `127.0.0.1:8787`, where the local gateway listens.
    pub address: String,
    pub max_instances: usize,
    /// Package → host executable.
    pub binaries: BTreeMap<String, PathBuf>,
    /// Variables every process gets besides the template's and Lambda's own:
    /// credentials and the emulator endpoint.
    pub aws_env: Vec<(String, String)>,
}

/// Long-poll of the local queue pollers: Lambda's 20 s, as the emulator answers as soon as a message arrives.
const QUEUE_WAIT: Duration = Duration::from_secs(20);

fn template_error(what: String) -> CliError {
    CliError::new(what).fix("correct the template fragment, or deploy the stage again if the stack is older than the template")
}

pub fn plan(model: &StackModel, deployed: &Deployed, options: &Options) -> Result<LocalPlan> {
    let apis = LocalApis {
        ids: deployed
            .types
            .iter()
            .filter(|(_, kind)| *kind == "AWS::ApiGatewayV2::Api")
            .map(|(id, _)| (id.clone(), LocalApis::id_for(id)))
            .chain(
                model
                    .apis
                    .iter()
                    .map(|a| (a.logical_id.clone(), LocalApis::id_for(&a.logical_id))),
            )
            .collect(),
        address: options.address.clone(),
    };
    let resolver = Resolver {
        deployed,
        apis: &apis,
    };
    let mut functions = Vec::new();
    for function in &model.functions {
        let name = function.def.name;
        let executable = options
            .binaries
            .get(function.def.package)
            .cloned()
            .ok_or_else(|| {
                CliError::new(format!(
                    "cargo built no binary {} for the {name} function",
                    function.def.package
                ))
                .fix(format!(
                    "add functions/{name}/ with a [[bin]] named {}",
                    function.def.package
                ))
            })?;
        let mut env = Vec::new();
        for (variable, value) in &function.environment {
            let resolved = resolver.resolve(value).map_err(|err| {
                template_error(format!(
                    "{}: Environment.Variables.{variable}: {err}",
                    function.logical_id
                ))
            })?;
            env.push((variable.clone(), resolved));
        }
        let log_group = function
            .log_group
            .as_ref()
            .and_then(|id| deployed.physical.get(id).cloned())
            .unwrap_or_else(|| format!("/aws/lambda/{}", function.function_name));
        env.extend(options.aws_env.iter().cloned());
        functions.push(FunctionSpec {
            name: name.to_owned(),
            arn: format!(
                "arn:aws:lambda:{}:{}:function:{}",
                deployed.region, deployed.account_id, function.function_name
            ),
            function_name: function.function_name.clone(),
            executable,
            memory_mb: function.memory_mb,
            timeout: Duration::from_secs(u64::from(function.timeout_seconds)),
            region: deployed.region.clone(),
            log_group,
            log_format: function.log_format.clone(),
            env,
            max_instances: options.max_instances,
        });
    }

    let http = match model.api(Protocol::Http) {
        None => None,
        Some(api) => {
            let mut routes = Vec::new();
            for route in &api.routes {
                if route.payload_format.as_deref() != Some("2.0") {
                    return Err(template_error(format!(
                        "{}: payload format {:?}: the local gateway runs Lambda integrations with payload format 2.0 only",
                        route.logical_id, route.payload_format
                    )));
                }
                let key = RouteKey::parse(&route.key)
                    .map_err(|err| template_error(format!("{}: {err}", route.logical_id)))?;
                routes.push((key, route.function.name.to_owned()));
            }
            Some(HttpApiSpec {
                api_id: LocalApis::id_for(&api.logical_id),
                account_id: deployed.account_id.clone(),
                stage: api.stage_name.clone(),
                routes,
                throttle: api.throttle,
            })
        }
    };

    let websocket = match model.api(Protocol::WebSocket) {
        None => None,
        Some(api) => {
            let expression = api
                .route_selection
                .as_deref()
                .unwrap_or("$request.body.action");
            let selection_field = WebSocketSpec::selection_field(expression)
                .map_err(|err| template_error(format!("{}: {err}", api.logical_id)))?;
            Some(WebSocketSpec {
                api_id: LocalApis::id_for(&api.logical_id),
                stage: api.stage_name.clone(),
                selection_field,
                routes: api
                    .routes
                    .iter()
                    .map(|r| WebSocketRoute {
                        key: r.key.clone(),
                        function: r.function.name.to_owned(),
                        two_way: r.two_way,
                    })
                    .collect(),
                throttle: api.throttle,
                limits: Limits::default(),
            })
        }
    };

    let mut streams = Vec::new();
    let mut queues = Vec::new();
    for mapping in &model.mappings {
        let source = resolver.resolve(&mapping.source).map_err(|err| {
            template_error(format!("{}.EventSourceArn: {err}", mapping.logical_id))
        })?;
        let spec = MappingSpec {
            name: mapping.logical_id.clone(),
            function: mapping.function.name.to_owned(),
            batch_size: mapping.batch_size.max(1) as usize,
            batching_window: Duration::from_secs(u64::from(mapping.batching_window_seconds)),
            report_batch_item_failures: mapping.report_batch_item_failures,
        };
        if source.starts_with("arn:aws:sqs:") {
            queues.push((
                spec,
                QueueSpec {
                    mapping: mapping.logical_id.clone(),
                    queue_arn: source,
                    wait: QUEUE_WAIT,
                },
            ));
            continue;
        }
        if !(source.contains(":table/") && source.contains("/stream/")) {
            return Err(template_error(format!(
                "{}: event source {source} is neither a DynamoDB stream nor an SQS queue, the sources the local runtime reads",
                mapping.logical_id
            )));
        }
        let on_failure = match &mapping.on_failure {
            None => None,
            Some(destination) => {
                let arn = resolver.resolve(destination).map_err(|err| {
                    template_error(format!(
                        "{}.DestinationConfig.OnFailure.Destination: {err}",
                        mapping.logical_id
                    ))
                })?;
                if !arn.starts_with("arn:aws:sqs:") {
                    return Err(template_error(format!(
                        "{}: on-failure destination {arn} is not an SQS queue, the destination the local runtime sends to",
                        mapping.logical_id
                    )));
                }
                Some(arn)
            }
        };
        let function_arn = functions
            .iter()
            .find(|f| f.name == mapping.function.name)
            .map(|f| f.arn.clone())
            .unwrap_or_default();
        let starting_position = match mapping.starting_position.as_deref() {
            Some("LATEST") | None => StartingPosition::Latest,
            Some("TRIM_HORIZON") => StartingPosition::TrimHorizon,
            Some(other) => {
                return Err(template_error(format!(
                    "{}: StartingPosition {other} is not supported locally (LATEST or TRIM_HORIZON)",
                    mapping.logical_id
                )));
            }
        };
        streams.push((
            spec,
            StreamSpec {
                mapping: mapping.logical_id.clone(),
                stream_arn: source,
                region: deployed.region.clone(),
                starting_position,
                bisect_on_error: mapping.bisect_on_error,
                max_retries: mapping.max_retries,
                max_record_age: mapping
                    .max_record_age_seconds
                    .map(|s| Duration::from_secs(u64::from(s))),
                function_arn,
                on_failure,
            },
        ));
    }
    Ok(LocalPlan {
        functions,
        http,
        websocket,
        streams,
        queues,
    })
}
