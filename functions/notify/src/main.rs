//! The notify Lambda: clients and settings are loaded once per cold start, then every SQS batch goes to `ob_notify::handle`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use ob_core::env;
use ob_core::functions::NOTIFY;
use ob_core::{Store, Tables};
use ob_notify::send::{Mailer, Texter};
use ob_notify::{Settings, Worker};
use ob_realtime::push::ManagementApi;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let worker = ob_lambda::start(&NOTIFY, |sdk, env| async move {
        let mailer = Mailer::new(
            aws_sdk_sesv2::Client::new(&sdk),
            env.required(&env::SENDER_NAME)?,
            env.required(&env::SENDER_ADDRESS)?,
            env.required(&env::REPLY_TO)?,
            env.required(&env::SES_CONFIGURATION_SET)?,
        );
        let texter = env
            .flag(&env::SMS_ENABLED)
            .unwrap_or(false)
            .then(|| Texter::new(aws_sdk_sns::Client::new(&sdk)));
        Ok(Worker {
            store: Store::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                Tables::from_function_env(&env),
            ),
            mailer,
            texter,
            push: ManagementApi::new(&sdk, env.required(&env::WEBSOCKET_MANAGEMENT_URL)?),
            settings: Settings::from_function_env(&env)?,
        })
    })
    .await?;
    let worker = &worker;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(ob_notify::handle(worker, &event.payload).await)
    }))
    .await
}
