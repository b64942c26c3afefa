//! The realtime Lambda: clients, tables and the signing key are loaded once per cold start, then every invocation goes to `ob_realtime::handle`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use ob_core::realtime::Realtime;
use ob_core::tokens::TokenSigner;
use ob_core::{Store, Tables};
use ob_realtime::push::ManagementApi;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let started = std::time::Instant::now();
    ob_lambda::init_logging();
    let sdk = aws_config::load_from_env().await;
    let key = ob_api::signing_key::from_env(&sdk).await?;
    let stage = std::env::var("STAGE").unwrap_or_else(|_| "local".into());
    let endpoint = std::env::var("WEBSOCKET_MANAGEMENT_URL")
        .map_err(|_| Error::from("WEBSOCKET_MANAGEMENT_URL is not set"))?;
    let realtime = Realtime {
        store: Store::new(aws_sdk_dynamodb::Client::new(&sdk), Tables::from_env()),
        signer: TokenSigner::new(&key, &ob_api::state::issuer_for(&stage))?,
        push: ManagementApi::new(&sdk, &endpoint),
        metrics: ob_metrics::Metrics::from_env(),
    };
    realtime
        .metrics
        .cold_start("realtime", started.elapsed().as_secs_f64() * 1000.0);
    let realtime = &realtime;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(
            ob_realtime::handle(realtime, &event.payload, &event.context.request_id).await,
        )
    }))
    .await
}
