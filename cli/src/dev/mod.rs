//! `obctl dev`: the stage's functions run as they deploy, from the rendered template, against the deployed stack
//! (the local emulator's for `make dev`): each function's own binary behind a local Lambda Runtime API, the HTTP
//! and WebSocket APIs of API Gateway in front, the stream mapping feeding realtime, the queue mapping feeding the
//! notify function, and the dev outbox of what it sent. `--in-process` serves the axum router in one process instead.

mod console;
pub mod example;
pub mod in_process;
pub mod metrics;
pub mod plan;
pub mod resolve;
pub(crate) mod stack;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use ob_local::server::{self, Gateway};
use ob_local::sources::{self, dynamodb_stream::DynamoDbStream, sqs_queue::SqsQueue};
use ob_local::{EventBus, HttpApi, Runtime, WebSocketApi};

use crate::args::{BuildProfile, DevArgs, GlobalArgs};
use crate::aws::Aws;
use crate::build;
use crate::error::{CliError, Result};
use crate::live::outbox::{self, Outbox};
use crate::project::Project;
use crate::render::{self, model};
use crate::stage;
use plan::LocalPlan;

pub async fn run(global: &GlobalArgs, args: &DevArgs, project: &Project) -> Result<u8> {
    if args.in_process {
        return in_process::run(global, args, project).await;
    }
    let stage = stage::load(project, &args.stage)?;
    let aws = Aws::connect(&args.aws, &stage.config.region).await;
    let address = SocketAddr::from(([127, 0, 0, 1], args.port));
    let listener = stack::listen(address).await?;
    let Prepared { plan, .. } = prepare(
        project,
        &stage.name,
        &aws,
        address,
        args.build_profile,
        args.max_instances,
        &[],
    )
    .await?;
    let events = EventBus::default();
    let printer = console::spawn(&events);
    let registry = std::sync::Arc::new(ob_metrics::Registry::default());
    let collector = metrics::collect(&events, registry.clone());
    let runtime = Runtime::new(plan.functions, events.clone());
    let started = runtime.start_instances().await;
    let failed: Vec<&String> = started
        .iter()
        .filter(|(_, ready)| ready.is_err())
        .map(|(name, _)| name)
        .collect();
    let http = plan.http.map(|spec| HttpApi::new(spec, runtime.clone()));
    let websocket = plan
        .websocket
        .map(|spec| WebSocketApi::new(spec, runtime.clone()));
    let streams = aws_sdk_dynamodbstreams::Client::new(&aws.config);
    let sqs = aws.sqs();
    let mut mappings: Vec<_> = plan
        .streams
        .into_iter()
        .map(|(mapping, stream)| {
            let source = DynamoDbStream::new(streams.clone(), sqs.clone(), stream, events.clone());
            sources::start(mapping, source, runtime.clone())
        })
        .collect();
    mappings.extend(plan.queues.into_iter().map(|(mapping, queue)| {
        let source = SqsQueue::new(sqs.clone(), queue, events.clone());
        sources::start(mapping, source, runtime.clone())
    }));
    let outbox = Outbox::new(aws.endpoint_url.as_deref());

    let live = websocket.as_ref().map(|ws| format!("/{}", ws.stage()));
    if let (Some(http), Some(path)) = (&http, &live)
        && http.routes("GET", path)
    {
        println!(
            "warning: the HTTP API's routes also match {path}; locally the WebSocket endpoint answers there"
        );
    }
    println!(
        "One Backend (stage {}) is serving on http://{address}: {} functions, one process each",
        stage.name,
        started.len()
    );
    if !failed.is_empty() {
        println!(
            "  failed to start: {} (see above; each request to them tries a new instance)",
            failed
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!("  health:    http://{address}/health");
    println!("  OpenAPI:   http://{address}/openapi.json");
    if let Some(path) = &live {
        println!("  WebSocket: ws://{address}{path}?apiKey=<key>&token=<access token>");
    }
    println!(
        "  functions: http://{address}{}/functions",
        server::DEV_PREFIX
    );
    println!(
        "  outbox:    http://{address}{} (every e-mail and SMS sent; one line each below)",
        outbox::OUTBOX_PATH
    );
    println!(
        "  metrics:   http://{address}{}{} (Prometheus text, from the functions' EMF lines)",
        server::DEV_PREFIX,
        metrics::PATH
    );
    example::banner(address, &stage, false);
    println!("Ctrl-C stops the server.");
    let outbox_printer = tokio::spawn(outbox::print_new(outbox.clone(), address.to_string()));

    let gateway = Gateway {
        runtime: runtime.clone(),
        http,
        websocket,
    };
    // obctl dev's own `/_dev/*` endpoints (beside `/_dev/functions`) go here; they
    // read every function's output from `events` (EMF lines on stdout for metrics).
    let dev_endpoints = metrics::router(registry)
        .merge(outbox::router(outbox))
        .merge(example::routes());
    let app = server::router(gateway, address.port(), dev_endpoints)
        .into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    for mapping in mappings {
        mapping.abort();
    }
    outbox_printer.abort();
    runtime.shutdown().await;
    // Let the console print the last events before it goes.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    printer.abort();
    collector.abort();
    served.map_err(|err| CliError::new(format!("the local server failed: {err}")))?;
    Ok(0)
}

/// What `obctl dev` runs, ready to start.
#[derive(Debug)]
pub struct Prepared {
    pub plan: LocalPlan,
    /// Executables of the `extra` packages `prepare` was asked to build too.
    pub extra_binaries: BTreeMap<String, std::path::PathBuf>,
}

/// Renders and reads the stage's template, reads its deployed stack, builds
/// the function binaries for this machine (and the `extra` packages of
/// `functions/`) and resolves everything into the plan the local runtime runs.
pub async fn prepare(
    project: &Project,
    stage_name: &str,
    aws: &Aws,
    address: SocketAddr,
    profile: BuildProfile,
    max_instances: usize,
    extra: &[&str],
) -> Result<Prepared> {
    let stage = stage::load(project, stage_name)?;
    let template = render::render(project, &stage)?;
    let model = model::read(&template).map_err(|err| {
        CliError::new(format!(
            "the rendered template of stage {} cannot run locally: {err}",
            stage.name
        ))
        .fix(format!("check `obctl render --stage {}`", stage.name))
    })?;
    let deployed = stack::describe(aws, &stage, &template).await?;
    println!(
        "building the functions for this machine ({} profile)…",
        profile.as_str()
    );
    let root = project.clone();
    let extra_packages: Vec<String> = extra.iter().map(|p| (*p).to_owned()).collect();
    let mut binaries: BTreeMap<String, std::path::PathBuf> =
        tokio::task::spawn_blocking(move || build::host_binaries(&root, profile, &extra_packages))
            .await
            .map_err(|err| CliError::new(format!("the build was interrupted: {err}")))??
            .into_iter()
            .collect();
    let extra_binaries = extra
        .iter()
        .filter_map(|p| binaries.remove(*p).map(|path| ((*p).to_owned(), path)))
        .collect();
    let plan = plan::plan(
        &model,
        &deployed,
        &plan::Options {
            address: address.to_string(),
            max_instances: max_instances.max(1),
            binaries,
            aws_env: aws_env(aws).await?,
        },
    )?;
    Ok(Prepared {
        plan,
        extra_binaries,
    })
}

/// Credentials and endpoint for the function processes: the ones `obctl` uses.
/// Deployed, each function has its own role; locally they act as you.
async fn aws_env(aws: &Aws) -> Result<Vec<(String, String)>> {
    use aws_sdk_dynamodb::config::ProvideCredentials;
    let mut env = Vec::new();
    if let Some(provider) = aws.config.credentials_provider() {
        let credentials = provider.provide_credentials().await.map_err(|err| {
            CliError::new(format!(
                "no AWS credentials for the function processes: {err}"
            ))
            .fix("configure credentials as for any obctl command (the emulator takes any)")
        })?;
        env.push((
            "AWS_ACCESS_KEY_ID".to_owned(),
            credentials.access_key_id().to_owned(),
        ));
        env.push((
            "AWS_SECRET_ACCESS_KEY".to_owned(),
            credentials.secret_access_key().to_owned(),
        ));
        if let Some(token) = credentials.session_token() {
            env.push(("AWS_SESSION_TOKEN".to_owned(), token.to_owned()));
        }
    }
    if let Some(endpoint) = &aws.endpoint_url {
        env.push(("AWS_ENDPOINT_URL".to_owned(), endpoint.clone()));
    }
    Ok(env)
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
