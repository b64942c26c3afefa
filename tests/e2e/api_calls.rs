//! DynamoDB calls per warm request, route by route (issue 17's budget), counted by the SDK interceptor; request-limit syncs (background, at most once a second) excluded.

#![allow(clippy::unwrap_used)]

use axum::http::{Method, StatusCode};
use ob_core::tables::USERS;
use ob_core::users::{self, Role};
use ob_tests::calls::{self, round_trips};
use ob_tests::fixtures::{Api, Call, TestApp};
use serde_json::json;

use crate::api_data::{call, create, user};

const PASSWORD: &str = "correct horse battery";

/// The calls of one request.
async fn calls_of(api: &Api, request: Call, status: StatusCode) -> Vec<String> {
    api.calls.take();
    api.send(request).await.expect(status);
    api.calls.take_excluding(&api.store.tables.limits)
}

#[tokio::test]
async fn warm_requests_keep_their_call_budget() {
    let api = crate::api_files::start().await;
    let shop = api.app("shop").await;
    let ada = user(&api, &shop, "ada", Role::User).await;
    // Warm: the key, the app and its config cached, the resource registered.
    let first = create(&api, &shop, &ada, "notes", json!({"data": {"n": 0}}))
        .await
        .expect(StatusCode::CREATED)
        .str("/id");
    let record = |id: &str| format!("/api/shop/notes/{id}");
    let get = call(Method::GET, &record(&first), &shop, &ada);
    assert_eq!(
        calls_of(&api, get, StatusCode::OK).await,
        ["GetItem"],
        "read"
    );
    let me = call(Method::GET, "/auth/me", &shop, &ada);
    assert_eq!(calls_of(&api, me, StatusCode::OK).await, ["GetItem"], "me");

    let post = call(Method::POST, "/api/shop/notes", &shop, &ada).json(&json!({"data": {"n": 1}}));
    assert_eq!(
        calls_of(&api, post, StatusCode::CREATED).await,
        ["TransactWriteItems"],
        "create: record, index entries, audit entry and the standing checks in one transaction"
    );
    let patch = call(Method::PATCH, &record(&first), &shop, &ada).json(&json!({"data": {"n": 2}}));
    assert_eq!(
        calls_of(&api, patch, StatusCode::OK).await,
        ["GetItem", "TransactWriteItems"],
        "update"
    );
    let put = call(Method::PUT, &record(&first), &shop, &ada).json(&json!({"data": {"n": 3}}));
    assert_eq!(
        calls_of(&api, put, StatusCode::OK).await,
        ["GetItem", "TransactWriteItems"],
        "replace"
    );
    let delete = call(Method::DELETE, &record(&first), &shop, &ada);
    assert_eq!(
        calls_of(&api, delete, StatusCode::NO_CONTENT).await,
        ["GetItem", "TransactWriteItems"],
        "delete"
    );
    let upload = call(Method::POST, "/files/shop/upload-url", &shop, &ada)
        .json(&json!({"fileName": "a.txt", "fileType": "text/plain", "size": 3}));
    assert_eq!(
        calls_of(&api, upload, StatusCode::OK).await,
        ["GetItem", "TransactWriteItems"],
        "upload URL: the previous upload's metadata, then metadata, audit and checks at once"
    );
}

#[tokio::test]
async fn every_write_is_audited_in_its_own_transaction() {
    let api = Api::start().await;
    let shop = api.app("shop").await;
    let ada = user(&api, &shop, "ada", Role::User).await;
    let id = create(&api, &shop, &ada, "notes", json!({"data": {"n": 0}}))
        .await
        .expect(StatusCode::CREATED)
        .str("/id");
    api.send(
        call(Method::PATCH, &format!("/api/shop/notes/{id}"), &shop, &ada)
            .json(&json!({"data": {"m": 1}})),
    )
    .await
    .expect(StatusCode::OK);
    api.send(call(
        Method::DELETE,
        &format!("/api/shop/notes/{id}"),
        &shop,
        &ada,
    ))
    .await
    .expect(StatusCode::NO_CONTENT);
    let entries = ob_core::audit::list(&api.store, "shop", 50).await.unwrap();
    let of_record: Vec<(&str, Vec<String>)> = entries
        .iter()
        .filter(|e| e.target == format!("notes:{id}"))
        .map(|e| {
            let mut fields = e.changed_fields.clone();
            fields.sort();
            (e.action.as_str(), fields)
        })
        .collect();
    assert_eq!(
        of_record,
        [
            ("data.delete", vec!["m".to_owned(), "n".to_owned()]),
            ("data.update", vec!["m".to_owned()]),
            ("data.create", vec!["n".to_owned()]),
        ]
    );
}

/// A login's calls, in the order they started, with their times; the
/// login's own counters stay in, the request-limit syncs are left out.
async fn login_calls(
    api: &Api,
    app: &TestApp,
    email: &str,
    password: &str,
    status: StatusCode,
) -> Vec<calls::Call> {
    api.calls.take();
    api.login(app, email, password).await.expect(status);
    api.calls.take_request_path(&api.store.tables.limits)
}

