//! The delivery worker's jobs against the emulator's webhooks table and a local
//! receiver: a 500 is logged and retried with the same `webhook-id` along the
//! backoff; late retries hop; exhausted deliveries fail; a subscription failing
//! for days is disabled; a redelivery replays the same event.

#![allow(clippy::unwrap_used)]

use axum::http::StatusCode;
use ob_core::webhooks::deliveries::{self, DeliveryState};
use ob_core::webhooks::events;
use ob_core::webhooks::send::Sender;
use ob_core::webhooks::worker::{Job, Next, process, redeliver};
use ob_core::webhooks::{
    DISABLE_AFTER_SECS, EventType, SubscriptionState, TargetPolicy, TargetUrl, backoff, store,
};
use ob_tests::fixtures::Api;

use crate::webhooks_send::{SecretSlot, Seen, receiver};

const BODY: &str =
    r#"{"type":"data.created","timestamp":"2027-01-01T00:00:00Z","data":{"id":"r1"}}"#;

/// The job `next` says to queue, with its delay.
fn queued(next: &Next) -> (Job, u32) {
    match next {
        Next::Queue { job, delay_secs } => (job.clone(), *delay_secs),
        Next::Done => panic!("expected a job to queue"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_backoff_disabling_and_replay() {
    let api = Api::start().await;
    let db = &api.store;
    let sender = Sender::new(TargetPolicy::LOCAL).unwrap();
    let secret = SecretSlot::default();
    let seen = Seen::default();
    let statuses = vec![StatusCode::INTERNAL_SERVER_ERROR, StatusCode::BAD_GATEWAY];
    let base = receiver(secret.clone(), statuses, seen.clone()).await;
    let url = TargetUrl::parse(&format!("{base}/hook"), TargetPolicy::LOCAL).unwrap();
    let (sub, issued) = store::create(db, "shop", &url, &[EventType::DataCreated], &[])
        .await
        .unwrap();
    secret.set(issued).unwrap();
    let logged = deliveries::create(
        db,
        "shop",
        &sub.subscription_id,
        "evt_1",
        "data.created",
        BODY,
    )
    .await
    .unwrap();
    // The receiver checks timestamps against its clock (5 minutes' tolerance).
    let now = ob_core::clock::now_epoch();

    // Attempt 1: a 500, logged, retried 5 s later.
    let first = process(
        db,
        &sender,
        Job::first("shop", &logged.delivery_id, now),
        now,
    )
    .await
    .unwrap();
    let (retry, delay) = queued(&first.next);
    assert_eq!((retry.attempt, retry.due, delay), (2, now + 5, 5));
    let log = deliveries::get(db, "shop", &logged.delivery_id)
        .await
        .unwrap();
    assert_eq!(log.state, DeliveryState::Retrying);
    assert_eq!(log.next_retry_at, Some(now + 5));
    assert_eq!(log.attempts.len(), 1);
    assert_eq!(log.attempts[0].status, Some(500));
    assert_eq!(log.attempts[0].response_excerpt, "receiver says hi");
    let failing = store::get(db, "shop", &sub.subscription_id)
        .await
        .unwrap()
        .0;
    assert_eq!(failing.failing_since, Some(now));

    // Picked up early (a queue may deliver before the due time): it only hops.
    let early = process(db, &sender, retry.clone(), now + 2).await.unwrap();
    assert!(early.attempt.is_none());
    assert_eq!(queued(&early.next), (retry.clone(), 3));

    // Attempt 2: a 502, retried after 30 s.
    let second = process(db, &sender, retry.clone(), now + 5).await.unwrap();
    let (retry, delay) = queued(&second.next);
    assert_eq!((retry.attempt, delay), (3, 30));

    // Attempt 3: delivered; same webhook-id every time, every signature valid.
    let third = process(db, &sender, retry, now + 35).await.unwrap();
    assert_eq!(third.next, Next::Done);
    let log = deliveries::get(db, "shop", &logged.delivery_id)
        .await
        .unwrap();
    assert_eq!(log.state, DeliveryState::Delivered);
    assert_eq!(
        log.attempts.iter().map(|a| a.status).collect::<Vec<_>>(),
        [Some(500), Some(502), Some(200)]
    );
    assert_eq!(log.next_retry_at, None);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![("evt_1".to_owned(), true); 3],
        "the receiver saw the same id, signed, three times"
    );
    let healthy = store::get(db, "shop", &sub.subscription_id)
        .await
        .unwrap()
        .0;
    assert_eq!(healthy.failing_since, None);

    // A late retry (8 h) travels in 15-minute hops without attempts.
    let late = Job {
        attempt: 10,
        due: now + 28_800,
        ..Job::first("shop", &logged.delivery_id, now)
    };
    let hop = process(db, &sender, late.clone(), now).await.unwrap();
    assert_eq!(queued(&hop.next), (late, backoff::MAX_QUEUE_DELAY_SECS));

    // Replay: the same event again, from attempt 1.
    let replay = redeliver(db, "shop", &logged.delivery_id, now + 60)
        .await
        .unwrap();
    assert_eq!(
        deliveries::get(db, "shop", &logged.delivery_id)
            .await
            .unwrap()
            .state,
        DeliveryState::Pending
    );
    let replayed = process(db, &sender, replay, now + 60).await.unwrap();
    assert_eq!(replayed.next, Next::Done);
    assert_eq!(seen.lock().unwrap().len(), 4);
    assert_eq!(seen.lock().unwrap()[3], ("evt_1".to_owned(), true));

    let listed = deliveries::list(db, "shop", false, 10).await.unwrap();
    assert_eq!(listed.len(), 1);

    // Fan-out: an event is logged and queued once per matching subscription.
    let user = serde_json::json!({"id": "u1", "email": "ann@example.com"});
    let event = events::auth("a1", "shop", EventType::UserCreated, &user);
    let subs = store::list(db, "shop").await.unwrap();
    assert!(
        events::fan_out(db, &event, &subs, now)
            .await
            .unwrap()
            .is_empty(),
        "filtered out"
    );
    let (auth_sub, _) = store::create(db, "shop", &url, &[EventType::UserCreated], &[])
        .await
        .unwrap();
    let subs = store::list(db, "shop").await.unwrap();
    let jobs = events::fan_out(db, &event, &subs, now).await.unwrap();
    assert_eq!(jobs.len(), 1);
    let queued_delivery = deliveries::get(db, "shop", &jobs[0].delivery_id)
        .await
        .unwrap();
    assert_eq!(queued_delivery.subscription_id, auth_sub.subscription_id);
    assert_eq!(
        (queued_delivery.event_id.as_str(), queued_delivery.state),
        ("evt_a1", DeliveryState::Pending)
    );
    assert!(
        deliveries::list(db, "shop", true, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn exhausted_deliveries_fail_and_days_of_failure_disable_the_subscription() {
    let api = Api::start().await;
    let db = &api.store;
    let sender = Sender::new(TargetPolicy::LOCAL).unwrap();
    let seen = Seen::default();
    let always_500 = vec![StatusCode::INTERNAL_SERVER_ERROR; 20];
    let base = receiver(SecretSlot::default(), always_500, seen.clone()).await;
    let url = TargetUrl::parse(&format!("{base}/hook"), TargetPolicy::LOCAL).unwrap();
    let (sub, _) = store::create(db, "shop", &url, &[EventType::DataCreated], &[])
        .await
        .unwrap();
    let now = 2_000_000_000;

    // The last attempt of the schedule fails: the delivery fails for good.
    let last = deliveries::create(
        db,
        "shop",
        &sub.subscription_id,
        "evt_a",
        "data.created",
        BODY,
    )
    .await
    .unwrap();
    let job = Job {
        attempt: backoff::max_attempts(),
        ..Job::first("shop", &last.delivery_id, now)
    };
    let out = process(db, &sender, job, now).await.unwrap();
    assert_eq!(out.next, Next::Done);
    assert!(out.disabled.is_none());
    let log = deliveries::get(db, "shop", &last.delivery_id)
        .await
        .unwrap();
    assert_eq!(log.state, DeliveryState::Failed);
    assert_eq!(
        deliveries::list(db, "shop", true, 10).await.unwrap().len(),
        1
    );

    // Failing since then, three days later the next failure disables it.
    let other = deliveries::create(
        db,
        "shop",
        &sub.subscription_id,
        "evt_b",
        "data.created",
        BODY,
    )
    .await
    .unwrap();
    let almost = now + DISABLE_AFTER_SECS - 1;
    let out = process(
        db,
        &sender,
        Job::first("shop", &other.delivery_id, almost),
        almost,
    )
    .await
    .unwrap();
    assert!(out.disabled.is_none());
    let (retry, _) = queued(&out.next);
    let later = now + DISABLE_AFTER_SECS + 4;
    let out = process(db, &sender, retry.clone(), later).await.unwrap();
    let disabled = out.disabled.expect("disabled after three days of failures");
    assert_eq!(disabled.state, SubscriptionState::Disabled);
    assert!(
        disabled
            .disabled_reason
            .unwrap()
            .contains("every delivery failed since")
    );
    assert_eq!(out.next, Next::Done);

    // Jobs still queued for it end without an attempt.
    let before = seen.lock().unwrap().len();
    let out = process(
        db,
        &sender,
        Job {
            attempt: 3,
            ..retry
        },
        later + 30,
    )
    .await
    .unwrap();
    assert!(out.attempt.is_none() && out.next == Next::Done);
    assert_eq!(seen.lock().unwrap().len(), before);

    // Enabling gives it a clean record.
    let revived = store::set_state(
        db,
        "shop",
        &sub.subscription_id,
        SubscriptionState::Active,
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        (revived.failing_since, revived.disabled_reason),
        (None, None)
    );
}
