//! Auth events reach an app's webhooks through the webhook queue, never on the request path: registering queues
//! `auth.user.created` (one message, no receiver called), and the webhooks function's handler, fed that queue the
//! way Lambda's mapping (and `obctl dev`) does, delivers it signed to the app's receiver. A subscription that has
//! failed for days is disabled by the handler and the app's contact is e-mailed through the notify queue.

#![allow(clippy::unwrap_used)]

use std::sync::Mutex;

use axum::http::StatusCode;
use ob_core::notify::{Job as Job13, Recipient};
use ob_core::webhooks::deliveries;
use ob_core::webhooks::queue::{WebhookQueue, Work};
use ob_core::webhooks::send::Sender;
use ob_core::webhooks::worker::Job;
use ob_core::webhooks::{
    DISABLE_AFTER_SECS, EventType, SubscriptionState, TargetPolicy, TargetUrl, store,
};
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
        notify: Some(ob_core::notify::NotifyQueue::new(
            aws_sdk_sqs::Client::new(&api.sdk),
            &api.queues[ob_core::queues::NOTIFY.logical_id],
        )),
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

#[tokio::test(flavor = "multi_thread")]
async fn a_subscription_failing_for_days_is_disabled_and_the_app_contact_told() {
    let api = Api::start().await;
    ob_core::apps::create_app(
        &api.store,
        &ob_core::apps::NewApp {
            app_id: "shop".into(),
            name: "Shop".into(),
            contact: Some("ops@shop.example".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let receiver = Receiver::start(StatusCode::SERVICE_UNAVAILABLE).await;
    let url = TargetUrl::parse(&receiver.url, TargetPolicy::LOCAL).unwrap();
    let (subscription, secret) =
        store::create(&api.store, "shop", &url, &[EventType::UserCreated], &[])
            .await
            .unwrap();
    *receiver.secret.lock().unwrap() = Some(secret);
    let id = &subscription.subscription_id;
    // Failing since three days ago: the next failure disables it.
    let now = ob_core::clock::now_epoch();
    store::record_outcome(&api.store, "shop", id, false, now - DISABLE_AFTER_SECS)
        .await
        .unwrap();
    let delivery = deliveries::create(&api.store, "shop", id, "evt_x", "auth.user.created", "{}")
        .await
        .unwrap();
    let queue = WebhookQueue::new(
        aws_sdk_sqs::Client::new(&api.sdk),
        &api.queues[ob_core::queues::WEBHOOK_DELIVERIES.logical_id],
    );
    queue
        .send(
            &Work::Attempt(Job::first("shop", &delivery.delivery_id, now)),
            0,
        )
        .await
        .unwrap();
    drain(&api, &worker(&api)).await;
    assert_eq!(receiver.seen.lock().unwrap().len(), 1, "one attempt, a 503");
    let (after, _) = store::get(&api.store, "shop", id).await.unwrap();
    assert_eq!(after.state, SubscriptionState::Disabled);

    // The contact's e-mail is stored and queued for the notify function.
    let sqs = aws_sdk_sqs::Client::new(&api.sdk);
    let received = sqs
        .receive_message()
        .queue_url(&api.queues[ob_core::queues::NOTIFY.logical_id])
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let jobs: Vec<Job13> = received
        .messages()
        .iter()
        .filter_map(|m| ob_core::notify::Envelope::parse(m.body().unwrap_or_default()))
        .map(|e| e.job)
        .collect();
    let [
        Job13::Notification {
            app_id,
            notification_id,
        },
    ] = jobs.as_slice()
    else {
        panic!("expected one notification job: {jobs:?}");
    };
    assert_eq!(app_id, "shop");
    let told = ob_core::notify::store::get(&api.store, "shop", notification_id)
        .await
        .unwrap()
        .expect("the notification is stored");
    assert_eq!(told.to, Recipient::Email("ops@shop.example".into()));
    assert!(told.subject.contains(&receiver.url), "{}", told.subject);
    let text = told.text.unwrap_or_default();
    assert!(
        text.contains(&format!("obctl webhooks enable --app shop {id}")),
        "{text}"
    );
}
