//! A delivery attempt against a local receiver that checks each signature with
//! the Standard Webhooks algorithm: a 500 is a failure and the retry carries
//! the same `webhook-id`; redirects are not followed; private addresses,
//! names resolving to loopback on a strict stage, oversized payloads and slow
//! receivers are refused or time out.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use ob_core::webhooks::send::{Message, Sender};
use ob_core::webhooks::{MAX_PAYLOAD_BYTES, SigningSecret, TargetPolicy, signing};

/// What the receiver saw: (webhook-id, signature verified).
pub(crate) type Seen = Arc<Mutex<Vec<(String, bool)>>>;

/// The secret a receiver verifies with, possibly known only after it started.
pub(crate) type SecretSlot = Arc<OnceLock<SigningSecret>>;

pub(crate) fn slot(secret: &SigningSecret) -> SecretSlot {
    let slot = SecretSlot::default();
    let _ = slot.set(secret.clone());
    slot
}

/// What a receiver checks, with the spec's algorithm (HMAC-SHA256 of
/// `{id}.{timestamp}.{body}`, 5 minutes' tolerance): the `webhook-id`, and
/// whether the signature verifies with `secret`.
pub(crate) fn verify_request(
    secret: Option<&SigningSecret>,
    headers: &HeaderMap,
    body: &[u8],
) -> (String, bool) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let id = header("webhook-id");
    let verified = secret.is_some_and(|secret| {
        signing::verify(
            secret,
            &id,
            &header("webhook-timestamp"),
            &header("webhook-signature"),
            body,
            ob_core::clock::now_epoch(),
        )
        .is_ok()
    });
    (id, verified)
}

/// A receiver on a free loopback port answering `statuses` in turn (then 200),
/// verifying every request with the slot's secret. Returns its base URL.
pub(crate) async fn receiver(secret: SecretSlot, statuses: Vec<StatusCode>, seen: Seen) -> String {
    let answers = Arc::new(Mutex::new(statuses.into_iter()));
    let app = Router::new()
        .route(
            "/hook",
            post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let seen = seen.clone();
                let answers = answers.clone();
                let secret = secret.clone();
                async move {
                    let (id, verified) = verify_request(secret.get(), &headers, &body);
                    seen.lock().unwrap().push((id, verified));
                    let status = answers.lock().unwrap().next().unwrap_or(StatusCode::OK);
                    (status, "receiver says hi").into_response()
                }
            }),
        )
        .route(
            "/redirect",
            post(|| async { (StatusCode::FOUND, [("location", "/hook")]).into_response() }),
        )
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                StatusCode::OK
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn retry_after_a_500_carries_the_same_id_and_verifies() {
    let secret = SigningSecret::generate().unwrap();
    let seen = Seen::default();
    let base = receiver(
        slot(&secret),
        vec![StatusCode::INTERNAL_SERVER_ERROR],
        seen.clone(),
    )
    .await;
    let sender = Sender::new(TargetPolicy::LOCAL).unwrap();
    let body = br#"{"type":"data.created","timestamp":"2027-01-01T00:00:00Z","data":{}}"#;
    let message = Message { id: "evt_1", body };
    let url = format!("{base}/hook");
    let now = ob_core::clock::now_epoch();

    let first = sender.attempt(&url, message, &[&secret], now).await;
    assert!(!first.delivered);
    assert_eq!(first.status, Some(500));
    assert_eq!(first.response_excerpt, "receiver says hi");

    let second = sender.attempt(&url, message, &[&secret], now + 5).await;
    assert!(second.delivered, "{second:?}");
    assert_eq!(second.status, Some(200));
    assert_eq!(
        *seen.lock().unwrap(),
        vec![("evt_1".to_owned(), true), ("evt_1".to_owned(), true)]
    );

    // A receiver holding another secret does not verify.
    let stranger = SigningSecret::generate().unwrap();
    let third = sender.attempt(&url, message, &[&stranger], now).await;
    assert!(third.delivered, "the receiver answers 200 either way");
    assert_eq!(seen.lock().unwrap()[2], ("evt_1".to_owned(), false));
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let secret = SigningSecret::generate().unwrap();
    let seen = Seen::default();
    let base = receiver(slot(&secret), vec![], seen.clone()).await;
    let sender = Sender::new(TargetPolicy::LOCAL).unwrap();
    let message = Message {
        id: "evt_2",
        body: b"{}",
    };
    let attempt = sender
        .attempt(&format!("{base}/redirect"), message, &[&secret], 0)
        .await;
    assert!(!attempt.delivered);
    assert_eq!(attempt.status, Some(302));
    assert_eq!(attempt.error.as_deref(), Some("redirect not followed"));
    assert!(
        seen.lock().unwrap().is_empty(),
        "the redirect target was called"
    );
}

