//! E-mail verification end to end: the link, `emailVerified` on the user and in access tokens, and an app that requires a verified address to sign in or to write data.

#![allow(clippy::unwrap_used)]

use axum::http::StatusCode;
use ob_tests::fixtures::{Api, Call, TestApp};
use obctl::live::LocalHub;
use serde_json::json;

use crate::notify_support::{self, VERIFY_PAGE, drain, link_token, mail_to, verify_sender};

const PASSWORD: &str = "correct horse battery";

fn confirm(app: &TestApp, token: &str) -> Call {
    Call::post("/auth/verify-email/confirm")
        .key(&app.key)
        .json(&json!({"token": token}))
}

#[tokio::test]
async fn a_signed_in_user_verifies_their_address() {
    let api = Api::start().await;
    verify_sender(&api).await;
    let worker = notify_support::worker(&api, LocalHub::default());
    let app = api.app("shop").await;
    let ann = api
        .register(&app, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(ann.body["user"]["emailVerified"], false);
    let token = ann.str("/accessToken");

    let asked = api
        .send(
            Call::post("/auth/verify-email/request")
                .key(&app.key)
                .bearer(&token),
        )
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(asked.body["status"], "accepted");
    drain(&api, &worker).await;
    let mails = mail_to(&api, "ann@example.com").await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0]["subject"], "Confirm your e-mail address for shop");
    let link = link_token(&mails[0], VERIFY_PAGE);

    api.send(confirm(&app, &link))
        .await
        .expect(StatusCode::NO_CONTENT);
    let used = api
        .send(confirm(&app, &link))
        .await
        .expect(StatusCode::FORBIDDEN);
    assert_eq!(used.body["error"]["code"], "forbidden", "a used link");
    let me = api
        .send(Call::get("/auth/me").key(&app.key).bearer(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(me.body["user"]["emailVerified"], true);

    // Asking again for a verified address sends nothing.
    api.send(
        Call::post("/auth/verify-email/request")
            .key(&app.key)
            .bearer(&token),
    )
    .await
    .expect(StatusCode::ACCEPTED);
    drain(&api, &worker).await;
    assert_eq!(mail_to(&api, "ann@example.com").await.len(), 1);

    // Without a bearer token the address is named; an unknown one gets the same answer.
    let anonymous = |email: &str| {
        Call::post("/auth/verify-email/request")
            .key(&app.key)
            .json(&json!({"email": email, "appId": "shop"}))
    };
    let unknown = api
        .send(anonymous("nobody@example.com"))
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(unknown.body, asked.body);
    let missing = api
        .send(
            Call::post("/auth/verify-email/request")
                .key(&app.key)
                .json(&json!({})),
        )
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert_eq!(missing.body["error"]["field"], "email");
    drain(&api, &worker).await;
    assert!(mail_to(&api, "nobody@example.com").await.is_empty());
}

#[tokio::test]
async fn an_app_can_require_a_verified_address_to_sign_in_and_to_write() {
    let api = Api::start().await;
    verify_sender(&api).await;
    let worker = notify_support::worker(&api, LocalHub::default());
    let app = api.app("shop").await;
    let admin = api
        .register(&app, "admin@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    let admin_id = admin.str("/user/userId");
    ob_core::users::set_role(&api.store, "shop", &admin_id, ob_core::users::Role::Admin)
        .await
        .unwrap();
    let admin_token = api
        .login(&app, "admin@example.com", PASSWORD)
        .await
        .expect(StatusCode::OK)
        .str("/accessToken");
    let writer = api
        .register(&app, "wes@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    let writer_token = writer.str("/accessToken");

    api.send(
        Call::new(axum::http::Method::PATCH, "/config/shop")
            .key(&app.key)
            .bearer(&admin_token)
            .json(&json!({"auth": {"requireVerifiedEmail": {"signIn": true, "dataWrite": true}}})),
    )
    .await
    .expect(StatusCode::OK);

    // Writing needs a verified address (the token says so).
    let note = || {
        Call::post("/api/shop/notes")
            .key(&app.key)
            .bearer(&writer_token)
            .json(&json!({"data": {"text": "hi"}}))
    };
    let refused = api.send(note()).await.expect(StatusCode::FORBIDDEN);
    assert_eq!(refused.code(), "email_not_verified");
    api.send(
        Call::get("/api/shop/notes")
            .key(&app.key)
            .bearer(&writer_token),
    )
    .await
    .expect(StatusCode::OK);

    // Registering sends the link instead of signing in; signing in waits for it.
    let new = api
        .register(&app, "nia@example.com", PASSWORD)
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(new.body["emailVerificationRequired"], true);
    assert!(new.body.get("accessToken").is_none(), "{}", new.body);
    let blocked = api
        .login(&app, "nia@example.com", PASSWORD)
        .await
        .expect(StatusCode::FORBIDDEN);
    assert_eq!(blocked.code(), "email_not_verified");
    let wrong_password = api.login(&app, "nia@example.com", "wrong password!").await;
    assert_eq!(
        wrong_password.status,
        StatusCode::UNAUTHORIZED,
        "the password is checked first"
    );

    drain(&api, &worker).await;
    let mails = mail_to(&api, "nia@example.com").await;
    assert_eq!(mails.len(), 1, "the registration sent the link: {mails:?}");
    api.send(confirm(&app, &link_token(&mails[0], VERIFY_PAGE)))
        .await
        .expect(StatusCode::NO_CONTENT);
    let signed_in = api
        .login(&app, "nia@example.com", PASSWORD)
        .await
        .expect(StatusCode::OK);
    assert_eq!(signed_in.body["user"]["emailVerified"], true);
    let nia_token = signed_in.str("/accessToken");
    api.send(
        Call::post("/api/shop/notes")
            .key(&app.key)
            .bearer(&nia_token)
            .json(&json!({"data": {"text": "verified"}})),
    )
    .await
    .expect(StatusCode::CREATED);

    // The unverified writer's refresh is refused too.
    let refresh = api.refresh(&app, &writer.str("/refreshToken")).await;
    assert_eq!(refresh.status, StatusCode::FORBIDDEN, "{}", refresh.body);
}
