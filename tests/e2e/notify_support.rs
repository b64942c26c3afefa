//! What the notification tests share: the notify worker over the emulator, the queue drained the way Lambda's mapping does, and the emulator's outbox.

use ob_local::sources::sqs_queue::{PollReport, QueueSpec, SqsQueue};
use ob_notify::send::{Mailer, Texter};
use ob_notify::{Settings, Worker};
use ob_tests::fixtures::Api;
use obctl::live::LocalHub;
use serde_json::Value;

/// The test stage's sender: verified in the emulator as an operator would on AWS.
pub const SENDER: &str = "no-reply@test.example";
pub const RESET_PAGE: &str = "https://app.test.example/reset";
pub const VERIFY_PAGE: &str = "https://app.test.example/verify";

/// Verifies the sender address in the emulator's SES.
pub async fn verify_sender(api: &Api) {
    aws_sdk_sesv2::Client::new(&api.sdk)
        .create_email_identity()
        .email_identity(SENDER)
        .send()
        .await
        .expect("the sender identity is created");
}

pub fn settings() -> Settings {
    Settings {
        stage: "test".into(),
        audit_retention_days: 7,
        password_reset_url: RESET_PAGE.into(),
        email_verification_url: VERIFY_PAGE.into(),
        password_reset_ttl_secs: 3600,
        email_verification_ttl_secs: 86_400,
    }
}

/// The notify function's worker, on the API's tables and the emulator's SES and SNS.
pub fn worker(api: &Api, push: LocalHub) -> Worker<LocalHub> {
    worker_with_ses(api, push, aws_sdk_sesv2::Client::new(&api.sdk))
}

pub fn worker_with_ses(api: &Api, push: LocalHub, ses: aws_sdk_sesv2::Client) -> Worker<LocalHub> {
    Worker {
        store: api.store.clone(),
        mailer: Mailer::new(
            ses,
            "Test Stage",
            SENDER,
            "support@test.example",
            "test-set",
        ),
        texter: Some(Texter::new(aws_sdk_sns::Client::new(&api.sdk))),
        push,
        settings: settings(),
    }
}

/// The queue at `queue_url` as ob-local's queue source reads it (what `obctl dev` runs).
pub fn mapping(api: &Api, queue_url: &str) -> SqsQueue {
    let name = queue_url.rsplit('/').next().expect("a queue name");
    SqsQueue::new(
        aws_sdk_sqs::Client::new(&api.sdk),
        QueueSpec {
            mapping: "NotifyQueueMapping".into(),
            queue_arn: format!(
                "arn:aws:sqs:{}:123456789012:{name}",
                ob_tests::emulator::REGION
            ),
            wait: std::time::Duration::ZERO,
        },
        ob_local::EventBus::default(),
    )
}

/// One batch of at most ten through the worker, not waiting for one.
pub async fn poll_once(queue: &mut SqsQueue, worker: &Worker<LocalHub>) -> PollReport {
    queue
        .poll_once(10, std::time::Duration::ZERO, |event| async move {
            ob_notify::handle(worker, &event).await
        })
        .await
        .expect("the queue is readable")
}

/// Runs the worker on the notify queue until it is empty (what Lambda's
/// mapping does deployed and `obctl dev` does locally); what it did.
pub async fn drain(api: &Api, worker: &Worker<LocalHub>) -> PollReport {
    let mut queue = mapping(api, &api.queues[ob_core::queues::NOTIFY.logical_id]);
    let mut total = PollReport::default();
    loop {
        let report = poll_once(&mut queue, worker).await;
        if report.received == 0 {
            return total;
        }
        total.received += report.received;
        total.deleted += report.deleted;
        total.retried += report.retried;
    }
}

/// Every message the emulator accepted (SES e-mail and SNS SMS), oldest first.
pub async fn outbox(api: &Api) -> Vec<Value> {
    let url = format!("{}/moto-api/outbox", api.emulator().endpoint_url());
    let (status, body) = ob_tests::http::json("GET", &url, &[], None).await;
    assert_eq!(status, 200, "{body}");
    body["messages"].as_array().cloned().unwrap_or_default()
}

/// The messages sent to `address`.
pub async fn mail_to(api: &Api, address: &str) -> Vec<Value> {
    outbox(api)
        .await
        .into_iter()
        .filter(|m| {
            m["to"]
                .as_array()
                .is_some_and(|to| to.iter().any(|t| t == address))
        })
        .collect()
}

/// The `token` of the link in a message's text body.
pub fn link_token(message: &Value, page: &str) -> String {
    let text = message["text"].as_str().expect("a text body");
    let start = text
        .find(page)
        .unwrap_or_else(|| panic!("no link to {page} in {text}"));
    let link = text[start..].split_whitespace().next().unwrap_or_default();
    link.split("token=")
        .nth(1)
        .unwrap_or_else(|| panic!("no token in {link}"))
        .to_owned()
}
