//! The realtime Lambda: clients, tables and the signing key are loaded once per cold start, then every invocation goes to `ob_realtime::handle`.

use lambda_runtime::layers::TracingLayer;
use lambda_runtime::{Error, LambdaEvent, Runtime, service_fn};
use ob_core::deferred::Deferred;
use ob_core::env;
use ob_core::functions::REALTIME;
use ob_core::realtime::Realtime;
use ob_core::signing::Keyring;
use ob_core::{Store, Tables};
use ob_lambda::after_answer::AfterAnswer;
use ob_realtime::push::ManagementApi;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let deferred = Deferred::queued();
    let preloading = deferred.clone();
    let realtime = ob_lambda::start(&REALTIME, |sdk, env| async move {
        let stage = env.required(&env::STAGE)?;
        let endpoint = env.required(&env::WEBSOCKET_MANAGEMENT_URL)?;
        // Read after the first answer: the stream fan-out never needs it, a connection before then reads it itself.
        let signer = Keyring::loaded_by(
            &ob_api::state::issuer_for(stage),
            ob_api::signing_key::loader(&sdk, &env)?,
        );
        signer.preload(&preloading);
        Ok(Realtime {
            store: Store::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                Tables::from_function_env(&env),
            ),
            signer,
            push: ManagementApi::new(&sdk, endpoint),
            metrics: ob_api::state::function_metrics(&env),
            stage_origins: env.list(&env::CORS_ORIGINS).unwrap_or_default(),
        })
    })
    .await?;
    let realtime = &realtime;
    let handler = service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(
            ob_realtime::handle(realtime, &event.payload, &event.context.request_id).await,
        )
    });
    Runtime::new(handler)
        .layer(TracingLayer::new())
        .layer(AfterAnswer(deferred))
        .run()
        .await
}
