//! Access ends when it is taken away: writes of a disabled user, a demoted admin, a revoked key or a suspended or deleted app are refused at once, whatever the instance has cached.

#![allow(clippy::unwrap_used)]

use axum::http::{Method, StatusCode};
use ob_core::apps::AppState;
use ob_core::users::{self, Role};
use ob_tests::fixtures::Api;
use serde_json::json;

use crate::api_data::{call, create, user};

/// A new record's id (the request also warms the instance's caches).
async fn note(api: &Api, app: &ob_tests::fixtures::TestApp, who: &crate::api_data::User) -> String {
    create(api, app, who, "notes", json!({"data": {"n": 1}}))
        .await
        .expect(StatusCode::CREATED)
        .str("/id")
}

#[tokio::test]
async fn a_disabled_user_writes_nothing_more() {
    let api = Api::start().await;
    let shop = api.app("shop").await;
    let ada = user(&api, &shop, "ada", Role::User).await;
    let id = note(&api, &shop, &ada).await;
    users::set_disabled(&api.store, "shop", &ada.id, true)
        .await
        .unwrap();
    let refused = create(&api, &shop, &ada, "notes", json!({"data": {"n": 2}}))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    assert!(refused.str("/error/message").contains("sign in again"));
    for (method, body) in [
        (Method::PATCH, Some(json!({"data": {"n": 3}}))),
        (Method::DELETE, None),
    ] {
        let mut request = call(
            method.clone(),
            &format!("/api/shop/notes/{id}"),
            &shop,
            &ada,
        );
        if let Some(body) = body {
            request = request.json(&body);
        }
        api.send(request).await.expect(StatusCode::UNAUTHORIZED);
    }
    // Enabling again does not revive tokens issued before: the user signs in again.
    users::set_disabled(&api.store, "shop", &ada.id, false)
        .await
        .unwrap();
    create(&api, &shop, &ada, "notes", json!({"data": {"n": 4}}))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    let again = api
        .login(&shop, "ada@example.com", "correct horse battery")
        .await
        .expect(StatusCode::OK)
        .str("/accessToken");
    let fresh = crate::api_data::User {
        id: ada.id.clone(),
        token: again,
    };
    create(&api, &shop, &fresh, "notes", json!({"data": {"n": 5}}))
        .await
        .expect(StatusCode::CREATED);
}

#[tokio::test]
async fn a_demoted_admin_loses_admin_writes_at_once() {
    let api = Api::start().await;
    let shop = api.app("shop").await;
    let root = user(&api, &shop, "root", Role::Admin).await;
    let config = |who: &crate::api_data::User| {
        call(Method::PATCH, "/config/shop", &shop, who)
            .header("content-type", "application/merge-patch+json")
            .json(&json!({"featureFlags": {"beta": true}}))
    };
    api.send(config(&root)).await.expect(StatusCode::OK);
    users::set_role(&api.store, "shop", &root.id, Role::User)
        .await
        .unwrap();
    // The token still says admin; the stored user no longer does.
    api.send(config(&root))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    create(&api, &shop, &root, "notes", json!({"data": {"n": 1}}))
        .await
        .expect(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_revoked_key_and_a_suspended_app_write_nothing_more() {
    let api = Api::start().await;
    let shop = api.app("shop").await;
    let ada = user(&api, &shop, "ada", Role::User).await;
    let id = note(&api, &shop, &ada).await;
    // The instance now holds the key and the app as verified.
    ob_core::api_keys::revoke(&api.store, "shop", &shop.key_id)
        .await
        .unwrap();
    create(&api, &shop, &ada, "notes", json!({"data": {"n": 2}}))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    api.send(call(
        Method::DELETE,
        &format!("/api/shop/notes/{id}"),
        &shop,
        &ada,
    ))
    .await
    .expect(StatusCode::UNAUTHORIZED);

    let other = api.app("other").await;
    let bob = user(&api, &other, "bob", Role::User).await;
    note(&api, &other, &bob).await;
    ob_core::apps::set_state(&api.store, "other", AppState::Suspended)
        .await
        .unwrap();
    create(&api, &other, &bob, "notes", json!({"data": {"n": 2}}))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    let stored = crate::api_data::stored_pks(&api)
        .await
        .into_iter()
        .filter(|pk| pk == "R#other#notes")
        .count();
    assert_eq!(stored, 1, "the refused create wrote nothing");
}
