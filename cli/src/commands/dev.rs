//! `obctl dev`: the whole HTTP API on 127.0.0.1, the same axum router the Lambdas
//! run, against a deployed stage's tables and signing key (the local emulator's
//! for `make dev`). Optionally ensures a demo app and prints a fresh key for it.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use ob_api::{AppState, Settings};
use ob_core::{Store, Tables, api_keys, apps};

use crate::args::{DevArgs, GlobalArgs};
use crate::aws::{Aws, aws_error};
use crate::deploy::stack;
use crate::error::{CliError, Result};
use crate::project::Project;
use crate::stage::{self, Stage};

/// Name of the keys `--demo-app` issues; older ones are revoked on each run.
const DEMO_KEY_NAME: &str = "obctl-dev";

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
    let secret_arn = outputs.get("SigningKeySecretArn").ok_or_else(|| {
        CliError::new(format!(
            "stack {} has no SigningKeySecretArn output",
            stage.config.stack_name
        ))
        .fix(format!("redeploy: `obctl deploy --stage {}`", stage.name))
    })?;
    let secret = aws
        .secrets()
        .get_secret_value()
        .secret_id(secret_arn)
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
    let address = SocketAddr::from(([127, 0, 0, 1], args.port));
    // The file routes presign against the stage's bucket (absent: they answer "not configured").
    let files = outputs
        .get("FilesBucketName")
        .map(|bucket| ob_core::files::FileStore::new(aws.s3(), bucket));
    let state = AppState::with_files(
        store.clone(),
        files,
        &signing_key,
        settings(&stage, address),
    )
    .map_err(|err| CliError::new(format!("cannot start the API: {err}")))?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|err| {
            CliError::new(format!("cannot listen on {address}: {err}"))
                .fix("stop whatever uses the port, or pass --port N")
        })?;

    let base = format!("http://{address}");
    println!("One Backend (stage {}) is serving on {base}", stage.name);
    println!("  health:  {base}/health");
    println!("  OpenAPI: {base}/openapi.json");
    if let Some(app_id) = &args.demo_app {
        let key = demo_key(&store, &stage, app_id).await?;
        println!("  app:     {app_id}");
        println!("  API key: {key}   (shown once; re-run to get a new one)");
        println!("try:");
        println!(
            "  curl -s -X POST {base}/auth/register -H 'X-API-Key: {key}' -H 'Content-Type: application/json' \\\n    -d '{{\"appId\":\"{app_id}\",\"email\":\"ada@example.com\",\"password\":\"correct horse battery\"}}'"
        );
    }
    println!("Ctrl-C stops the server.");

    let app = ob_api::router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|err| CliError::new(format!("the local server failed: {err}")))?;
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
        bcrypt_cost: c.auth.bcrypt_cost,
        stage_origins: origins,
        audit_retention_days: c.audit.retention_days,
        max_upload_bytes: c.files.max_upload_bytes,
        url_expiry_secs: u64::from(c.files.url_expiry_seconds),
        ..Settings::default()
    }
}

/// Makes sure the demo app exists and issues it a new key, revoking older demo keys.
async fn demo_key(store: &Store, stage: &Stage, app_id: &str) -> Result<String> {
    let fail = |what: &str, err: ob_core::Error| CliError::new(format!("could not {what}: {err}"));
    if apps::get(store, app_id)
        .await
        .map_err(|e| fail("read the demo app", e))?
        .is_none()
    {
        apps::create(
            store,
            app_id,
            "Demo app (obctl dev)",
            &stage.config.cors.allowed_origins,
        )
        .await
        .map_err(|e| fail("create the demo app", e))?;
    }
    for key in api_keys::list(store, app_id)
        .await
        .map_err(|e| fail("list the demo app's keys", e))?
    {
        if key.name == DEMO_KEY_NAME && key.active {
            api_keys::revoke(store, app_id, &key.key_id)
                .await
                .map_err(|e| fail("revoke an old demo key", e))?;
        }
    }
    let created = api_keys::create(store, app_id, DEMO_KEY_NAME, &["*".to_owned()], None)
        .await
        .map_err(|e| fail("create a demo key", e))?;
    Ok(created.secret)
}
