//! HTTP API, per-app config: read with a key, replace as admin, versioned with If-Match, audited; CORS from it.

#![allow(clippy::unwrap_used)]

use axum::http::{Method, StatusCode};
use ob_core::users::{self, Role};
use ob_tests::fixtures::{Api, Call, STAGE_ORIGIN, TestApp};
use serde_json::{Value, json};

pub(crate) const PASSWORD: &str = "correct horse battery";

/// An app with a user (admin if asked); returns the app and the user's access token.
pub(crate) async fn app_with_user(api: &Api, admin: bool) -> (TestApp, String) {
    let app = api.app("shop").await;
    let reply = api
        .register(&app, "ann@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    if !admin {
        return (app, reply.str("/accessToken"));
    }
    users::set_role(&api.store, "shop", &reply.str("/user/userId"), Role::Admin)
        .await
        .unwrap();
    let login = api
        .send(Call::post("/auth/login").key(&app.key).json(&json!({
            "email": "ann@example.com", "password": PASSWORD, "appId": "shop"
        })))
        .await
        .expect(StatusCode::OK);
    (app, login.str("/accessToken"))
}

fn full_config() -> Value {
    json!({
        "featureFlags": {"search": true, "beta.checkout": false},
        "allowedOrigins": ["https://shop.example"],
        "indexedFields": {"orders": ["customerId", "status"]},
        "uploads": {"maxBytes": 1048576, "allowedMimeTypes": ["image/*"]}
    })
}

#[tokio::test]
async fn config_defaults_then_versioned_replacement() {
    let api = Api::start().await;
    let (app, admin) = app_with_user(&api, true).await;
    let get = || Call::get("/config/shop").key(&app.key);
    let initial = api.send(get()).await.expect(StatusCode::OK);
    assert_eq!(initial.body["version"], 0);
    assert_eq!(initial.header("etag"), Some("\"0\""));
    assert_eq!(initial.body["uploads"]["maxBytes"], 10 * 1024 * 1024);

    let put = |if_match: Option<&str>, body: &Value| {
        let call = Call::put("/config/shop")
            .key(&app.key)
            .bearer(&admin)
            .json(body);
        match if_match {
            Some(v) => call.header("if-match", v),
            None => call,
        }
    };
    let v1 = api
        .send(put(Some("\"0\""), &full_config()))
        .await
        .expect(StatusCode::OK);
    assert_eq!(v1.body["version"], 1);
    assert_eq!(v1.header("etag"), Some("\"1\""));
    let read = api.send(get()).await.expect(StatusCode::OK);
    assert_eq!(read.body["featureFlags"], full_config()["featureFlags"]);
    assert_eq!(
        read.body["indexedFields"]["orders"],
        json!(["customerId", "status"])
    );
    assert_eq!(read.body["uploads"]["allowedMimeTypes"], json!(["image/*"]));

    // Replacement: fields left out return to their defaults.
    let v2 = api
        .send(put(
            Some("\"1\""),
            &json!({"featureFlags": {"search": false}}),
        ))
        .await
        .expect(StatusCode::OK);
    assert_eq!(v2.body["version"], 2);
    assert_eq!(v2.body["allowedOrigins"], json!([]));

    // A stale version is refused with the current one.
    let stale = api
        .send(put(Some("\"1\""), &full_config()))
        .await
        .expect(StatusCode::PRECONDITION_FAILED);
    assert_eq!(stale.code(), "precondition_failed");
    assert_eq!(stale.body["error"]["currentVersion"], 2);
    assert_eq!(api.send(get()).await.body["version"], 2);
    // "0" means "only if none exists yet".
    api.send(put(Some("\"0\""), &full_config()))
        .await
        .expect(StatusCode::PRECONDITION_FAILED);
    // Without If-Match the replacement is unconditional.
    let v3 = api
        .send(put(None, &full_config()))
        .await
        .expect(StatusCode::OK);
    assert_eq!(v3.body["version"], 3);
    let bad_match = api
        .send(put(Some("yesterday"), &full_config()))
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert_eq!(bad_match.body["error"]["field"], "If-Match");

    let updates: Vec<_> = api
        .audit("shop")
        .await
        .into_iter()
        .filter(|e| e.action == "config.update")
        .collect();
    assert_eq!(updates.len(), 3);
    // Newest first; each entry names the fields that changed.
    assert_eq!(updates[0].target, "config:v3");
    assert_eq!(updates[2].target, "config:v1");
    for update in &updates {
        assert_eq!(
            update.changed_fields,
            ["featureFlags", "allowedOrigins", "indexedFields", "uploads"]
        );
    }
    assert!(updates.iter().all(|e| e.actor.starts_with("user:")));
}

