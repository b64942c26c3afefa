//! HTTP API, sessions: login throttling, refresh rotation and reuse detection, logout, disabled accounts.

#![allow(clippy::unwrap_used)]

use axum::http::StatusCode;
use ob_core::throttle::Policy;
use ob_tests::fixtures::{Api, Call, test_settings};
use serde_json::json;

const PASSWORD: &str = "correct horse battery";

fn strict_policy() -> Policy {
    Policy {
        per_account_client: 3,
        account_client_window_secs: 120,
        per_account: 6,
        account_window_secs: 600,
        registrations_per_client: 3,
        registration_window_secs: 600,
        ..Policy::default()
    }
}

#[tokio::test]
async fn a_guesser_locks_only_itself_until_the_account_ceiling() {
    let mut settings = test_settings();
    settings.login_throttle = strict_policy();
    let api = Api::start_with(settings).await;
    let app = api.app("shop").await;
    api.register(&app, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    let attempt = |email: &str, password: &str, ip: &str| {
        Call::post("/auth/login")
            .key(&app.key)
            .from_addr(ip)
            .json(&json!({"email": email, "password": password, "appId": "shop"}))
    };
    for _ in 0..3 {
        api.send(attempt("ann@example.com", "wrong password", "10.0.0.1"))
            .await
            .expect(StatusCode::UNAUTHORIZED);
    }
    // The guessing address is locked, even with the right password…
    let locked = api
        .send(attempt("ann@example.com", PASSWORD, "10.0.0.1"))
        .await
        .expect(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(locked.code(), "too_many_requests");
    let retry_after: u64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=120).contains(&retry_after), "{retry_after}");
    // …but the owner, from their own address, is not.
    api.send(attempt("ann@example.com", PASSWORD, "10.0.0.2"))
        .await
        .expect(StatusCode::OK);
    // Refused attempts cost the account nothing: 3 failures so far. Three
    // more from fresh addresses reach the slower ceiling across addresses.
    for i in 0..3 {
        api.send(attempt(
            "ann@example.com",
            "wrong password",
            &format!("10.0.1.{i}"),
        ))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    }
    api.send(attempt("ann@example.com", PASSWORD, "10.0.2.1"))
        .await
        .expect(StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_parallel_burst_gets_no_more_guesses_than_the_limit() {
    let mut settings = test_settings();
    settings.login_throttle = strict_policy();
    let api = Api::start_with(settings).await;
    let app = api.app("shop").await;
    api.register(&app, "bob@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    let burst = (0..24).map(|_| {
        api.send(
            Call::post("/auth/login")
                .key(&app.key)
                .from_addr("10.0.0.9")
                .json(&json!({"email": "bob@example.com", "password": "wrong password", "appId": "shop"})),
        )
    });
    let replies = futures::future::join_all(burst).await;
    let guessed = replies
        .iter()
        .filter(|r| r.status == StatusCode::UNAUTHORIZED)
        .count();
    let refused = replies
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((guessed, refused), (3, 21), "only the limit reaches bcrypt");
}

#[tokio::test]
async fn registrations_are_limited_per_client_address() {
    let mut settings = test_settings();
    settings.login_throttle = strict_policy();
    let api = Api::start_with(settings).await;
    let app = api.app("shop").await;
    let register = |i: usize, ip: &str| {
        Call::post("/auth/register")
            .key(&app.key)
            .from_addr(ip)
            .json(&json!({"email": format!("u{i}@example.com"), "password": PASSWORD, "appId": "shop"}))
    };
    for i in 0..3 {
        api.send(register(i, "10.0.0.5"))
            .await
            .expect(StatusCode::CREATED);
    }
    let refused = api
        .send(register(3, "10.0.0.5"))
        .await
        .expect(StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.header("retry-after").is_some());
    api.send(register(4, "10.0.0.6"))
        .await
        .expect(StatusCode::CREATED);
}

#[tokio::test]
async fn successful_login_resets_the_account_counter() {
    let mut settings = test_settings();
    settings.login_throttle.per_account_client = 3;
    let api = Api::start_with(settings).await;
    let app = api.app("shop").await;
    api.register(&app, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    for _ in 0..2 {
        api.login(&app, "ann@example.com", "wrong password")
            .await
            .expect(StatusCode::UNAUTHORIZED);
    }
    api.login(&app, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::OK);
    for _ in 0..2 {
        api.login(&app, "ann@example.com", "wrong password")
            .await
            .expect(StatusCode::UNAUTHORIZED);
    }
    api.login(&app, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let api = Api::start().await;
    let app = api.app("shop").await;
    let first = api
        .register(&app, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    let r1 = first.str("/refreshToken");
    let second = api.refresh(&app, &r1).await.expect(StatusCode::OK);
    let r2 = second.str("/refreshToken");
    assert_ne!(r1, r2);
    assert_eq!(second.str("/user/email"), "ann@example.com");
    api.send(
        Call::get("/auth/me")
            .key(&app.key)
            .bearer(&second.str("/accessToken")),
    )
    .await
    .expect(StatusCode::OK);

    // A second login is a separate family, unaffected by what follows.
    let other = api
        .login(&app, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::OK);

    // Within the grace window r1 still answers with its successor r2…
    let again = api.refresh(&app, &r1).await.expect(StatusCode::OK);
    assert_eq!(again.str("/refreshToken"), r2);
    // …but once r2 was used, r1 is reuse: it revokes the family, r3 included.
    let third = api.refresh(&app, &r2).await.expect(StatusCode::OK);
    let r3 = third.str("/refreshToken");
    api.refresh(&app, &r1)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    api.refresh(&app, &r3)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    api.refresh(&app, &other.str("/refreshToken"))
        .await
        .expect(StatusCode::OK);

    let actions: Vec<_> = api
        .audit("shop")
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(
        actions.contains(&"auth.refresh.reuse".to_owned()),
        "{actions:?}"
    );
    assert!(actions.contains(&"auth.refresh".to_owned()), "{actions:?}");

    api.refresh(&app, "made-up-token")
        .await
        .expect(StatusCode::UNAUTHORIZED);
    let missing = api
        .send(Call::post("/auth/refresh").key(&app.key).json(&json!({})))
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert_eq!(missing.body["error"]["field"], "refreshToken");
}

#[tokio::test]
async fn two_tabs_refreshing_at_once_keep_the_session() {
    let api = Api::start().await;
    let app = api.app("shop").await;
    let first = api
        .register(&app, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    let mut token = first.str("/refreshToken");
    for round in 0..3 {
        let tabs = (0..4).map(|_| api.refresh(&app, &token));
        let replies = futures::future::join_all(tabs).await;
        let pairs: std::collections::BTreeSet<_> = replies
            .iter()
            .map(|r| {
                assert_eq!(r.status, StatusCode::OK, "round {round}: {}", r.body);
                (r.str("/refreshToken"), r.str("/accessToken"))
            })
            .collect();
        // The same access token too: a tab that was answered from the grace
        // holds exactly what the one that rotated holds.
        assert_eq!(pairs.len(), 1, "every tab gets the same pair: {pairs:?}");
        // The session goes on with it.
        token = pairs.into_iter().next().unwrap().0;
    }
    api.refresh(&app, &token).await.expect(StatusCode::OK);
}

#[tokio::test]
async fn sessions_end_at_their_absolute_lifetime() {
    let mut settings = test_settings();
    settings.session_max_secs = 3;
    let api = Api::start_with(settings).await;
    let app = api.app("shop").await;
    let first = api
        .register(&app, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    let second = api
        .refresh(&app, &first.str("/refreshToken"))
        .await
        .expect(StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    // The refresh token would live 30 days; the session ended after 3 s.
    api.refresh(&app, &second.str("/refreshToken"))
        .await
        .expect(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_revokes_the_session() {
    let api = Api::start().await;
    let app = api.app("shop").await;
    let session = api
        .register(&app, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    let token = session.str("/refreshToken");
    let logout = |token: &str| {
        Call::post("/auth/logout")
            .key(&app.key)
            .json(&json!({ "refreshToken": token }))
    };
    let reply = api
        .send(logout(&token))
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(reply.body, serde_json::Value::Null);
    api.refresh(&app, &token)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    api.send(logout("unknown-token"))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    let actions: Vec<_> = api
        .audit("shop")
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(actions.contains(&"auth.logout".to_owned()), "{actions:?}");
}

#[tokio::test]
async fn disabled_users_cannot_log_in_refresh_or_read_me() {
    let api = Api::start().await;
    let app = api.app("shop").await;
    let session = api
        .register(&app, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    let user_id = session.str("/user/userId");
    ob_core::users::set_disabled(&api.store, "shop", &user_id, true)
        .await
        .unwrap();
    api.login(&app, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    api.refresh(&app, &session.str("/refreshToken"))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    api.send(
        Call::get("/auth/me")
            .key(&app.key)
            .bearer(&session.str("/accessToken")),
    )
    .await
    .expect(StatusCode::UNAUTHORIZED);
}
