//! Per-record order of data-event webhooks on the emulator's webhooks table: changes of one record reach a
//! subscription in stream order even while an earlier one is retried (the later ones are held), other records are
//! not blocked, a delivery that fails for good (or whose subscription is disabled) releases its lane, a retried
//! stream batch is not delivered twice, and duplicated or concurrent jobs neither reorder nor strand anything.

#![allow(clippy::unwrap_used)]

use axum::http::StatusCode;
use ob_core::attr::{self, Item};
use ob_core::realtime::StreamChange;
use ob_core::realtime::fanout::ChangeKind;
use ob_core::webhooks::deliveries::{self, DeliveryState};
use ob_core::webhooks::events::{self, Event};
use ob_core::webhooks::send::Sender;
use ob_core::webhooks::worker::{Job, Next, Processed, process};
use ob_core::webhooks::{EventType, SubscriptionState, TargetPolicy, TargetUrl, backoff, store};
use ob_core::{Store, clock};
use ob_tests::fixtures::Api;

use crate::webhooks_send::{SecretSlot, Seen, receiver};

const A: &str = "0192f000-0000-7000-8000-00000000000a";
const B: &str = "0192f000-0000-7000-8000-00000000000b";

/// A change of record `id` of `orders` in the data table's stream, with its sequence number.
fn change(id: &str, sequence: u64, kind: ChangeKind) -> Event {
    let mut item = Item::new();
    item.insert("pk".into(), attr::s("R#shop#orders"));
    item.insert("sk".into(), attr::s(id));
    item.insert("resource".into(), attr::s("orders"));
    item.insert("data".into(), attr::s(format!(r#"{{"step":{sequence}}}"#)));
    item.insert("ownerId".into(), attr::s("u1"));
    item.insert("createdAt".into(), attr::s("2027-01-01T00:00:00Z"));
    item.insert("updatedAt".into(), attr::s("2027-01-01T00:00:00Z"));
    item.insert("version".into(), attr::n(sequence));
    let change = StreamChange {
        sequence: format!("49{sequence:019}"),
        kind,
        old: None,
        new: Some(item),
        created_at_ms: None,
    };
    events::from_change(&change).unwrap().unwrap()
}

fn id_of(sequence: u64) -> String {
    format!("evt_49{sequence:019}")
}

/// Fans a stream batch out in order, as the webhooks function does; returns the jobs to queue.
async fn fan_out(db: &Store, batch: &[Event], now: i64) -> Vec<Job> {
    let subs = store::list(db, "shop").await.unwrap();
    let mut jobs = Vec::new();
    for event in batch {
        jobs.extend(events::fan_out(db, event, &subs, now).await.unwrap());
    }
    jobs
}

/// The job `next` says to queue.
fn queued(processed: &Processed) -> Job {
    match &processed.next {
        Next::Queue { job, .. } => job.clone(),
        Next::Done => panic!("expected a job to queue"),
    }
}

/// Runs jobs (and what each queues next, at once) until none is left, as the queue would.
async fn drain(db: &Store, sender: &Sender, mut jobs: Vec<Job>, now: i64) {
    while let Some(job) = jobs.pop() {
        let out = process(db, sender, job, now).await.unwrap();
        if let Next::Queue { job, .. } = out.next {
            jobs.push(job);
        }
    }
}

/// Two copies of one queue message processed at once: exactly one makes the attempt
/// (the other finds it claimed, or made); returns what that one did.
async fn both_copies(db: &Store, sender: &Sender, job: &Job, now: i64) -> Processed {
    let (x, y) = tokio::join!(
        process(db, sender, job.clone(), now),
        process(db, sender, job.clone(), now)
    );
    let mut attempted: Vec<Processed> = [x, y]
        .into_iter()
        .filter_map(Result::ok)
        .filter(|p| p.attempt.is_some())
        .collect();
    assert_eq!(attempted.len(), 1, "one of the two copies sends");
    attempted.remove(0)
}

async fn states(db: &Store) -> Vec<(String, DeliveryState)> {
    let mut listed = deliveries::list(db, "shop", false, 100).await.unwrap();
    listed.reverse();
    listed.into_iter().map(|d| (d.event_id, d.state)).collect()
}

async fn subscribe(api: &Api, statuses: Vec<StatusCode>) -> (Seen, String) {
    let seen = Seen::default();
    let slot = SecretSlot::default();
    let base = receiver(slot.clone(), statuses, seen.clone()).await;
    let url = TargetUrl::parse(&format!("{base}/hook"), TargetPolicy::LOCAL).unwrap();
    let every = [EventType::DataCreated, EventType::DataUpdated];
    let (sub, secret) = store::create(&api.store, "shop", &url, &every, &[])
        .await
        .unwrap();
    slot.set(secret).unwrap();
    (seen, sub.subscription_id)
}

fn ids(seen: &Seen) -> Vec<String> {
    let seen = seen.lock().unwrap();
    assert!(seen.iter().all(|(_, verified)| *verified), "{seen:?}");
    seen.iter().map(|(id, _)| id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_of_a_record_wait_behind_a_retry_and_arrive_in_stream_order() {
    let api = Api::start().await;
    let db = &api.store;
    let sender = Sender::new(TargetPolicy::LOCAL).unwrap();
    let (seen, _) = subscribe(&api, vec![StatusCode::INTERNAL_SERVER_ERROR]).await;
    let now = clock::now_epoch();

    // One batch: A created and updated twice, B created in between.
    let batch = [
        change(A, 100, ChangeKind::Insert),
        change(B, 150, ChangeKind::Insert),
        change(A, 200, ChangeKind::Modify),
        change(A, 300, ChangeKind::Modify),
    ];
    let jobs = fan_out(db, &batch, now).await;
    assert_eq!(
        jobs.len(),
        2,
        "A's first change and B's; A's later ones wait"
    );
    assert_eq!(
        states(db).await,
        [
            (id_of(100), DeliveryState::Pending),
            (id_of(150), DeliveryState::Pending),
            (id_of(200), DeliveryState::Held),
            (id_of(300), DeliveryState::Held),
        ]
    );
    let held = deliveries::list(db, "shop", false, 10).await.unwrap();
    assert_eq!(held[0].record.as_deref(), Some(&*format!("orders/{A}")));

    // A's first attempt gets the 500; B is not blocked by it.
    let first = process(db, &sender, jobs[0].clone(), now).await.unwrap();
    let retry = queued(&first);
    assert_eq!(
        (retry.delivery_id.as_str(), retry.attempt),
        (jobs[0].delivery_id.as_str(), 2)
    );
    // The message of that attempt comes back (its run stopped before queueing the
    // retry): no second attempt, the same retry queued again.
    let repeated = process(db, &sender, jobs[0].clone(), now).await.unwrap();
    assert!(repeated.attempt.is_none());
    assert_eq!(queued(&repeated), retry);
    let b = process(db, &sender, jobs[1].clone(), now).await.unwrap();
    assert_eq!(b.next, Next::Done);
    assert_eq!(ids(&seen), [id_of(100), id_of(150)]);

    // The stream retries the batch: nothing is logged twice. Only the change in flight
    // is queued again (its first run might have stopped before queueing it), and that
    // copy makes no attempt: it queues the pending retry again (the retry's claim drops a copy).
    let again = fan_out(db, &batch, now).await;
    assert_eq!(again, [jobs[0].clone()]);
    assert_eq!(states(db).await.len(), 4);
    let copy = process(db, &sender, again[0].clone(), now + 1)
        .await
        .unwrap();
    assert!(copy.attempt.is_none());
    assert_eq!(queued(&copy), retry);

    // The retry succeeds 5 s later and hands the lane to the next change, then the next.
    let delivered = process(db, &sender, retry, now + 5).await.unwrap();
    let second = queued(&delivered);
    assert_eq!(second.attempt, 1);
    assert_ne!(second.delivery_id, jobs[0].delivery_id);
    assert_eq!(
        ids(&seen).len(),
        3,
        "the held change is queued, not sent, by the hand-over"
    );
    let third = queued(&process(db, &sender, second, now + 5).await.unwrap());
    let last = process(db, &sender, third, now + 5).await.unwrap();
    assert_eq!(last.next, Next::Done);
    assert_eq!(
        ids(&seen),
        [id_of(100), id_of(150), id_of(100), id_of(200), id_of(300)],
        "A's changes in stream order, each with its own webhook-id"
    );
    assert!(
        states(db)
            .await
            .iter()
            .all(|(_, s)| *s == DeliveryState::Delivered)
    );

    // The lane is idle again: the next change of A goes straight out.
    assert_eq!(
        fan_out(db, &[change(A, 400, ChangeKind::Modify)], now)
            .await
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_failing_for_good_or_a_disabled_subscription_releases_the_lane() {
    let api = Api::start().await;
    let db = &api.store;
    let sender = Sender::new(TargetPolicy::LOCAL).unwrap();
    let (seen, sub) = subscribe(&api, vec![StatusCode::INTERNAL_SERVER_ERROR; 20]).await;
    let now = clock::now_epoch();

    let jobs = fan_out(
        db,
        &[
            change(A, 100, ChangeKind::Insert),
            change(A, 200, ChangeKind::Modify),
        ],
        now,
    )
    .await;
    assert_eq!(jobs.len(), 1);
    // Its last attempt fails: it fails for good, and the held change is queued.
    let last_try = Job {
        attempt: backoff::max_attempts(),
        ..jobs[0].clone()
    };
    let next = queued(&process(db, &sender, last_try, now).await.unwrap());
    assert_ne!(next.delivery_id, jobs[0].delivery_id);
    let retry = queued(&process(db, &sender, next, now).await.unwrap());
    assert_eq!(retry.attempt, 2);
    assert_eq!(
        states(db).await,
        [
            (id_of(100), DeliveryState::Failed),
            (id_of(200), DeliveryState::Retrying)
        ]
    );

    // A third change waits behind the retrying one; disabling the subscription ends
    // the retrying one at its next job, and that releases the third (which fails too).
    assert!(
        fan_out(db, &[change(A, 300, ChangeKind::Modify)], now)
            .await
            .is_empty()
    );
    store::set_state(db, "shop", &sub, SubscriptionState::Disabled, Some("test"))
        .await
        .unwrap();
    let after = queued(&process(db, &sender, retry, now + 5).await.unwrap());
    assert_eq!(
        process(db, &sender, after, now + 5).await.unwrap().next,
        Next::Done
    );
    assert!(
        states(db)
            .await
            .iter()
            .all(|(_, s)| *s == DeliveryState::Failed)
    );
    assert_eq!(ids(&seen), [id_of(100), id_of(200)]);

    // Enabled again, the lane is free: a new change goes straight out.
    store::set_state(db, "shop", &sub, SubscriptionState::Active, None)
        .await
        .unwrap();
    assert_eq!(
        fan_out(db, &[change(A, 400, ChangeKind::Modify)], now)
            .await
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicated_and_concurrent_jobs_neither_reorder_nor_strand() {
    let api = Api::start().await;
    let db = &api.store;
    let sender = Sender::new(TargetPolicy::LOCAL).unwrap();
    let (seen, sub) = subscribe(&api, Vec::new()).await;
    let now = clock::now_epoch();

    let batch: Vec<Event> = [100, 200, 300]
        .map(|s| change(A, s, ChangeKind::Modify))
        .into();
    let jobs = fan_out(db, &batch, now).await;
    assert_eq!(jobs.len(), 1);
    let first = jobs[0].clone();

    // The same message processed twice at once: one attempt, one hand-over.
    let second = queued(&both_copies(db, &sender, &first, now).await);
    assert_eq!(ids(&seen), [id_of(100)]);

    // The message comes back after the first copy finished: no attempt; it queues
    // the head it handed over to again (in case the first run stopped before).
    let again = process(db, &sender, first.clone(), now).await.unwrap();
    assert!(again.attempt.is_none());
    assert_eq!(queued(&again), second);
    // Both copies of that job at once: one attempt, then the third change.
    let third = queued(&both_copies(db, &sender, &second, now).await);
    drain(db, &sender, vec![third], now).await;
    assert_eq!(ids(&seen), [id_of(100), id_of(200), id_of(300)]);
    // A stale copy of the first job now does nothing at all.
    let stale = process(db, &sender, first, now).await.unwrap();
    assert!(stale.attempt.is_none() && stale.next == Next::Done);

    // New changes fanned out while the one in flight ends, round after round: none is
    // stranded, and they arrive in order.
    let mut in_flight = fan_out(db, &[change(A, 400, ChangeKind::Modify)], now).await;
    for sequence in [500, 600, 700, 800] {
        let job = in_flight.pop().expect("a change in flight");
        let next_change = [change(A, sequence, ChangeKind::Modify)];
        let (out, admitted) = tokio::join!(
            process(db, &sender, job, now),
            fan_out(db, &next_change, now)
        );
        if let Next::Queue { job, .. } = out.unwrap().next {
            in_flight.push(job);
        }
        in_flight.extend(admitted);
        assert_eq!(in_flight.len(), 1, "exactly one change of A in flight");
    }
    drain(db, &sender, in_flight, now).await;
    let expected: Vec<String> = [100, 200, 300, 400, 500, 600, 700, 800].map(id_of).into();
    assert_eq!(ids(&seen), expected);
    assert!(
        states(db)
            .await
            .iter()
            .all(|(_, s)| *s == DeliveryState::Delivered)
    );

    // The lane item lost (deleted by hand) while a change is held: the one in flight
    // rebuilds it when it ends and the held one still goes out.
    let jobs = fan_out(
        db,
        &[
            change(A, 900, ChangeKind::Modify),
            change(A, 950, ChangeKind::Modify),
        ],
        now,
    )
    .await;
    assert_eq!(jobs.len(), 1);
    let lane_key = Item::from([
        ("pk".to_owned(), attr::s("W#shop")),
        ("sk".to_owned(), attr::s(format!("L#{sub}#orders/{A}"))),
    ]);
    api.store
        .client
        .delete_item()
        .table_name(&api.store.tables.webhooks)
        .set_key(Some(lane_key))
        .send()
        .await
        .unwrap();
    drain(db, &sender, jobs, now).await;
    assert_eq!(ids(&seen)[8..], [id_of(900), id_of(950)]);
}