#[tokio::test]
async fn invalid_configs_name_the_field() {
    let api = Api::start().await;
    let (app, admin) = app_with_user(&api, true).await;
    let cases = [
        (
            json!({"allowedOrigins": ["https://ok.example", "https://bad.example/path"]}),
            "allowedOrigins[1]",
        ),
        (
            json!({"indexedFields": {"orders": ["status", "status"]}}),
            "indexedFields.orders[1]",
        ),
        (json!({"uploads": {"maxBytes": 0}}), "uploads.maxBytes"),
        (json!({"featureFlags": {"x": "yes"}}), "featureFlags.x"),
        (json!({"colour": "blue"}), "colour"),
    ];
    for (body, field) in cases {
        let reply = api
            .send(
                Call::put("/config/shop")
                    .key(&app.key)
                    .bearer(&admin)
                    .json(&body),
            )
            .await
            .expect(StatusCode::BAD_REQUEST);
        assert_eq!(reply.body["error"]["field"], field, "{body}");
    }
    assert_eq!(
        api.send(Call::get("/config/shop").key(&app.key)).await.body["version"],
        0
    );
}

#[tokio::test]
async fn only_admins_with_a_scoped_key_touch_config() {
    let api = Api::start().await;
    let (app, user) = app_with_user(&api, false).await;
    let reply = api
        .send(
            Call::put("/config/shop")
                .key(&app.key)
                .bearer(&user)
                .json(&full_config()),
        )
        .await
        .expect(StatusCode::FORBIDDEN);
    assert_eq!(reply.code(), "forbidden");
    api.send(Call::put("/config/shop").key(&app.key).json(&full_config()))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    api.send(Call::get("/config/shop"))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    let auth_only = api.key("shop", &["auth"]).await;
    api.send(Call::get("/config/shop").key(&auth_only.secret))
        .await
        .expect(StatusCode::FORBIDDEN);
    api.send(Call::get("/config/other-app").key(&app.key))
        .await
        .expect(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn cors_allows_stage_and_app_origins_only() {
    let api = Api::start().await;
    let (app, admin) = app_with_user(&api, true).await;
    api.send(
        Call::put("/config/shop")
            .key(&app.key)
            .bearer(&admin)
            .json(&full_config()),
    )
    .await
    .expect(StatusCode::OK);
    // The PUT dropped this process's cached origins of the app, so they apply at once.
    let get = |origin: &str| {
        Call::get("/config/shop")
            .key(&app.key)
            .header("origin", origin)
    };
    for origin in [STAGE_ORIGIN, "https://shop.example"] {
        let reply = api.send(get(origin)).await.expect(StatusCode::OK);
        assert_eq!(reply.header("access-control-allow-origin"), Some(origin));
        assert!(
            reply
                .header("access-control-expose-headers")
                .unwrap()
                .contains("etag")
        );
    }
    let foreign = api
        .send(get("https://evil.example"))
        .await
        .expect(StatusCode::FORBIDDEN);
    assert_eq!(foreign.header("access-control-allow-origin"), None);

    // An app's origin is not valid for another app's requests.
    let other = api.app("other").await;
    api.send(
        Call::get("/config/other")
            .key(&other.key)
            .header("origin", "https://shop.example"),
    )
    .await
    .expect(StatusCode::FORBIDDEN);

    let preflight = |origin: &str| {
        Call::new(Method::OPTIONS, "/config/shop")
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "x-api-key")
    };
    let ok = api
        .send(preflight("https://shop.example"))
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://shop.example")
    );
    assert!(
        ok.header("access-control-allow-headers")
            .unwrap()
            .contains("x-api-key")
    );
    // A preflight carries no key, so it reads nothing and answers any
    // well-formed origin; the actual request from a foreign origin is refused
    // (403 above) before any handler runs.
    api.calls.take();
    let any = api
        .send(preflight("https://evil.example"))
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(
        any.header("access-control-allow-origin"),
        Some("https://evil.example")
    );
    let random_app = api
        .send(
            Call::new(Method::OPTIONS, "/api/no-such-app-4711/notes")
                .header("origin", "https://shop.example")
                .header("access-control-request-method", "POST"),
        )
        .await
        .expect(StatusCode::NO_CONTENT);
    assert!(random_app.header("access-control-allow-origin").is_some());
    assert_eq!(
        api.calls.take(),
        Vec::<String>::new(),
        "preflights read nothing"
    );
    for (path, origin) in [
        ("/config/Bad%20App", "https://shop.example"),
        ("/config/shop", "not an origin"),
    ] {
        let denied = api
            .send(
                Call::new(Method::OPTIONS, path)
                    .header("origin", origin)
                    .header("access-control-request-method", "GET"),
            )
            .await
            .expect(StatusCode::NO_CONTENT);
        assert_eq!(denied.header("access-control-allow-origin"), None, "{path}");
    }

    // Without an app, only the stage's origins get CORS headers.
    let health = api
        .send(Call::get("/health").header("origin", "https://shop.example"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(health.header("access-control-allow-origin"), None);
    let health = api
        .send(Call::get("/health").header("origin", STAGE_ORIGIN))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        health.header("access-control-allow-origin"),
        Some(STAGE_ORIGIN)
    );
}
