//! Request limits per app and per client address: one noisy client or app cannot make the others see 429s.

#![allow(clippy::unwrap_used)]

use axum::http::StatusCode;
use ob_api::limits::RateLimits;
use ob_core::users::Role;
use ob_tests::fixtures::{Api, Call, test_settings};
use serde_json::json;

use crate::api_data::user;

#[tokio::test]
async fn each_app_and_each_client_has_its_own_budget() {
    let mut settings = test_settings();
    settings.request_limits = RateLimits {
        per_app: 8,
        per_client: 4,
    };
    let api = Api::start_with(settings).await;
    let shop = api.app("shop").await;
    let blog = api.app("blog").await;
    let get = |key: &str, app: &str, ip: &str| {
        Call::get(&format!("/config/{app}")).key(key).from_addr(ip)
    };
    // One client of shop uses up its own budget…
    for _ in 0..4 {
        api.send(get(&shop.key, "shop", "10.0.0.1"))
            .await
            .expect(StatusCode::OK);
    }
    let refused = api
        .send(get(&shop.key, "shop", "10.0.0.1"))
        .await
        .expect(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.code(), "too_many_requests");
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // …another client of shop is served, until the app's budget is spent…
    for _ in 0..4 {
        api.send(get(&shop.key, "shop", "10.0.0.2"))
            .await
            .expect(StatusCode::OK);
    }
    api.send(get(&shop.key, "shop", "10.0.0.3"))
        .await
        .expect(StatusCode::TOO_MANY_REQUESTS);
    // …and another app is not affected at all, even from the noisy address.
    api.send(get(&blog.key, "blog", "10.0.0.1"))
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn an_app_may_set_its_own_limits() {
    let api = Api::start().await;
    let shop = api.app("shop").await;
    let admin = user(&api, &shop, "ada", Role::Admin).await;
    api.send(
        Call::put("/config/shop")
            .key(&shop.key)
            .bearer(&admin.token)
            .json(&json!({"limits": {"requestsPerMinutePerClient": 2}})),
    )
    .await
    .expect(StatusCode::OK);
    for _ in 0..2 {
        api.send(
            Call::get("/config/shop")
                .key(&shop.key)
                .from_addr("10.0.0.7"),
        )
        .await
        .expect(StatusCode::OK);
    }
    api.send(
        Call::get("/config/shop")
            .key(&shop.key)
            .from_addr("10.0.0.7"),
    )
    .await
    .expect(StatusCode::TOO_MANY_REQUESTS);
    let bad = api
        .send(
            Call::put("/config/shop")
                .key(&shop.key)
                .bearer(&admin.token)
                .from_addr("10.0.0.8")
                .json(&json!({"limits": {"requestsPerMinute": 0}})),
        )
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["error"]["field"], "limits.requestsPerMinute");
}

