//! `obctl dev --in-process`: the whole backend in this one process against a deployed stage: the same axum router
//! the Lambdas run, the WebSocket protocol at `/live`, realtime driven by the data table's stream, the notify
//! worker fed by the notify queue, and the dev outbox. Faster to iterate on than the function processes, but not
//! the deployed shape (no Runtime API, no API Gateway routes).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use ob_api::{AppState, Services, Settings};
use ob_core::files::FileStore;
use ob_core::notify::NotifyQueue;
use ob_core::realtime::Realtime;
use ob_core::signing::Keyring;
use ob_core::{Store, Tables};
use ob_local::EventBus;
use ob_local::sources::sqs_queue::SqsQueue;
use ob_metrics::{HttpDetail, Metrics};

use crate::args::{DevArgs, GlobalArgs};
use crate::aws::{Aws, aws_error};
use crate::deploy::stack;
use crate::error::{CliError, Result};
use crate::live::outbox::{self, Outbox};
use crate::live::{self, LocalHub, LocalRealtime, StreamFollower};
use crate::project::Project;
use crate::stage::{self, Stage};

pub async fn run(_global: &GlobalArgs, args: &DevArgs, project: &Project) -> Result<u8> {
    let stage = stage::load(project, &args.stage)?;
    let aws = Aws::connect(&args.aws, &stage.config.region).await;
    let address = SocketAddr::from(([127, 0, 0, 1], args.port));
    // The API publishes straight into the registry `/_dev/metrics` serves.
    let registry = Arc::new(ob_metrics::Registry::default());
    let metrics = Metrics::new(&stage.name, http_detail(&stage), registry.clone());
    let Backend {
        api,
        realtime,
        notify_queue_arn,
    } = backend(&aws, &stage, address, metrics).await?;
    let store = api.store().clone();
    let follower =
        StreamFollower::for_table(&store.client, aws.dynamodb_streams(), &store.tables.data)
            .await
            .map_err(|err| {
                CliError::new(format!("cannot follow the data table's stream: {err}"))
                    .fix(format!("redeploy: `obctl deploy --stage {}`", stage.name))
            })?;
    let worker = live::notify::worker(&stage, &aws, store, realtime.push.clone());
    let outbox = Outbox::new(aws.endpoint_url.as_deref());
    let listener = super::stack::listen(address).await?;

    println!(
        "One Backend (stage {}) is serving on http://{address}",
        stage.name
    );
    println!("  health:    http://{address}/health");
    println!("  OpenAPI:   http://{address}/openapi.json");
    println!(
        "  WebSocket: ws://{address}{}?apiKey=<key>&token=<access token>",
        live::WEBSOCKET_PATH
    );
    println!(
        "  outbox:    http://{address}{} (every e-mail and SMS sent; one line each below)",
        outbox::OUTBOX_PATH
    );
    println!(
        "  metrics:   http://{address}{}{} (Prometheus text)",
        ob_local::server::DEV_PREFIX,
        super::metrics::PATH
    );
    super::example::banner(address, &stage, true);
    println!("Ctrl-C stops the server.");

    let stream = tokio::spawn(live::follow(follower, realtime.clone()));
    let queue = SqsQueue::new(
        aws.sqs(),
        live::notify::queue_spec(notify_queue_arn),
        EventBus::default(),
    );
    let notify = tokio::spawn(live::notify::run(queue, worker));
    let printer = tokio::spawn(outbox::print_new(outbox.clone(), address.to_string()));
    let app = live::app(api, realtime)
        .nest(
            ob_local::server::DEV_PREFIX,
            super::metrics::router(registry)
                .merge(outbox::router(outbox))
                .merge(super::example::routes()),
        )
        .into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    stream.abort();
    notify.abort();
    printer.abort();
    served.map_err(|err| CliError::new(format!("the local server failed: {err}")))?;
    Ok(0)
}

/// The API and the realtime service of `stage_name` over its deployed tables, bucket and signing key.
pub async fn state(
    project: &Project,
    stage_name: &str,
    aws: &Aws,
) -> Result<(AppState, LocalRealtime)> {
    let stage = stage::load(project, stage_name)?;
    let address = SocketAddr::from(([127, 0, 0, 1], 8787));
    let backend = backend(aws, &stage, address, Metrics::discard()).await?;
    Ok((backend.api, backend.realtime))
}

