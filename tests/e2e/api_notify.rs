//! Notifications an app sends, end to end on the emulator: templates (escaped in HTML), who may send, statuses and provider ids, the daily quota, `Idempotency-Key`, SMS through SNS, pushes over WebSockets, and audit.

#![allow(clippy::unwrap_used)]

use axum::http::{Method, StatusCode};
use ob_core::realtime::connections::{self, Connection};
use ob_core::users::Role;
use ob_tests::fixtures::{Api, Call, Reply, TestApp, test_settings};
use obctl::live::LocalHub;
use serde_json::{Value, json};

use crate::notify_support::{self, drain, outbox, verify_sender};

const PASSWORD: &str = "correct horse battery";

/// An app with a `welcome` template and a server key with the `notify` scope.
async fn app_with_templates(api: &Api) -> (TestApp, String) {
    let app = api.app("shop").await;
    let admin = api
        .register(&app, "admin@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    ob_core::users::set_role(&api.store, "shop", &admin.str("/user/userId"), Role::Admin)
        .await
        .unwrap();
    let token = api
        .login(&app, "admin@example.com", PASSWORD)
        .await
        .expect(StatusCode::OK)
        .str("/accessToken");
    api.send(
        Call::new(Method::PATCH, "/config/shop")
            .key(&app.key)
            .bearer(&token)
            .json(&json!({
                "notifications": {"templates": {"welcome": {
                    "subject": "Welcome, {{name}}",
                    "text": "Hello {{name}}, your plan is {{plan}}.",
                    "html": "<p>Hello <b>{{name}}</b>, your plan is {{plan}}.</p>"
                }}}
            })),
    )
    .await
    .expect(StatusCode::OK);
    let server = api.key("shop", &["notify"]).await.secret;
    (app, server)
}

fn notify(key: &str, body: &Value) -> Call {
    Call::post("/notify/shop").key(key).json(body)
}

async fn status(api: &Api, key: &str, id: &str) -> Reply {
    api.send(Call::get(&format!("/notify/shop/{id}")).key(key))
        .await
        .expect(StatusCode::OK)
}

#[tokio::test]
async fn a_template_is_rendered_escaped_in_html_sent_and_tracked() {
    let api = Api::start().await;
    verify_sender(&api).await;
    let worker = notify_support::worker(&api, LocalHub::default());
    let (app, server) = app_with_templates(&api).await;
    let bo = api
        .register(&app, "bo@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    let body = json!({
        "channel": "email",
        "to": [{"email": "Cy@Example.com"}, {"userId": bo.str("/user/userId")}],
        "template": "welcome",
        "variables": {"name": "<script>x</script> & \"Co\"", "plan": 3}
    });
    let sent = api
        .send(notify(&server, &body))
        .await
        .expect(StatusCode::ACCEPTED);
    let ids: Vec<String> = sent.body["notifications"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|n| n["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(
        sent.body["notifications"][0]["to"],
        json!({"email": "cy@example.com"})
    );
    assert_eq!(
        status(&api, &server, &ids[0]).await.body["status"],
        "queued"
    );
    assert!(
        outbox(&api).await.is_empty(),
        "nothing is sent on the request path"
    );

    drain(&api, &worker).await;
    let mails = outbox(&api).await;
    assert_eq!(mails.len(), 2, "one e-mail per recipient: {mails:?}");
    let to_bo = mails
        .iter()
        .find(|m| m["to"] == json!(["bo@example.com"]))
        .expect("bo's e-mail");
    assert_eq!(to_bo["subject"], "Welcome, <script>x</script> & \"Co\"");
    assert_eq!(
        to_bo["text"],
        "Hello <script>x</script> & \"Co\", your plan is 3."
    );
    assert_eq!(
        to_bo["html"],
        "<p>Hello <b>&lt;script&gt;x&lt;/script&gt; &amp; &quot;Co&quot;</b>, your plan is 3.</p>"
    );
    assert_eq!(to_bo["tags"]["appId"], "shop");
    for id in &ids {
        let shown = status(&api, &server, id).await;
        assert_eq!(shown.body["status"], "sent", "{}", shown.body);
        let provider = shown.body["providerMessageId"]
            .as_str()
            .expect("provider id")
            .to_owned();
        assert!(
            mails.iter().any(|m| m["messageId"] == provider.as_str()),
            "{provider}"
        );
        assert_eq!(shown.body["channel"], "email");
        assert!(
            shown.body.get("html").is_none(),
            "bodies are not served back"
        );
    }
    let audit = api.audit("shop").await;
    let entry = audit
        .iter()
        .find(|e| e.action == "notify.send")
        .expect("audited");
    assert!(entry.actor.starts_with("key:"), "{}", entry.actor);
    assert!(entry.target.contains(&ids[0]) && entry.target.contains(&ids[1]));

    // Mistakes name their field and send nothing: a request off the document is a 400, one
    // whose message cannot be rendered for its channel a 422.
    for (bad, field, status) in [
        (
            json!({"channel": "email", "to": [{"email": "a@x.io"}], "template": "welcome", "variables": {"name": "a"}}),
            "variables.plan",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"channel": "email", "to": [{"email": "a@x.io"}], "template": "welcome", "message": {"subject": "s", "text": "t"}}),
            "template",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"channel": "email", "to": [{"phone": "+14155550100"}], "message": {"subject": "s", "text": "t"}}),
            "to[0]",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"channel": "email", "to": [], "message": {"subject": "s", "text": "t"}}),
            "to",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"channel": "pigeon", "to": [{"email": "a@x.io"}], "message": {"subject": "s", "text": "t"}}),
            "channel",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"channel": "email", "to": [{"email": "a@x.io"}], "message": {"text": "no subject"}}),
            "message.subject",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let reply = api.send(notify(&server, &bad)).await;
        assert_eq!(reply.status, status, "{bad}: {}", reply.body);
        assert_eq!(reply.body["error"]["field"], field, "{bad}");
    }
    api.send(Call::get("/notify/shop/0195f0c2-7a1b-7c3d-8e9f-0a1b2c3d4e5f").key(&server))
        .await
        .expect(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn only_a_notify_key_or_an_admin_sends() {
    let api = Api::start().await;
    let (app, server) = app_with_templates(&api).await;
    let message = json!({"channel": "email", "to": [{"email": "a@x.io"}], "message": {"subject": "s", "text": "t"}});
    // The frontend's key has no notify scope.
    let frontend = api
        .send(notify(&app.key, &message))
        .await
        .expect(StatusCode::FORBIDDEN);
    assert_eq!(frontend.code(), "forbidden");
    let user = api
        .register(&app, "u@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED)
        .str("/accessToken");
    api.send(notify(&server, &message).bearer(&user))
        .await
        .expect(StatusCode::FORBIDDEN);
    let admin = api
        .login(&app, "admin@example.com", PASSWORD)
        .await
        .expect(StatusCode::OK)
        .str("/accessToken");
    let by_admin = api
        .send(notify(&server, &message).bearer(&admin))
        .await
        .expect(StatusCode::ACCEPTED);
    let audit = api.audit("shop").await;
    assert!(
        audit
            .iter()
            .any(|e| e.action == "notify.send" && e.actor.starts_with("user:"))
    );
    // Another app's key never reaches this app's notifications.
    api.app("other").await;
    let other = api.key("other", &["notify"]).await.secret;
    api.send(notify(&other, &message))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    let id = by_admin.body["notifications"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    api.send(Call::get(&format!("/notify/shop/{id}")).key(&other))
        .await
        .expect(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_daily_quota_and_idempotency_keys_hold() {
    let mut settings = test_settings();
    settings.email_daily_quota = 3;
    settings.sms_enabled = true;
    settings.sms_daily_quota = 1;
    let api = Api::start_with(settings).await;
    verify_sender(&api).await;
    let worker = notify_support::worker(&api, LocalHub::default());
    let (_app, server) = app_with_templates(&api).await;
    let email = |to: &[&str]| {
        let to: Vec<Value> = to.iter().map(|a| json!({"email": a})).collect();
        json!({"channel": "email", "to": to, "message": {"subject": "Hi", "text": "Hello"}})
    };
    api.send(notify(&server, &email(&["a@x.io", "b@x.io"])))
        .await
        .expect(StatusCode::ACCEPTED);
    let over = api
        .send(notify(&server, &email(&["c@x.io", "d@x.io"])))
        .await
        .expect(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(over.code(), "quota_exceeded");
    let retry: u64 = over
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=86_400).contains(&retry));
    api.send(notify(&server, &email(&["c@x.io"])))
        .await
        .expect(StatusCode::ACCEPTED);
    api.send(notify(&server, &email(&["d@x.io"])))
        .await
        .expect(StatusCode::TOO_MANY_REQUESTS);

    // SMS has its own count; pushes count against nothing.
    let sms = json!({"channel": "sms", "to": [{"phone": "+14155550100"}], "message": {"text": "Code: 1234"}});
    let texted = api
        .send(notify(&server, &sms))
        .await
        .expect(StatusCode::ACCEPTED);
    api.send(notify(&server, &sms))
        .await
        .expect(StatusCode::TOO_MANY_REQUESTS);
    drain(&api, &worker).await;
    let texts: Vec<Value> = outbox(&api)
        .await
        .into_iter()
        .filter(|m| m["channel"] == "sms")
        .collect();
    assert_eq!(texts.len(), 1);
    assert_eq!(
        (texts[0]["to"].clone(), texts[0]["text"].clone()),
        (json!(["+14155550100"]), json!("Code: 1234"))
    );
    let id = texted.body["notifications"][0]["id"].as_str().expect("id");
    let shown = status(&api, &server, id).await;
    assert_eq!(shown.body["status"], "sent");
    assert_eq!(shown.body["providerMessageId"], texts[0]["messageId"]);
    assert_eq!(
        outbox(&api)
            .await
            .iter()
            .filter(|m| m["channel"] == "email")
            .count(),
        3
    );

    // The same Idempotency-Key and body: the same answer, nothing sent again.
    let mut settings = test_settings();
    settings.email_daily_quota = 10;
    let api = Api::start_with(settings).await;
    verify_sender(&api).await;
    let worker = notify_support::worker(&api, LocalHub::default());
    let (_app, server) = app_with_templates(&api).await;
    let keyed = |body: &Value, key: &str| notify(&server, body).header("Idempotency-Key", key);
    let body = json!({"channel": "email", "to": [{"email": "e@x.io"}], "message": {"text": "once", "subject": "Once"}});
    let first = api
        .send(keyed(&body, "order-42"))
        .await
        .expect(StatusCode::ACCEPTED);
    // The same request with its keys in another order is the same request.
    let reordered = json!({"message": {"subject": "Once", "text": "once"}, "to": [{"email": "e@x.io"}], "channel": "email"});
    let again = api
        .send(keyed(&reordered, "order-42"))
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let other = json!({"channel": "email", "to": [{"email": "f@x.io"}], "message": {"text": "x", "subject": "x"}});
    let reused = api
        .send(keyed(&other, "order-42"))
        .await
        .expect(StatusCode::CONFLICT);
    assert!(
        reused.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("different request")
    );
    api.send(keyed(&body, "bad key with spaces"))
        .await
        .expect(StatusCode::BAD_REQUEST);
    drain(&api, &worker).await;
    assert_eq!(
        outbox(&api).await.len(),
        1,
        "one e-mail for one idempotent request"
    );
    let quota =
        ob_core::notify::store::quota_used(&api.store, "shop", ob_core::notify::Channel::Email)
            .await
            .unwrap();
    assert_eq!(quota, 1, "a replay is not counted");
}

#[tokio::test]
async fn sms_is_refused_when_the_stage_has_it_off() {
    let api = Api::start().await;
    let (_app, server) = app_with_templates(&api).await;
    let sms =
        json!({"channel": "sms", "to": [{"phone": "+14155550100"}], "message": {"text": "x"}});
    let off = api
        .send(notify(&server, &sms))
        .await
        .expect(StatusCode::FORBIDDEN);
    assert!(
        off.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("SMS is off"),
        "{}",
        off.body
    );
    // A template the app does not have is not found (the request itself is well-formed).
    let unknown = json!({"channel": "email", "to": [{"email": "a@x.io"}], "template": "nope"});
    api.send(notify(&server, &unknown))
        .await
        .expect(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_push_reaches_the_users_open_connections() {
    let api = Api::start().await;
    let hub = LocalHub::default();
    let worker = notify_support::worker(&api, hub.clone());
    let (app, server) = app_with_templates(&api).await;
    let dee = api
        .register(&app, "dee@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED)
        .str("/user/userId");
    let eve = api
        .register(&app, "eve@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED)
        .str("/user/userId");
    let now = ob_core::clock::now_epoch();
    for (connection_id, user) in [("c-dee", &dee), ("c-eve", &eve)] {
        let connection = Connection {
            connection_id: connection_id.into(),
            app_id: "shop".into(),
            user_id: user.clone(),
            key_id: app.key_id.clone(),
            endpoint: None,
            role: Role::User,
            expires_at: now + 3600,
            token_expires_at: now + 900,
        };
        connections::open(&api.store, &connection, None)
            .await
            .expect("connection recorded");
    }
    let mut dee_socket = hub.register("c-dee");
    let mut eve_socket = hub.register("c-eve");
    let push = json!({"channel": "realtime", "to": [{"userId": dee}], "template": "welcome", "variables": {"name": "Dee", "plan": "pro"}});
    let sent = api
        .send(notify(&server, &push))
        .await
        .expect(StatusCode::ACCEPTED);
    let nobody = json!({"channel": "realtime", "to": [{"userId": "no-such-user"}], "message": {"text": "hello"}});
    let unreachable = api
        .send(notify(&server, &nobody))
        .await
        .expect(StatusCode::ACCEPTED);
    drain(&api, &worker).await;
    let received: Value =
        serde_json::from_str(&dee_socket.messages.try_recv().expect("dee got the push"))
            .expect("json");
    assert_eq!(received["type"], "notification");
    assert_eq!(received["subject"], "Welcome, Dee");
    assert_eq!(received["text"], "Hello Dee, your plan is pro.");
    assert!(
        eve_socket.messages.try_recv().is_err(),
        "only the addressed user's connections"
    );
    let id = sent.body["notifications"][0]["id"].as_str().expect("id");
    assert_eq!(status(&api, &server, id).await.body["status"], "sent");
    let id = unreachable.body["notifications"][0]["id"]
        .as_str()
        .expect("id");
    let failed = status(&api, &server, id).await;
    assert_eq!(failed.body["status"], "failed");
    assert!(
        failed.body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("no open WebSocket")
    );
}
