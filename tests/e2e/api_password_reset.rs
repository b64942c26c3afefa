//! Password reset end to end on the emulator: the request path only enqueues, the worker sends the link, the link works once, and the old password and sessions stop working.

#![allow(clippy::unwrap_used)]

use axum::http::StatusCode;
use ob_core::auth_tokens::{self, Owner, Purpose};
use ob_tests::fixtures::{Api, Call, test_settings};
use obctl::live::LocalHub;
use serde_json::json;

use crate::notify_support::{self, RESET_PAGE, drain, link_token, outbox, verify_sender};

const OLD: &str = "correct horse battery";
const NEW: &str = "staple battery horse";

async fn ask_reset(
    api: &Api,
    key: &str,
    app: &str,
    email: &str,
    from: &str,
) -> ob_tests::fixtures::Reply {
    api.send(
        Call::post("/auth/password-reset")
            .key(key)
            .from_addr(from)
            .json(&json!({"email": email, "appId": app})),
    )
    .await
}

#[tokio::test]
async fn a_reset_link_works_once_and_ends_every_session() {
    let api = Api::start().await;
    verify_sender(&api).await;
    let worker = notify_support::worker(&api, LocalHub::default());
    let app = api.app("shop").await;
    let registered = api
        .register(&app, "ann@example.com", OLD)
        .await
        .expect(StatusCode::CREATED);
    let old_refresh = registered.str("/refreshToken");
    let user_id = registered.str("/user/userId");

    // Known and unknown addresses get the same answer, and the request path
    // only counts the request and enqueues it (no SES, no user lookup).
    ask_reset(&api, &app.key, "shop", "warm@example.com", "10.0.0.9")
        .await
        .expect(StatusCode::ACCEPTED);
    api.calls.take();
    let known = ask_reset(&api, &app.key, "shop", "Ann@Example.com", "10.0.0.1").await;
    let mut known_calls = api.calls.take();
    let unknown = ask_reset(&api, &app.key, "shop", "nobody@example.com", "10.0.0.1").await;
    let mut unknown_calls = api.calls.take();
    assert_eq!(known.status, StatusCode::ACCEPTED, "{}", known.body);
    assert_eq!((unknown.status, &unknown.body), (known.status, &known.body));
    // The request path: the API key's lookup, the two limit counters (one
    // parallel round trip; the request-limit sync may add one or two more
    // UpdateItems in the background), one SendMessage; never a read of the
    // address, so known and unknown addresses cost the same.
    for calls in [&known_calls, &unknown_calls] {
        let updates = calls.iter().filter(|c| *c == "UpdateItem").count();
        assert!((2..=4).contains(&updates), "{calls:?}");
    }
    for calls in [&mut known_calls, &mut unknown_calls] {
        calls.retain(|c| c != "UpdateItem");
        calls.sort();
    }
    assert_eq!(known_calls, ["Query", "SendMessage"]);
    assert_eq!(
        known_calls, unknown_calls,
        "the request path never looks the address up"
    );
    assert!(
        outbox(&api).await.is_empty(),
        "nothing is sent on the request path"
    );

    let report = drain(&api, &worker).await;
    assert_eq!((report.received, report.deleted), (3, 3));
    let mails = outbox(&api).await;
    assert_eq!(mails.len(), 1, "no mail for the unknown address: {mails:?}");
    let mail = &mails[0];
    assert_eq!(mail["to"], json!(["ann@example.com"]));
    assert_eq!(
        mail["from"],
        format!("\"Test Stage\" <{}>", notify_support::SENDER)
    );
    assert_eq!(mail["subject"], "Reset your shop password");
    assert_eq!(mail["tags"]["appId"], "shop");
    let token = link_token(mail, RESET_PAGE);
    assert!(
        mail["html"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("{RESET_PAGE}?token={token}"))
    );

    // Only the hash is stored.
    let stored = api
        .store
        .client
        .get_item()
        .table_name(&api.store.tables.sessions)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!(
                "OT#{}",
                ob_core::secret::sha256_hex(&token)
            )),
        )
        .send()
        .await
        .expect("read");
    let item = stored.item.expect("the token's hash is the key");
    assert!(
        !format!("{item:?}").contains(&token),
        "the token itself is never stored"
    );

    let confirm = |token: String, password: &str| {
        Call::post("/auth/password-reset/confirm")
            .key(&app.key)
            .json(&json!({"token": token, "password": password}))
    };
    let too_short = api
        .send(confirm(token.clone(), "short"))
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert_eq!(too_short.body["error"]["field"], "password");
    api.send(confirm(token.clone(), NEW))
        .await
        .expect(StatusCode::NO_CONTENT);
    let again = api
        .send(confirm(token.clone(), "another password"))
        .await
        .expect(StatusCode::FORBIDDEN);
    assert_eq!(
        again.body["error"]["code"], "forbidden",
        "a link works once"
    );

    api.login(&app, "ann@example.com", OLD)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    let signed_in = api
        .login(&app, "ann@example.com", NEW)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        signed_in.body["user"]["emailVerified"], true,
        "a completed reset proves the address"
    );
    api.refresh(&app, &old_refresh)
        .await
        .expect(StatusCode::UNAUTHORIZED);

    let audit = api.audit("shop").await;
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"auth.password_reset.email"),
        "{actions:?}"
    );
    assert!(actions.contains(&"auth.password_reset"), "{actions:?}");
    assert!(
        audit
            .iter()
            .any(|e| e.action == "auth.password_reset" && e.target == format!("user:{user_id}"))
    );
}