/// How much the stage's HTTP metrics tell apart, as its functions get it from the template.
fn http_detail(stage: &Stage) -> HttpDetail {
    if stage.config.metrics.per_app_routes {
        HttpDetail::AppRoutes
    } else {
        HttpDetail::AppTotals
    }
}

/// What the process serves, over the deployed stack.
struct Backend {
    api: AppState,
    realtime: LocalRealtime,
    /// The queue the notify worker reads.
    notify_queue_arn: String,
}

async fn backend(
    aws: &Aws,
    stage: &Stage,
    address: SocketAddr,
    metrics: Metrics,
) -> Result<Backend> {
    let found = super::stack::deployed_stack(aws, stage).await?;
    let outputs: BTreeMap<String, String> = stack::outputs(&found)
        .into_iter()
        .map(|o| (o.key, o.value))
        .collect();
    let output = |name: &str| {
        outputs.get(name).cloned().ok_or_else(|| {
            CliError::new(format!(
                "stack {} has no {name} output",
                stage.config.stack_name
            ))
            .fix(format!("redeploy: `obctl deploy --stage {}`", stage.name))
        })
    };
    let secret = aws
        .secrets()
        .get_secret_value()
        .secret_id(output("SigningKeySecretArn")?)
        .send()
        .await
        .map_err(|err| aws_error("read the signing key", &err))?;
    let signing_key = secret
        .secret_string()
        .unwrap_or_default()
        .as_bytes()
        .to_vec();
    let store = Store::new(
        aws.dynamodb(),
        Tables::from_lookup(|def| outputs.get(def.output).cloned()),
    );
    let settings = settings(stage, address);
    let fail = |err: ob_core::Error| CliError::new(format!("cannot start the backend: {err}"));
    // Addressed path-style under the emulator's endpoint, as `Aws::s3` does.
    let files = FileStore::new(&aws.config, output("FilesBucketName")?).map_err(fail)?;
    let queue_url = output(ob_core::queues::NOTIFY.output)?;
    let services = Services {
        files: Some(files),
        notify: Some(NotifyQueue::new(aws.sqs(), &queue_url)),
        // In one process nothing runs the webhooks function: no events queued for it.
        webhooks: None,
    };
    let api = AppState::with_services(store.clone(), services, &signing_key, settings.clone())
        .map_err(fail)?
        .with_metrics(metrics);
    // The physical id of a queue is its URL, which ends in its name.
    let queue_name = queue_url.rsplit('/').next().unwrap_or_default();
    let account = found
        .stack_id()
        .and_then(|id| id.split(':').nth(4))
        .unwrap_or_default();
    let notify_queue_arn = format!("arn:aws:sqs:{}:{account}:{queue_name}", aws.region());
    let realtime = Realtime {
        store,
        signer: Keyring::ready(&signing_key, &settings.issuer).map_err(fail)?,
        // Revocation (obctl) closes connections through this server's `DELETE @connections/{id}`.
        push: LocalHub::at(format!("http://{address}{}", crate::live::WEBSOCKET_PATH)),
        metrics: api.metrics().clone(),
        stage_origins: settings.stage_origins.clone(),
    };
    Ok(Backend {
        api,
        realtime,
        notify_queue_arn,
    })
}

/// The API's settings from the stage file, as the Lambdas get them from the template.
fn settings(stage: &Stage, address: SocketAddr) -> Settings {
    let c = &stage.config;
    let mut origins = c.cors.allowed_origins.clone();
    origins.push(format!("http://{address}"));
    Settings {
        stage: stage.name.clone(),
        issuer: ob_api::state::issuer_for(&stage.name),
        access_ttl_secs: i64::from(c.auth.access_token_ttl_seconds),
        refresh_ttl_secs: i64::from(c.auth.refresh_token_ttl_seconds),
        session_max_secs: i64::from(c.auth.session_max_seconds),
        bcrypt_cost: c.auth.bcrypt_cost,
        stage_origins: origins,
        audit_retention_days: c.audit.retention_days,
        max_upload_bytes: c.files.max_upload_bytes,
        url_expiry_secs: u64::from(c.files.url_expiry_seconds),
        request_limits: ob_api::limits::RateLimits {
            per_app: c.api.limits.app_requests_per_minute,
            per_client: c.api.limits.client_requests_per_minute,
        },
        sms_enabled: c.notifications.sms,
        email_daily_quota: c.notifications.daily_quota.email,
        sms_daily_quota: c.notifications.daily_quota.sms,
        ..Settings::default()
    }
}