#[tokio::test]
async fn strict_stages_refuse_loopback_names_and_private_addresses() {
    let secret = SigningSecret::generate().unwrap();
    let seen = Seen::default();
    let base = receiver(slot(&secret), vec![], seen.clone()).await;
    let port = base.rsplit(':').next().unwrap();
    let strict = Sender::new(TargetPolicy::STRICT).unwrap();
    let message = Message {
        id: "evt_3",
        body: b"{}",
    };

    // A name that resolves to loopback (checked at send time, on the resolved address).
    let name = strict
        .attempt(
            &format!("https://localhost:{port}/hook"),
            message,
            &[&secret],
            0,
        )
        .await;
    assert!(name.refused, "{name:?}");
    assert!(
        name.error.as_deref().unwrap().contains("loopback"),
        "{name:?}"
    );
    for (url, kind) in [
        ("https://10.0.0.7/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "metadata"),
        ("https://[::1]/hook", "loopback"),
        (&*format!("http://127.0.0.1:{port}/hook"), "https://"),
    ] {
        let attempt = strict.attempt(url, message, &[&secret], 0).await;
        assert!(!attempt.delivered && attempt.refused, "{url}: {attempt:?}");
        let error = attempt.error.unwrap();
        assert!(error.contains(kind), "{url}: {error}");
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "a refused target was called"
    );

    // The local policy reaches the same receiver.
    let local = Sender::new(TargetPolicy::LOCAL).unwrap();
    let reached = local
        .attempt(
            &format!("http://localhost:{port}/hook"),
            message,
            &[&secret],
            0,
        )
        .await;
    assert!(reached.delivered, "{reached:?}");
}

#[tokio::test]
async fn oversized_payloads_and_slow_receivers_fail() {
    let secret = SigningSecret::generate().unwrap();
    let seen = Seen::default();
    let base = receiver(slot(&secret), vec![], seen.clone()).await;
    let sender = Sender::with_timeout(TargetPolicy::LOCAL, Duration::from_millis(300)).unwrap();
    let big = vec![b' '; MAX_PAYLOAD_BYTES + 1];
    let attempt = sender
        .attempt(
            &format!("{base}/hook"),
            Message {
                id: "evt_4",
                body: &big,
            },
            &[&secret],
            0,
        )
        .await;
    assert!(!attempt.delivered);
    assert!(attempt.error.unwrap().contains("cap"));
    assert!(seen.lock().unwrap().is_empty());

    let slow = sender
        .attempt(
            &format!("{base}/slow"),
            Message {
                id: "evt_5",
                body: b"{}",
            },
            &[&secret],
            0,
        )
        .await;
    assert!(!slow.delivered && slow.status.is_none(), "{slow:?}");
    assert!(slow.error.unwrap().contains("no answer within"));
}

/// The webhooks function's sender loads its roots at its first attempt, not when it is built (a cold start), and
/// once: every later attempt, and every clone of the sender, reuses them.
#[tokio::test]
async fn roots_loaded_at_the_first_attempt_are_loaded_once() {
    use ob_core::webhooks::send::{ATTEMPT_TIMEOUT, TrustedRoots};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let secret = SigningSecret::generate().unwrap();
    let seen = Seen::default();
    let base = receiver(slot(&secret), vec![], seen.clone()).await;
    let loads = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&loads);
    let roots = TrustedRoots::Loaded(Arc::new(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        ob_lambda::roots::RootBundle::shared().map(|bundle| Arc::new(bundle.root_store()))
    }));
    let sender = Sender::with_roots(TargetPolicy::LOCAL, roots, ATTEMPT_TIMEOUT).unwrap();
    let copy = sender.clone();
    assert_eq!(loads.load(Ordering::SeqCst), 0, "loaded when built");
    let message = Message {
        id: "evt_9",
        body: b"{}",
    };
    for sender in [&sender, &copy, &sender] {
        let attempt = sender
            .attempt(&format!("{base}/hook"), message, &[&secret], 0)
            .await;
        assert!(attempt.delivered, "{attempt:?}");
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert_eq!(seen.lock().unwrap().len(), 3);
}
