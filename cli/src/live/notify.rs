//! The notify worker of `obctl dev --in-process`: the notify function's handler fed by the deployed queue through ob-local's queue source, with the stage's settings, pushing over the local WebSocket hub.

use std::time::Duration;

use ob_core::Store;
use ob_local::sources::sqs_queue::{QueueSpec, SqsQueue};
use ob_notify::send::{Mailer, Texter};
use ob_notify::{Settings, Worker};

use super::LocalHub;
use crate::aws::Aws;
use crate::stage::Stage;

/// Messages per invocation, as `NotifyQueueMapping`'s `BatchSize`.
const BATCH_SIZE: usize = 10;
/// Long-poll wait of each receive.
const WAIT: Duration = Duration::from_secs(20);
/// Pause after the queue could not be read.
const BACKOFF: Duration = Duration::from_secs(1);

/// The worker as the notify function builds it, from the stage file instead of its environment.
pub fn worker(stage: &Stage, aws: &Aws, store: Store, push: LocalHub) -> Worker<LocalHub> {
    let n = &stage.config.notifications;
    Worker {
        store,
        mailer: Mailer::new(
            aws.sesv2(),
            &n.sender_name,
            &n.sender_address,
            n.reply_to(),
            &n.configuration_set(&stage.config.stack_name),
        ),
        texter: n.sms.then(|| Texter::new(aws.sns())),
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

/// The notify queue's source, as `NotifyQueueMapping` reads it.
pub fn queue_spec(queue_arn: String) -> QueueSpec {
    QueueSpec {
        mapping: "NotifyQueueMapping".to_owned(),
        queue_arn,
        wait: WAIT,
    }
}

/// Runs the worker on the queue until the task is dropped.
pub async fn run(mut queue: SqsQueue, worker: Worker<LocalHub>) {
    let worker = &worker;
    loop {
        let polled = queue
            .poll_once(BATCH_SIZE, WAIT, |event| async move {
                ob_notify::handle(worker, &event).await
            })
            .await;
        match polled {
            Ok(_) => {}
            Err(problem) => {
                eprintln!("notify queue: {problem}");
                tokio::time::sleep(BACKOFF).await;
            }
        }
    }
}
