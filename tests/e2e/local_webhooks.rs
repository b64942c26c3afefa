//! The `make dev` promise of issue 14, on the `obctl dev` of `local_backend` (one process per function): an app
//! subscribes with `obctl webhooks add`; a record written through the data API reaches the app's local receiver
//! through the data table's stream, the webhooks function's process and the webhook queue, signed as the Standard
//! Webhooks specification says (the receiver verifies with the spec's algorithm); a 500 is retried with the same
//! `webhook-id`; `obctl dev` prints one line per attempt.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use ob_core::webhooks::SigningSecret;
use ob_tests::http;
use serde_json::{Value, json};

use crate::local_backend::DevServer;

/// One request the receiver saw: its `webhook-id`, whether the signature verified, the JSON body.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub id: String,
    pub verified: bool,
    pub body: Value,
}

/// A receiver on a free loopback port: answers `first` to the first request, 200 after; verifies each request with
/// the secret put in `secret` (the spec's algorithm: HMAC-SHA256 of `{id}.{timestamp}.{body}`, 5 minutes' tolerance).
pub(crate) struct Receiver {
    pub url: String,
    pub secret: Arc<Mutex<Option<SigningSecret>>>,
    pub seen: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub(crate) async fn start(first: StatusCode) -> Self {
        let secret: Arc<Mutex<Option<SigningSecret>>> = Arc::default();
        let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
        let (key, log) = (secret.clone(), seen.clone());
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (key, log) = (key.clone(), log.clone());
                async move {
                    let (id, verified) = {
                        let secret = key.lock().expect("secret");
                        crate::webhooks_send::verify_request(secret.as_ref(), &headers, &body)
                    };
                    let mut log = log.lock().expect("seen");
                    log.push(Received {
                        id,
                        verified,
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    });
                    if log.len() == 1 {
                        first
                    } else {
                        StatusCode::OK
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            secret,
            seen,
        }
    }

    /// Waits until `count` requests of event type `kind` arrived; returns them.
    pub(crate) async fn requests(&self, kind: &str, count: usize) -> Vec<Received> {
        for _ in 0..120 {
            let found: Vec<Received> = self
                .seen
                .lock()
                .expect("seen")
                .iter()
                .filter(|r| r.body["type"] == kind)
                .cloned()
                .collect();
            if found.len() >= count {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!(
            "the receiver saw fewer than {count} {kind} requests: {:?}",
            self.seen.lock().expect("seen")
        );
    }
}

/// `obctl webhooks add` for app `app`; the receiver gets the secret shown once. Returns the subscription id.
pub(crate) fn subscribe(
    emu: &ob_tests::Emulator,
    app: &str,
    receiver: &Receiver,
    events: &str,
) -> String {
    let run = ob_tests::obctl::obctl(
        emu,
        &[
            "webhooks",
            "add",
            "--stage",
            "local",
            "--app",
            app,
            "--url",
            &receiver.url,
            "--events",
            events,
            "--resource",
            "orders",
            "--output",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let added = run.json();
    let secret = SigningSecret::parse(added["secret"].as_str().expect("secret")).expect("whsec_");
    *receiver.secret.lock().expect("secret") = Some(secret);
    added["subscriptionId"].as_str().expect("id").to_owned()
}

/// A data change on an app with a subscription reaches its receiver, signed; a 500 is retried with the same id.
pub(crate) async fn data_changes_reach_the_receiver(
    emu: &ob_tests::Emulator,
    server: &DevServer,
    base: &str,
    key: &str,
    token: &str,
) -> Receiver {
    let receiver = Receiver::start(StatusCode::INTERNAL_SERVER_ERROR).await;
    let subscription = subscribe(emu, "demo", &receiver, "data.created,auth.user.created");
    let bearer = format!("Bearer {token}");
    let write = |resource: &str| {
        let url = format!("http://{base}/api/demo/{resource}");
        let bearer = bearer.clone();
        async move {
            let body = json!({"data": {"total": 42}});
            let (status, reply) = http::json(
                "POST",
                &url,
                &[("X-API-Key", key), ("Authorization", &bearer)],
                Some(&body),
            )
            .await;
            assert_eq!(status, 201, "{reply}");
            reply["id"].as_str().expect("id").to_owned()
        }
    };
    // Filtered out: another resource.
    write("invoices").await;
    let id = write("orders").await;
    // The first attempt gets a 500; the retry (5 s later, a delayed queue message) a 200.
    let seen = receiver.requests("data.created", 2).await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        seen[0].id, seen[1].id,
        "a retry carries the same webhook-id"
    );
    assert!(seen[0].id.starts_with("evt_"), "{seen:?}");
    assert!(seen.iter().all(|r| r.verified), "{seen:?}");
    let data = &seen[1].body["data"];
    assert_eq!(
        (
            data["appId"].as_str(),
            data["resource"].as_str(),
            data["id"].as_str()
        ),
        (Some("demo"), Some("orders"), Some(id.as_str()))
    );
    assert_eq!(data["record"]["data"]["total"], 42, "{data}");
    assert!(
        !receiver
            .seen
            .lock()
            .expect("seen")
            .iter()
            .any(|r| r.body["data"]["resource"] == "invoices"),
        "the resource filter holds"
    );
    // One line per attempt.
    server.line(&["webhooks", &subscription, "data.created", "500", "retry 2"]);
    server.line(&[
        "webhooks",
        &subscription,
        "data.created",
        "200",
        "delivered",
    ]);
    receiver
}
