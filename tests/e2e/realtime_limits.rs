//! Realtime limits against the emulator: the subscription cap under parallel subscribes, `sendMessage` per connection, the browser `Origin` at `$connect`.

#![allow(clippy::unwrap_used)]

use ob_core::config::ConfigBody;
use ob_core::realtime::connections::{self, MAX_SUBSCRIPTIONS};
use ob_core::realtime::sends::{MAX_SENDS_PER_WINDOW, SEND_WINDOW_SECS};
use ob_core::realtime::{Push, PushError, Realtime};
use ob_core::users::Role;
use ob_tests::fixtures::{Api, SIGNING_KEY, STAGE_ORIGIN, TestApp};
use serde_json::{Value, json};

use crate::api_data::user;

/// Pushes go nowhere; these tests look at replies.
#[derive(Debug, Clone, Default)]
struct Nowhere;

impl Push for Nowhere {
    async fn send(&self, _: &str, _: &str) -> Result<(), PushError> {
        Ok(())
    }
}

fn service(api: &Api) -> Realtime<Nowhere> {
    Realtime {
        store: api.store.clone(),
        signer: ob_core::signing::Keyring::ready(SIGNING_KEY, &api.state.settings().issuer)
            .unwrap(),
        push: Nowhere,
        metrics: api.state.metrics().clone(),
        stage_origins: vec![STAGE_ORIGIN.into()],
    }
}

async fn ask(realtime: &Realtime<Nowhere>, connection: &str, message: Value) -> Value {
    realtime
        .message(connection, &message.to_string(), "req")
        .await
}

#[tokio::test]
async fn parallel_subscribes_never_pass_the_cap() {
    let api = Api::start().await;
    let shop = api.app("shop").await;
    let ada = user(&api, &shop, "ada", Role::User).await;
    let realtime = service(&api);
    realtime
        .connect("C1", Some(&shop.key), Some(&ada.token), None)
        .await
        .unwrap();

    // Ten more than the cap, all at once: a check-then-write admits them all.
    let attempts = MAX_SUBSCRIPTIONS + 10;
    let replies = futures::future::join_all((0..attempts).map(|i| {
        ask(
            &realtime,
            "C1",
            json!({"action": "subscribe", "channel": format!("room:r{i}")}),
        )
    }))
    .await;
    let subscribed = replies.iter().filter(|r| r["type"] == "subscribed").count();
    let refused = replies
        .iter()
        .filter(|r| r["error"]["code"] == "conflict")
        .count();
    assert_eq!(
        (subscribed, refused),
        (MAX_SUBSCRIPTIONS, 10),
        "{replies:?}"
    );
    // The user's own channel, joined at connect, is held besides the cap's worth.
    let own = format!("user:{}", ada.id);
    let (owned, stored): (Vec<String>, Vec<String>) = connections::subscriptions(&api.store, "C1")
        .await
        .unwrap()
        .into_iter()
        .partition(|c| *c == own);
    assert_eq!(owned, [own]);
    assert_eq!(stored.len(), MAX_SUBSCRIPTIONS);

    // Subscribing again to a channel held is not a new subscription.
    let held = stored[0].clone();
    let again = ask(
        &realtime,
        "C1",
        json!({"action": "subscribe", "channel": held}),
    )
    .await;
    assert_eq!(again["type"], "subscribed", "{again}");
    let over = ask(
        &realtime,
        "C1",
        json!({"action": "subscribe", "channel": "room:extra"}),
    )
    .await;
    assert_eq!(over["error"]["code"], "conflict", "{over}");
    // Unsubscribing frees a place, once (a repeated unsubscribe frees nothing).
    for _ in 0..2 {
        let gone = ask(
            &realtime,
            "C1",
            json!({"action": "unsubscribe", "channel": held}),
        )
        .await;
        assert_eq!(gone["type"], "unsubscribed", "{gone}");
    }
    let extra = ask(
        &realtime,
        "C1",
        json!({"action": "subscribe", "channel": "room:extra"}),
    )
    .await;
    assert_eq!(extra["type"], "subscribed", "{extra}");
    let more = ask(
        &realtime,
        "C1",
        json!({"action": "subscribe", "channel": "room:more"}),
    )
    .await;
    assert_eq!(more["error"]["code"], "conflict", "{more}");
}

