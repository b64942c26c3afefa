//! Access ends when it is taken away: sign-ins with a revoked key or of a suspended app, writes of a disabled user, a demoted admin, a revoked key or a suspended or deleted app are refused at once, whatever the instance has cached.

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

#[tokio::test]
async fn a_revoked_caller_deletes_no_file() {
    use crate::api_files::{delete_by_query, object_exists, start, stored, upload};
    let api = start().await;
    let shop = api.app("shop").await;
    let ada = user(&api, &shop, "ada", Role::User).await;
    let bob = user(&api, &shop, "bob", Role::User).await;
    let ada_file = upload(&api, &shop, &ada, "a.txt", "text/plain", b"ada's").await;
    let bob_file = upload(&api, &shop, &bob, "b.txt", "text/plain", b"bob's").await;

    // A disabled user: refused, the object and its metadata stay.
    users::set_disabled(&api.store, "shop", &ada.id, true)
        .await
        .unwrap();
    let refused = delete_by_query(&api, &shop, &ada, &ada_file)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    assert!(refused.str("/error/message").contains("sign in again"));
    assert!(object_exists(&api, &ada_file).await, "the object stays");
    assert!(
        stored(&api, &shop, &ada_file).await.is_some(),
        "it stays listed"
    );

    // A revoked key: refused too, though the instance verified the key before.
    ob_core::api_keys::revoke(&api.store, "shop", &shop.key_id)
        .await
        .unwrap();
    delete_by_query(&api, &shop, &bob, &bob_file)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    assert!(object_exists(&api, &bob_file).await);
    assert!(
        !api.audit("shop")
            .await
            .iter()
            .any(|e| e.action == "file.delete"),
        "no delete was recorded"
    );
}

#[tokio::test]
async fn a_standing_caller_deletes_a_file_with_its_audit_entry() {
    use crate::api_files::{delete_by_query, object_exists, start, stored, upload};
    let api = start().await;
    let shop = api.app("shop").await;
    let ada = user(&api, &shop, "ada", Role::User).await;
    let file = upload(&api, &shop, &ada, "a.txt", "text/plain", b"ada's").await;
    delete_by_query(&api, &shop, &ada, &file)
        .await
        .expect(StatusCode::NO_CONTENT);
    assert!(!object_exists(&api, &file).await);
    assert!(stored(&api, &shop, &file).await.is_none());
    let entry = api
        .audit("shop")
        .await
        .into_iter()
        .find(|e| e.action == "file.delete")
        .expect("audited");
    assert_eq!(entry.target, format!("file:{file}"));
}

#[tokio::test]
async fn a_revoked_key_or_a_suspended_app_signs_no_one_in() {
    let api = Api::start().await;
    let shop = api.app("shop").await;
    let password = "correct horse battery";
    api.register(&shop, "ada@example.com", password)
        .await
        .expect(StatusCode::CREATED);
    api.login(&shop, "ada@example.com", password)
        .await
        .expect(StatusCode::OK);
    // The instance now holds the key as verified; a login does not read it
    // again but checks it in the session's transaction.
    ob_core::api_keys::revoke(&api.store, "shop", &shop.key_id)
        .await
        .unwrap();
    let refused = api
        .login(&shop, "ada@example.com", password)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    assert_eq!(refused.str("/error/message"), "invalid API key");

    let other = api.app("other").await;
    api.register(&other, "bob@example.com", password)
        .await
        .expect(StatusCode::CREATED);
    ob_core::apps::set_state(&api.store, "other", AppState::Suspended)
        .await
        .unwrap();
    api.login(&other, "bob@example.com", password)
        .await
        .expect(StatusCode::UNAUTHORIZED);

    for app in ["shop", "other"] {
        let signed_in = ob_core::audit::list(&api.store, app, 50)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.action == "auth.login.success")
            .count();
        let expected = usize::from(app == "shop");
        assert_eq!(
            signed_in, expected,
            "{app}: a refused login starts no session"
        );
    }
}