/// Holds the request-limit syncs (`UpdateItem`s of a `req:` counter) a DynamoDB client sends until released, and
/// counts how many were held and how many finished; every other call goes straight through.
#[derive(Debug, Clone)]
struct HeldSyncs {
    inner: aws_smithy_runtime_api::client::http::SharedHttpConnector,
    gate: std::sync::Arc<tokio::sync::Semaphore>,
    held: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    finished: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl aws_smithy_runtime_api::client::http::HttpConnector for HeldSyncs {
    fn call(
        &self,
        request: aws_smithy_runtime_api::client::orchestrator::HttpRequest,
    ) -> aws_smithy_runtime_api::client::http::HttpConnectorFuture {
        use std::sync::atomic::Ordering;
        let is_sync = request.headers().get("x-amz-target") == Some("DynamoDB_20120810.UpdateItem")
            && request.body().bytes().is_some_and(|body| {
                String::from_utf8_lossy(body)
                    .contains(&format!("#{}", ob_api::limits::SUBJECT_PREFIX))
            });
        let this = self.clone();
        aws_smithy_runtime_api::client::http::HttpConnectorFuture::new(async move {
            if is_sync {
                this.held.fetch_add(1, Ordering::SeqCst);
                if let Ok(permit) = this.gate.acquire().await {
                    permit.forget();
                }
            }
            let response = this.inner.call(request).await;
            if is_sync {
                this.finished.fetch_add(1, Ordering::SeqCst);
            }
            response
        })
    }
}

/// Waits (at most 10 s) until `counter` reaches `n`: the deferred sync runs on its own task. The caller asserts.
async fn reaches(counter: &std::sync::atomic::AtomicUsize, n: usize) {
    for _ in 0..500 {
        if counter.load(std::sync::atomic::Ordering::SeqCst) == n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[derive(Debug, Clone)]
struct HoldingClient(HeldSyncs);

impl aws_smithy_runtime_api::client::http::HttpClient for HoldingClient {
    fn http_connector(
        &self,
        _settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        aws_smithy_runtime_api::client::http::SharedHttpConnector::new(self.0.clone())
    }
}

/// The answer never waits for the shared counter's sync (it goes out while the sync is held), yet the limit holds:
/// the held sync's requests still count on the instance, and once released the shared counter has them all.
#[tokio::test]
async fn answers_do_not_wait_for_the_counter_sync_and_the_limit_still_holds() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let emulator = ob_tests::emulator().await;
    let sdk = emulator.sdk_config().await;
    let connector = aws_smithy_http_client::Connector::builder().build_http();
    let syncs = HeldSyncs {
        inner: aws_smithy_runtime_api::client::http::SharedHttpConnector::new(connector),
        gate: Arc::new(tokio::sync::Semaphore::new(0)),
        held: Arc::new(AtomicUsize::new(0)),
        finished: Arc::new(AtomicUsize::new(0)),
    };
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .http_client(HoldingClient(syncs.clone()))
            // A held request is not a stalled upload to give up on: it waits for the test.
            .stalled_stream_protection(
                aws_sdk_dynamodb::config::StalledStreamProtectionConfig::disabled(),
            )
            .build(),
    );
    ob_tests::fixtures::create_tables(&client, "t-").await;
    let store = ob_core::Store::new(client.clone(), ob_core::Tables::from_prefix("t-"));
    let mut settings = test_settings();
    settings.request_limits = RateLimits {
        per_app: 100,
        per_client: 2,
    };
    let state = ob_api::AppState::new(store, ob_tests::fixtures::SIGNING_KEY, settings).unwrap();
    let router = ob_api::router(state);
    let health = || Call::get("/health").from_addr("10.0.0.9");
    // Held until released below: an answer that waited for it would never come (the guard only turns that hang
    // into a failure).
    let first = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        ob_tests::fixtures::send_to(&router, health()),
    )
    .await
    .expect("the answer waited for the request-limit sync");
    first.expect(StatusCode::OK);
    // The sync runs on its own: it may reach the connection only after the answer.
    reaches(&syncs.held, 1).await;
    assert_eq!(
        syncs.held.load(Ordering::SeqCst),
        1,
        "the first request syncs its counter"
    );
    assert_eq!(syncs.finished.load(Ordering::SeqCst), 0);
    // The request whose count is in flight still counts: the second is the last the limit admits.
    ob_tests::fixtures::send_to(&router, health())
        .await
        .expect(StatusCode::OK);
    ob_tests::fixtures::send_to(&router, health())
        .await
        .expect(StatusCode::TOO_MANY_REQUESTS);
    syncs.gate.add_permits(1);
    reaches(&syncs.finished, 1).await;
    assert_eq!(
        syncs.finished.load(Ordering::SeqCst),
        1,
        "the sync never finished"
    );
    // The shared counter has the first request (the second waits for the next sync, a second later).
    let items = client
        .scan()
        .table_name(format!("t-{}", ob_core::tables::LIMITS.logical_id))
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    let counted: Vec<String> = items
        .iter()
        .filter(|item| {
            item.get("pk")
                .and_then(|pk| pk.as_s().ok())
                .is_some_and(|pk| pk.contains("req:ip:10.0.0.9"))
        })
        .filter_map(|item| item.get("n").and_then(|n| n.as_n().ok()).cloned())
        .collect();
    assert_eq!(counted, vec!["1".to_owned()]);
}
