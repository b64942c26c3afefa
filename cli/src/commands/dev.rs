//! `obctl dev`: the whole backend on 127.0.0.1 against a deployed stage (the
//! local emulator's for `make dev`): the same axum router the Lambdas run, the
//! WebSocket protocol at `/live`, realtime driven by the data table's stream,
//! the notify worker behind the notify queue, and the dev outbox.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use ob_api::{AppState, Services, Settings};
use ob_core::files::FileStore;
use ob_core::notify::NotifyQueue;
use ob_core::realtime::Realtime;
use ob_core::tokens::TokenSigner;
use ob_core::{Store, Tables};

use crate::args::{DevArgs, GlobalArgs};
use crate::aws::{Aws, aws_error};
use crate::deploy::stack;
use crate::error::{CliError, Result};
use crate::live::{self, LocalHub, StreamFollower};
use crate::project::Project;
use crate::stage::{self, Stage};

pub async fn run(_global: &GlobalArgs, args: &DevArgs, project: &Project) -> Result<u8> {
    let stage = stage::load(project, &args.stage)?;
    let aws = Aws::connect(&args.aws, &stage.config.region).await;
    let Some(found) = stack::describe(&aws.cloudformation(), &stage.config.stack_name).await?
    else {
        return Err(
            CliError::new(format!("stage {} is not deployed", stage.name)).fix(format!(
                "deploy it first: `obctl deploy --stage {}` (`make dev` does)",
                stage.name
            )),
        );
    };
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
    let files = FileStore::new(aws.s3(), output("FilesBucketName")?);
    let address = SocketAddr::from(([127, 0, 0, 1], args.port));
    let settings = settings(&stage, address);
    let fail = |err: ob_core::Error| CliError::new(format!("cannot start the backend: {err}"));
    let realtime = Realtime {
        store: store.clone(),
        signer: TokenSigner::new(&signing_key, &settings.issuer).map_err(fail)?,
        push: LocalHub::default(),
    };
    let queue_url = output(ob_core::queues::NOTIFY.output)?;
    let services = Services {
        files: Some(files),
        notify: Some(NotifyQueue::new(
            aws_sdk_sqs::Client::new(&aws.config),
            &queue_url,
        )),
    };
    let api = AppState::with_services(store.clone(), services, &signing_key, settings)
        .map_err(fail)?;
    let notify_mapping = live::notify::mapping(&aws.config, &queue_url)
        .await
        .map_err(|err| {
            CliError::new(format!("cannot read the notify queue: {err}"))
                .fix(format!("redeploy: `obctl deploy --stage {}`", stage.name))
        })?;
    let worker = live::notify::worker(&stage, &aws.config, store.clone(), realtime.push.clone());
    let outbox = live::outbox::Outbox::new(aws.endpoint_url.as_deref());
    let follower = StreamFollower::for_table(
        &store.client,
        aws_sdk_dynamodbstreams::Client::new(&aws.config),
        &store.tables.data,
    )
    .await
    .map_err(|err| {
        CliError::new(format!("cannot follow the data table's stream: {err}"))
            .fix(format!("redeploy: `obctl deploy --stage {}`", stage.name))
    })?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|err| {
            CliError::new(format!("cannot listen on {address}: {err}"))
                .fix("stop whatever uses the port, or pass --port N")
        })?;

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
        live::outbox::OUTBOX_PATH
    );
    println!("Ctrl-C stops the server.");

    let stream = tokio::spawn(live::follow(follower, realtime.clone()));
    let notify = tokio::spawn(live::notify::run(notify_mapping, worker));
    let printer = tokio::spawn(live::outbox::print_new(outbox.clone(), address.to_string()));
    let app = live::app(api, realtime)
        .merge(live::outbox::router(outbox))
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
