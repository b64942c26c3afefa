//! Auth events reach an app's webhooks through the webhook queue, never on the request path: registering queues
//! `auth.user.created` (one message, no receiver called), and the webhooks function's handler, fed that queue the
//! way Lambda's mapping (and `obctl dev`) does, delivers it signed to the app's receiver.

#![allow(clippy::unwrap_used)]

use std::sync::Mutex;

use axum::http::StatusCode;
use ob_core::webhooks::queue::{WebhookQueue, Work};
use ob_core::webhooks::send::Sender;
use ob_core::webhooks::{EventType, TargetPolicy, TargetUrl, store};
use ob_tests::fixtures::Api;

use crate::local_webhooks::Receiver;
use crate::notify_support::mapping;

/// The webhooks function's handler over the test stack's tables and queue.
pub(crate) fn worker(api: &Api) -> ob_webhooks::Worker {
    ob_webhooks::Worker {
        store: api.store.clone(),
        sender: Sender::new(TargetPolicy::LOCAL).unwrap(),
        queue: WebhookQueue::new(
            aws_sdk_sqs::Client::new(&api.sdk),
            &api.queues[ob_core::queues::WEBHOOK_DELIVERIES.logical_id],
        ),
    }
}

/// Every message the queue holds now, read (and deleted) without a worker.
async fn take_messages(api: &Api) -> Vec<Work> {
    let taken = Mutex::new(Vec::new());
    let mut queue = mapping(
        api,
        &api.queues[ob_core::queues::WEBHOOK_DELIVERIES.logical_id],
    );
    loop {
        let report = queue
            .poll_once(10, std::time::Duration::ZERO, |event| {
                let taken = &taken;
                async move {
                    for record in event["Records"].as_array().unwrap() {
                        let work =
                            Work::parse(record["body"].as_str().unwrap()).expect("webhook work");
                        taken.lock().unwrap().push(work);
                    }
                    serde_json::json!({"batchItemFailures": []})
                }
            })
            .await
            .unwrap();
        if report.received == 0 {
            return taken.into_inner().unwrap();
        }
    }
}

/// Runs the webhooks handler on the queue until it is empty (as Lambda's mapping does).
async fn drain(api: &Api, worker: &ob_webhooks::Worker) {
    let mut queue = mapping(
        api,
        &api.queues[ob_core::queues::WEBHOOK_DELIVERIES.logical_id],
    );
    loop {
        let report = queue
            .poll_once(10, std::time::Duration::ZERO, |event| async move {
                ob_webhooks::handle(worker, &event).await
            })
            .await
            .unwrap();
        if report.received == 0 {
            return;
        }
        assert_eq!(report.retried, 0, "the worker failed a message");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn registering_queues_a_user_created_event_the_worker_delivers() {
    let api = Api::start().await;
    let app = api.app("shop").await;
    let receiver = Receiver::start(StatusCode::OK).await;
    let url = TargetUrl::parse(&receiver.url, TargetPolicy::LOCAL).unwrap();
    let (subscription, secret) =
        store::create(&api.store, "shop", &url, &[EventType::UserCreated], &[])
            .await
            .unwrap();
    *receiver.secret.lock().unwrap() = Some(secret);

    let reply = api
        .register(&app, "ann@example.com", "correct horse battery")
        .await;
    assert_eq!(reply.status.as_u16(), 201, "{}", reply.body);
    let user_id = reply.str("/user/userId");
    // On the request path: one queued event, no receiver called.
    assert!(receiver.seen.lock().unwrap().is_empty());
    let queued = take_messages(&api).await;
    let [Work::Event(event)] = queued.as_slice() else {
        panic!("expected one queued event: {queued:?}");
    };
    assert_eq!(event.event_type, EventType::UserCreated);
    assert_eq!(event.app_id, "shop");
    assert_eq!(event.id, format!("evt_user_created_{user_id}"));
    let body: serde_json::Value = serde_json::from_str(&event.body).unwrap();
    assert_eq!(body["type"], "auth.user.created");
    assert_eq!(body["data"]["user"]["email"], "ann@example.com");
    assert!(body["data"]["user"].get("passwordHash").is_none(), "{body}");

    // The worker fans it out and delivers it, signed.
    let queue = WebhookQueue::new(
        aws_sdk_sqs::Client::new(&api.sdk),
        &api.queues[ob_core::queues::WEBHOOK_DELIVERIES.logical_id],
    );
    queue.send(&Work::Event(event.clone()), 0).await.unwrap();
    let worker = worker(&api);
    drain(&api, &worker).await;
    let seen = receiver.requests("auth.user.created", 1).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].id, event.id);
    assert!(seen[0].verified, "signed with the subscription's secret");
    let log = ob_core::webhooks::deliveries::list(&api.store, "shop", false, 10)
        .await
        .unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].subscription_id, subscription.subscription_id);
}
