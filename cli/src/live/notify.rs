//! The notify worker of `obctl dev`: the notify function's handler behind the deployed queue's mapping, with the stage's settings, pushing over the local WebSocket hub.

use ob_core::Store;
use ob_notify::send::{Mailer, Texter};
use ob_notify::{Settings, Worker};

use super::LocalHub;
use super::queue::{self, QueueMapping};
use crate::stage::Stage;

/// Messages per invocation, as `NotifyQueueMapping`'s `BatchSize`.
const BATCH_SIZE: i32 = 10;
/// Long-poll wait of each receive.
const WAIT_SECS: i32 = 2;

/// The worker as the notify function builds it, from the stage file instead of its environment.
pub fn worker(stage: &Stage, sdk: &aws_config::SdkConfig, store: Store, push: LocalHub) -> Worker<LocalHub> {
    let n = &stage.config.notifications;
    Worker {
        store,
        mailer: Mailer::new(
            aws_sdk_sesv2::Client::new(sdk),
            &n.sender_name,
            &n.sender_address,
            n.reply_to(),
            &n.configuration_set(&stage.config.stack_name),
        ),
        texter: n.sms.then(|| Texter::new(aws_sdk_sns::Client::new(sdk))),
        push,
        settings: Settings {
            stage: stage.name.clone(),
            audit_retention_days: stage.config.audit.retention_days,
            password_reset_url: n.password_reset_url.clone(),
            email_verification_url: n.email_verification_url.clone(),
            password_reset_ttl_secs: i64::from(n.password_reset_ttl_seconds),
            email_verification_ttl_secs: i64::from(n.email_verification_ttl_seconds),
        },
    }
}

/// The local mapping of the notify queue at `queue_url`.
pub async fn mapping(sdk: &aws_config::SdkConfig, queue_url: &str) -> Result<QueueMapping, String> {
    QueueMapping::new(aws_sdk_sqs::Client::new(sdk), queue_url, BATCH_SIZE, WAIT_SECS).await
}

/// Runs the worker on the queue until the task is dropped.
pub async fn run(mapping: QueueMapping, worker: Worker<LocalHub>) {
    let worker = &worker;
    queue::follow(mapping, |event| async move {
        Ok::<_, String>(ob_notify::handle(worker, &event).await)
    })
    .await;
}