/// The operations of `calls`, sorted (parallel calls start in either order).
fn sorted(calls: &[calls::Call]) -> Vec<&str> {
    let mut operations = calls::operations(calls);
    operations.sort_unstable();
    operations
}

#[tokio::test]
async fn a_login_takes_at_most_three_round_trips_besides_bcrypt() {
    let api = Api::start().await;
    let shop = api.app("shop").await;
    api.register(&shop, "ada@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    // Warm: the key, the app's facts and the dummy hash are cached.
    api.login(&shop, "ada@example.com", PASSWORD)
        .await
        .expect(StatusCode::OK);

    let success = login_calls(&api, &shop, "ada@example.com", PASSWORD, StatusCode::OK).await;
    assert_eq!(
        sorted(&success),
        [
            // The session, its token and the audit entry.
            "DeleteItem",         // the address's count cleared
            "GetItem",            // the e-mail guard, carrying the user
            "TransactWriteItems", // session, token and audit entry
            "UpdateItem",         // the address's reservation
            "UpdateItem",         // the account's reservation
            "UpdateItem",         // the account's unit given back
        ],
        "{success:#?}"
    );
    assert!(
        round_trips(&success) <= 3,
        "a login took {} sequential round trips: {success:#?}",
        round_trips(&success)
    );
    let entries = ob_core::audit::list(&api.store, "shop", 10).await.unwrap();
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.action == "auth.login.success")
            .count(),
        2,
        "each login is audited, in its session's transaction"
    );

    // A wrong password and an unknown address make the same calls.
    let wrong = login_calls(
        &api,
        &shop,
        "ada@example.com",
        "wrong horse battery",
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let unknown = login_calls(
        &api,
        &shop,
        "nobody@example.com",
        PASSWORD,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(
        sorted(&wrong),
        ["GetItem", "PutItem", "UpdateItem", "UpdateItem"],
        "reservations ‖ guard; bcrypt; the failure's audit entry"
    );
    assert_eq!(sorted(&unknown), sorted(&wrong));
    assert!(round_trips(&wrong) <= 3, "{wrong:#?}");
    assert!(round_trips(&unknown) <= 3, "{unknown:#?}");
}

#[tokio::test]
async fn the_guard_copy_a_login_reads_follows_every_write_of_the_user() {
    let api = Api::start().await;
    let shop = api.app("shop").await;
    let id = api
        .register(&shop, "bo@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED)
        .str("/user/userId");
    let login = |password: &'static str| api.login(&shop, "bo@example.com", password);

    users::set_role(&api.store, "shop", &id, Role::Admin)
        .await
        .unwrap();
    let reply = login(PASSWORD).await.expect(StatusCode::OK);
    assert_eq!(reply.str("/user/role"), "admin");
    assert_eq!(reply.body["user"]["emailVerified"], false);

    users::set_disabled(&api.store, "shop", &id, true)
        .await
        .unwrap();
    login(PASSWORD).await.expect(StatusCode::UNAUTHORIZED);
    users::set_disabled(&api.store, "shop", &id, false)
        .await
        .unwrap();
    login(PASSWORD).await.expect(StatusCode::OK);

    let hash = ob_core::passwords::hash("a new horse battery", 4)
        .await
        .unwrap();
    users::set_password(&api.store, "shop", &id, &hash)
        .await
        .unwrap();
    login(PASSWORD).await.expect(StatusCode::UNAUTHORIZED);
    let reply = login("a new horse battery").await.expect(StatusCode::OK);
    assert_eq!(
        reply.body["user"]["emailVerified"], true,
        "a reset verifies"
    );

    // A user that does not exist is refused without writing a guard.
    assert!(matches!(
        users::set_role(&api.store, "shop", "no-such-user", Role::Admin).await,
        Err(ob_core::Error::NotFound(_))
    ));
}

#[tokio::test]
async fn a_guard_written_before_it_carried_the_user_still_signs_in() {
    let api = Api::start().await;
    let shop = api.app("shop").await;
    let id = api
        .register(&shop, "cy@example.com", PASSWORD)
        .await
        .expect(StatusCode::CREATED)
        .str("/user/userId");
    // The guard as registrations wrote it before: the address and the user's id.
    let table = &api.store.tables.users;
    api.store
        .client
        .put_item()
        .table_name(table)
        .item(
            USERS.partition_key,
            ob_core::attr::s(ob_core::keys::users_pk("shop")),
        )
        .item(
            USERS.sort_key.unwrap(),
            ob_core::attr::s(ob_core::keys::email_sk("cy@example.com")),
        )
        .item("userId", ob_core::attr::s(&id))
        .send()
        .await
        .unwrap();
    let reply = api
        .login(&shop, "cy@example.com", PASSWORD)
        .await
        .expect(StatusCode::OK);
    assert_eq!(reply.str("/user/userId"), id);
    // Writes keep working on it, and a login then still reads the user item.
    users::set_disabled(&api.store, "shop", &id, true)
        .await
        .unwrap();
    api.login(&shop, "cy@example.com", PASSWORD)
        .await
        .expect(StatusCode::UNAUTHORIZED);
}
