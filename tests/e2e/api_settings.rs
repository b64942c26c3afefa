//! HTTP API, the app's own settings in its config: served to signed-in users only, written by admins with PUT or a merge PATCH, versioned and audited.

#![allow(clippy::unwrap_used)]

use axum::http::{Method, StatusCode};
use ob_tests::fixtures::{Api, Call};
use serde_json::{Value, json};

use crate::api_config::{PASSWORD, app_with_user};

fn patch(key: &str, token: &str, body: &Value) -> Call {
    Call::new(Method::PATCH, "/config/shop")
        .key(key)
        .bearer(token)
        .raw(
            "application/merge-patch+json",
            body.to_string().into_bytes(),
        )
}

#[tokio::test]
async fn settings_are_served_to_signed_in_users_only() {
    let api = Api::start().await;
    let (app, admin) = app_with_user(&api, true).await;
    let user = api
        .register(&app, "bob@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED)
        .str("/accessToken");
    let settings =
        json!({"theme": "dark", "home": {"hero": "Spring sale", "slots": [1, 2.5, null]}});
    let written = api
        .send(patch(&app.key, &admin, &json!({"settings": settings})))
        .await
        .expect(StatusCode::OK);
    assert_eq!(written.body["version"], 1);
    assert_eq!(written.body["settings"], settings);

    // The API key is public in a browser: with it alone, the settings stay hidden.
    let public = api
        .send(Call::get("/config/shop").key(&app.key))
        .await
        .expect(StatusCode::OK);
    assert_eq!(public.body["version"], 1);
    assert!(public.body.get("settings").is_none(), "{}", public.body);
    assert_eq!(public.header("etag"), Some("\"1\""));

    let signed_in = api
        .send(Call::get("/config/shop").key(&app.key).bearer(&user))
        .await
        .expect(StatusCode::OK);
    assert_eq!(signed_in.body["settings"], settings);

    // A token that is present but invalid is refused, not ignored.
    let stale = api
        .send(
            Call::get("/config/shop")
                .key(&app.key)
                .bearer("not-a-token"),
        )
        .await
        .expect(StatusCode::UNAUTHORIZED);
    assert_eq!(stale.code(), "unauthorized");
    // Another app's user reads nothing of this app.
    let other = api.app("other").await;
    let stranger = api
        .register(&other, "eve@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED)
        .str("/accessToken");
    api.send(Call::get("/config/shop").key(&app.key).bearer(&stranger))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    // Users read settings; only admins write them.
    api.send(patch(
        &app.key,
        &user,
        &json!({"settings": {"theme": "light"}}),
    ))
    .await
    .expect(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn settings_are_patched_and_replaced_with_versions() {
    let api = Api::start().await;
    let (app, admin) = app_with_user(&api, true).await;
    let put = |body: &Value| {
        Call::put("/config/shop")
            .key(&app.key)
            .bearer(&admin)
            .json(body)
    };
    api.send(put(&json!({
        "featureFlags": {"search": true},
        "settings": {"theme": "dark", "lang": "en"}
    })))
    .await
    .expect(StatusCode::OK);

    // A merge patch changes what it names and keeps the rest.
    let v2 = api
        .send(
            patch(
                &app.key,
                &admin,
                &json!({"settings": {"theme": null, "currency": "EUR"}}),
            )
            .header("if-match", "\"1\""),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(v2.body["version"], 2);
    assert_eq!(
        v2.body["settings"],
        json!({"lang": "en", "currency": "EUR"})
    );
    assert_eq!(v2.body["featureFlags"], json!({"search": true}));
    let stale = api
        .send(
            patch(&app.key, &admin, &json!({"settings": {"lang": "de"}}))
                .header("if-match", "\"1\""),
        )
        .await
        .expect(StatusCode::PRECONDITION_FAILED);
    assert_eq!(stale.body["error"]["currentVersion"], 2);

    // App values at the top level are refused, pointing at settings.<key>.
    for call in [
        put(&json!({"theme": "dark"})),
        patch(&app.key, &admin, &json!({"theme": "dark"})),
    ] {
        let refused = api.send(call).await.expect(StatusCode::BAD_REQUEST);
        assert_eq!(refused.body["error"]["field"], "theme");
        let message = refused.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("settings.theme"), "{message}");
    }
    let too_big = json!({"settings": {"blob": "x".repeat(ob_core::config::MAX_SETTINGS_BYTES)}});
    let refused = api
        .send(patch(&app.key, &admin, &too_big))
        .await
        .expect(StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("settings")
    );

    // PUT replaces everything: settings left out are emptied.
    let v3 = api
        .send(put(&json!({"featureFlags": {"search": true}})))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (v3.body["version"].as_u64(), &v3.body["settings"]),
        (Some(3), &json!({}))
    );

    let updates: Vec<_> = api
        .audit("shop")
        .await
        .into_iter()
        .filter(|e| e.action == "config.update")
        .map(|e| (e.target, e.changed_fields))
        .collect();
    let names = |fields: &[&str]| fields.iter().map(|f| (*f).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        updates,
        [
            (
                "config:v3".to_owned(),
                names(&["settings.currency", "settings.lang"])
            ),
            (
                "config:v2".to_owned(),
                names(&["settings.currency", "settings.theme"])
            ),
            (
                "config:v1".to_owned(),
                names(&["featureFlags", "settings.lang", "settings.theme"])
            ),
        ]
    );
}