#[tokio::test]
async fn send_message_is_limited_per_connection() {
    let api = Api::start().await;
    let shop = api.app("shop").await;
    let ada = user(&api, &shop, "ada", Role::User).await;
    let bob = user(&api, &shop, "bob", Role::User).await;
    let realtime = service(&api);
    for (connection, who) in [("Ada", &ada), ("Bob", &bob)] {
        realtime
            .connect(connection, Some(&shop.key), Some(&who.token), None)
            .await
            .unwrap();
        let joined = ask(
            &realtime,
            connection,
            json!({"action": "subscribe", "channel": "room:chat"}),
        )
        .await;
        assert_eq!(joined["type"], "subscribed");
    }
    // Start early in a window so the whole burst falls into one.
    let now = ob_core::clock::now_epoch();
    if now.rem_euclid(SEND_WINDOW_SECS) > SEND_WINDOW_SECS / 2 {
        let wait = SEND_WINDOW_SECS - now.rem_euclid(SEND_WINDOW_SECS);
        tokio::time::sleep(std::time::Duration::from_secs(wait as u64)).await;
    }
    let send = json!({"action": "sendMessage", "channel": "room:chat", "data": "hi"});
    for i in 0..MAX_SENDS_PER_WINDOW {
        let sent = ask(&realtime, "Bob", send.clone()).await;
        assert_eq!(sent["type"], "sent", "message {i}: {sent}");
    }
    let throttled = ask(&realtime, "Bob", send.clone()).await;
    assert_eq!(
        throttled["error"]["code"], "too_many_requests",
        "{throttled}"
    );
    assert!(
        throttled["error"]["message"]
            .as_str()
            .unwrap()
            .contains("retry in"),
        "{throttled}"
    );
    // The limit is the connection's: another connection still sends.
    let other = ask(&realtime, "Ada", send).await;
    assert_eq!(other["type"], "sent", "{other}");
}

/// A `$connect` event as API Gateway sends it, with the browser's headers.
fn connect_event(connection: &str, app: &TestApp, token: &str, origin: Option<&str>) -> Value {
    let mut event = json!({
        "requestContext": {
            "routeKey": "$connect", "eventType": "CONNECT", "connectionId": connection,
            "requestId": "Pq1xRGlxDoEF0Fg=", "stage": "live", "apiId": "abc123"
        },
        "headers": {"Host": "abc123.execute-api.us-east-1.amazonaws.com", "Sec-WebSocket-Version": "13"},
        "queryStringParameters": {"apiKey": app.key, "token": token},
        "isBase64Encoded": false
    });
    if let Some(origin) = origin {
        event["headers"]["Origin"] = json!(origin);
    }
    event
}

#[tokio::test]
async fn connect_checks_a_browser_origin_against_the_stage_and_the_app() {
    let api = Api::start().await;
    ob_core::apps::create(&api.store, "web", "web", &["https://web.example".into()])
        .await
        .unwrap();
    let key = api.key("web", &["auth", "realtime"]).await;
    let web = TestApp {
        app_id: "web".into(),
        key: key.secret,
        key_id: key.key.key_id,
    };
    let config = ConfigBody {
        allowed_origins: vec!["https://preview.web.example".into()],
        ..ConfigBody::default()
    };
    ob_core::config::put(&api.store, "web", config, None)
        .await
        .unwrap();
    let ada = user(&api, &web, "ada", Role::User).await;
    let realtime = service(&api);

    let status = |reply: &Value| reply["statusCode"].as_u64().unwrap();
    for (i, origin) in [
        None,
        Some(STAGE_ORIGIN),
        Some("https://web.example"),
        Some("https://preview.web.example"),
    ]
    .into_iter()
    .enumerate()
    {
        let event = connect_event(&format!("ok{i}="), &web, &ada.token, origin);
        let reply = ob_realtime::handle(&realtime, &event, "i").await;
        assert_eq!(status(&reply), 200, "{origin:?}: {reply}");
    }
    let foreign = connect_event("evil=", &web, &ada.token, Some("https://evil.example"));
    let reply = ob_realtime::handle(&realtime, &foreign, "i").await;
    assert_eq!(status(&reply), 403, "{reply}");
    let body: Value = serde_json::from_str(reply["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "forbidden");
    assert!(
        connections::get(&api.store, "evil=")
            .await
            .unwrap()
            .is_none(),
        "a refused connection is not recorded"
    );
}