#[tokio::test]
async fn tokens_are_bound_to_their_purpose_app_and_lifetime() {
    let api = Api::start().await;
    let app = api.app("shop").await;
    api.app("other").await;
    let user = api
        .register(&app, "bo@example.com", OLD)
        .await
        .expect(StatusCode::CREATED);
    let owner = Owner {
        user_id: user.str("/user/userId"),
        email: "bo@example.com".into(),
    };
    let store = &api.store;
    let expired = auth_tokens::issue(store, Purpose::PasswordReset, "shop", &owner, -1)
        .await
        .unwrap();
    let verification = auth_tokens::issue(store, Purpose::EmailVerification, "shop", &owner, 600)
        .await
        .unwrap();
    let good = auth_tokens::issue(store, Purpose::PasswordReset, "shop", &owner, 600)
        .await
        .unwrap();
    for (token, why) in [
        (expired.token, "expired"),
        (verification.token, "a verification token"),
        ("not-a-token".to_owned(), "unknown"),
    ] {
        let reply = api
            .send(
                Call::post("/auth/password-reset/confirm")
                    .key(&app.key)
                    .json(&json!({"token": token, "password": NEW})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{why}: {}", reply.body);
        assert_eq!(reply.body["error"]["code"], "forbidden", "{why}");
    }
    let other_key = api.key("other", &["auth"]).await.secret;
    let reply = api
        .send(
            Call::post("/auth/password-reset/confirm")
                .key(&other_key)
                .json(&json!({"token": good.token, "password": NEW})),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::FORBIDDEN,
        "another app's key: {}",
        reply.body
    );
    api.send(
        Call::post("/auth/password-reset/confirm")
            .key(&app.key)
            .json(&json!({"token": good.token, "password": NEW})),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn reset_requests_are_limited_per_address_and_per_client() {
    let mut settings = test_settings();
    settings.login_throttle.account_emails_per_address = 2;
    settings.login_throttle.account_emails_per_client = 3;
    let api = Api::start_with(settings).await;
    let app = api.app("shop").await;
    for _ in 0..2 {
        ask_reset(&api, &app.key, "shop", "cy@example.com", "10.0.0.1")
            .await
            .expect(StatusCode::ACCEPTED);
    }
    let limited = ask_reset(&api, &app.key, "shop", "CY@example.com", "10.0.0.2").await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    assert!(limited.header("retry-after").is_some());
    // The same client may ask for another address until its own limit.
    ask_reset(&api, &app.key, "shop", "dee@example.com", "10.0.0.1")
        .await
        .expect(StatusCode::ACCEPTED);
    ask_reset(&api, &app.key, "shop", "eve@example.com", "10.0.0.1")
        .await
        .expect(StatusCode::TOO_MANY_REQUESTS);
    let bad = ask_reset(&api, &app.key, "shop", "not an address", "10.0.0.3")
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["error"]["field"], "email");
    let wrong_app = ask_reset(&api, &app.key, "elsewhere", "cy@example.com", "10.0.0.3").await;
    assert_eq!(wrong_app.status, StatusCode::UNAUTHORIZED);
}
