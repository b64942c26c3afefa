//! The webhooks Lambda: the store, the sender (TLS roots, target policy) and the queue client are built once per cold start, then every stream batch and queue batch goes to `ob_webhooks::handle`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use ob_core::env;
use ob_core::functions::WEBHOOKS;
use ob_core::notify::NotifyQueue;
use ob_core::webhooks::TargetPolicy;
use ob_core::webhooks::queue::WebhookQueue;
use ob_core::{Store, Tables};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let worker = ob_lambda::start(&WEBHOOKS, |sdk, env| async move {
        let policy = TargetPolicy {
            allow_local: env
                .flag(&env::WEBHOOKS_ALLOW_LOCAL_TARGETS)
                .unwrap_or(false),
        };
        let queue_url = env
            .queue(&ob_core::queues::WEBHOOK_DELIVERIES)
            .ok_or("WEBHOOK_QUEUE_URL is not set")?;
        Ok::<_, Error>(ob_webhooks::Worker {
            store: Store::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                Tables::from_function_env(&env),
            ),
            sender: ob_webhooks::sender(policy)?,
            notify: env
                .queue(&ob_core::queues::NOTIFY)
                .map(|url| NotifyQueue::new(aws_sdk_sqs::Client::new(&sdk), url)),
            queue: WebhookQueue::new(aws_sdk_sqs::Client::new(&sdk), queue_url),
        })
    })
    .await?;
    let worker = &worker;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        // Boxed: the handler's future is deep (stream, queue, attempt, SDK calls).
        Ok::<Value, Error>(Box::pin(ob_webhooks::handle(worker, &event.payload)).await)
    }))
    .await
}
