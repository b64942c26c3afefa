//! HTTP API, generic data: CRUD, record permissions, validation (queries: `api_data_query`).

#![allow(clippy::unwrap_used)]

use axum::http::{Method, StatusCode};
use ob_core::data;
use ob_core::users::{self, Role};
use ob_tests::fixtures::{Api, Call, Reply, TestApp};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

/// A signed-in user of the test app.
pub(crate) struct User {
    pub id: String,
    pub token: String,
}

pub(crate) async fn user(api: &Api, app: &TestApp, name: &str, role: Role) -> User {
    let email = format!("{name}@example.com");
    let reply = api
        .register(app, &email, PASSWORD)
        .await
        .expect(StatusCode::CREATED);
    let id = reply.str("/user/userId");
    if role == Role::User {
        return User {
            id,
            token: reply.str("/accessToken"),
        };
    }
    users::set_role(&api.store, &app.app_id, &id, role)
        .await
        .unwrap();
    let login = api
        .login(app, &email, PASSWORD)
        .await
        .expect(StatusCode::OK);
    User {
        id,
        token: login.str("/accessToken"),
    }
}

pub(crate) fn call(method: Method, path: &str, app: &TestApp, who: &User) -> Call {
    Call::new(method, path).key(&app.key).bearer(&who.token)
}

pub(crate) async fn create(
    api: &Api,
    app: &TestApp,
    who: &User,
    resource: &str,
    body: Value,
) -> Reply {
    api.send(
        call(
            Method::POST,
            &format!("/api/{}/{resource}", app.app_id),
            app,
            who,
        )
        .json(&body),
    )
    .await
}

/// Every item of the data table (test-only inspection of storage).
pub(crate) async fn stored_pks(api: &Api) -> Vec<String> {
    let out = api
        .store
        .client
        .scan()
        .table_name(&api.store.tables.data)
        .send()
        .await
        .unwrap();
    out.items()
        .iter()
        .map(|i| i["pk"].as_s().unwrap().clone())
        .collect()
}

#[tokio::test]
async fn data_crud_round_trip() {
    let api = Api::start().await;
    let app = api.app("shop").await;
    let ann = user(&api, &app, "ann", Role::User).await;
    let created = create(
        &api,
        &app,
        &ann,
        "notes",
        json!({"data": {"title": "a", "n": 1}}),
    )
    .await
    .expect(StatusCode::CREATED);
    let id = created.str("/id");
    let path = format!("/api/shop/notes/{id}");
    assert_eq!(created.header("location"), Some(path.as_str()));
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(created.body["ownerId"], json!(ann.id));
    assert_eq!(
        created.body["permissions"],
        json!({"read": [], "write": []})
    );
    assert_eq!(created.body["resource"], "notes");

    let read = api
        .send(call(Method::GET, &path, &app, &ann))
        .await
        .expect(StatusCode::OK);
    assert_eq!(read.body, created.body);

    let put = api
        .send(
            call(Method::PUT, &path, &app, &ann)
                .header("if-match", "\"1\"")
                .json(&json!({"data": {"title": "b"}})),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (put.body["version"].clone(), put.body["data"].clone()),
        (json!(2), json!({"title": "b"}))
    );
    assert_eq!(put.header("etag"), Some("\"2\""));
    let patch = api
        .send(call(Method::PATCH, &path, &app, &ann).json(&json!({"data": {"extra": true}})))
        .await
        .expect(StatusCode::OK);
    assert_eq!(patch.body["data"], json!({"title": "b", "extra": true}));
    assert_eq!(patch.body["createdAt"], created.body["createdAt"]);

    let list = api
        .send(call(
            Method::GET,
            "/api/shop/notes?fields=extra",
            &app,
            &ann,
        ))
        .await
        .expect(StatusCode::OK);
    assert_eq!(list.body["items"][0]["data"], json!({"extra": true}));
    assert_eq!(list.body["nextCursor"], Value::Null);

    let stale = api
        .send(call(Method::DELETE, &path, &app, &ann).header("if-match", "\"2\""))
        .await;
    assert_eq!(
        (stale.status, stale.body["error"]["currentVersion"].clone()),
        (StatusCode::PRECONDITION_FAILED, json!(3))
    );
    api.send(call(Method::DELETE, &path, &app, &ann).header("if-match", "\"3\""))
        .await
        .expect(StatusCode::NO_CONTENT);
    api.send(call(Method::GET, &path, &app, &ann))
        .await
        .expect(StatusCode::NOT_FOUND);
    // Only the resource registry entry stays (`apps delete` removes it with the app).
    assert_eq!(
        stored_pks(&api).await,
        vec![ob_core::keys::resources_pk("shop")]
    );

    let audit = api.audit("shop").await;
    let data_entries: Vec<_> = audit
        .iter()
        .filter(|e| e.action.starts_with("data."))
        .collect();
    let actions: Vec<&str> = data_entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["data.delete", "data.update", "data.update", "data.create"]
    );
    assert!(
        data_entries
            .iter()
            .all(|e| e.actor == format!("user:{}", ann.id) && e.target == format!("notes:{id}"))
    );
    assert_eq!(data_entries[1].changed_fields, ["extra"]);
    assert_eq!(data_entries[2].changed_fields, ["n", "title"]);
}

#[tokio::test]
async fn data_permission_matrix() {
    let api = Api::start().await;
    let app = api.app("shop").await;
    let other_app = api.app("blog").await;
    let ann = user(&api, &app, "ann", Role::User).await;
    let bob = user(&api, &app, "bob", Role::User).await;
    let admin = user(&api, &app, "root", Role::Admin).await;
    let mut ids = Vec::new();
    for permissions in [
        json!({}),
        json!({"read": ["*"]}),
        json!({"read": ["role:user"]}),
        json!({"write": [bob.id]}),
        json!({"read": ["role:admin"]}),
    ] {
        let reply = create(
            &api,
            &app,
            &ann,
            "docs",
            json!({"data": {"x": 1}, "permissions": permissions}),
        )
        .await
        .expect(StatusCode::CREATED);
        ids.push(reply.str("/id"));
    }
    let [private, public, by_role, bob_writes, admins] = ids.clone().try_into().unwrap();
    let path = |id: &str| format!("/api/shop/docs/{id}");
    let status = |method: Method, id: &str, who: &User, body: Option<Value>| {
        let mut c = call(method, &path(id), &app, who);
        if let Some(body) = body {
            c = c.json(&body);
        }
        let api = &api;
        async move { api.send(c).await.status }
    };
    let put = || Some(json!({"data": {"x": 2}}));
    let share = || Some(json!({"data": {"x": 3}, "permissions": {"read": ["*"], "write": ["*"]}}));

    // Read.
    assert_eq!(
        status(Method::GET, &private, &bob, None).await,
        StatusCode::NOT_FOUND
    );
    for id in [&public, &by_role, &bob_writes] {
        assert_eq!(status(Method::GET, id, &bob, None).await, StatusCode::OK);
    }
    assert_eq!(
        status(Method::GET, &admins, &bob, None).await,
        StatusCode::NOT_FOUND
    );
    for id in &ids {
        assert_eq!(status(Method::GET, id, &admin, None).await, StatusCode::OK);
        assert_eq!(status(Method::GET, id, &ann, None).await, StatusCode::OK);
    }
    // List: only readable records, still a full page.
    let list = |who: &User| call(Method::GET, "/api/shop/docs?limit=3", &app, who);
    let page = api.send(list(&bob)).await.expect(StatusCode::OK);
    let seen: Vec<&str> = page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(seen, [&public, &by_role, &bob_writes]);
    assert_eq!(
        api.send(list(&admin)).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Write and permission changes.
    assert_eq!(
        status(Method::PUT, &public, &bob, put()).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(Method::PATCH, &by_role, &bob, share()).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(Method::PUT, &private, &bob, put()).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status(Method::PUT, &bob_writes, &bob, put()).await,
        StatusCode::OK
    );
    assert_eq!(
        status(Method::PATCH, &bob_writes, &bob, share()).await,
        StatusCode::OK
    );
    assert_eq!(
        status(Method::PUT, &private, &admin, share()).await,
        StatusCode::OK
    );
    assert_eq!(
        status(Method::PUT, &private, &bob, put()).await,
        StatusCode::OK,
        "shared with * by the admin"
    );
    // Delete.
    assert_eq!(
        status(Method::DELETE, &public, &bob, None).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(Method::DELETE, &admins, &bob, None).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status(Method::DELETE, &admins, &admin, None).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        status(Method::DELETE, &public, &ann, None).await,
        StatusCode::NO_CONTENT
    );

    // Another app: its key with this app's token, or this app's key on its path.
    let foreign = api
        .send(
            Call::get(&path(&by_role))
                .key(&other_app.key)
                .bearer(&ann.token),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::UNAUTHORIZED);
    let cross = api
        .send(
            Call::get(&format!("/api/blog/docs/{by_role}"))
                .key(&app.key)
                .bearer(&ann.token),
        )
        .await;
    assert_eq!(cross.status, StatusCode::UNAUTHORIZED);
    let carol = user(&api, &other_app, "carol", Role::Admin).await;
    let theirs = api
        .send(
            Call::get(&format!("/api/blog/docs/{by_role}"))
                .key(&other_app.key)
                .bearer(&carol.token),
        )
        .await;
    assert_eq!(
        theirs.status,
        StatusCode::NOT_FOUND,
        "ids do not reach across apps"
    );
}

#[tokio::test]
async fn data_rejects_malformed_input_and_writes_nothing() {
    let api = Api::start().await;
    let app = api.app("shop").await;
    let ann = user(&api, &app, "ann", Role::User).await;
    let post = |resource: &str| call(Method::POST, &format!("/api/shop/{resource}"), &app, &ann);
    let cases: Vec<(Call, StatusCode, &str)> = vec![
        (
            post("notes").json(&json!({"data": [1, 2]})),
            StatusCode::BAD_REQUEST,
            "data",
        ),
        (
            post("notes").json(&json!({"data": "text"})),
            StatusCode::BAD_REQUEST,
            "data",
        ),
        (
            post("notes").json(&json!({"title": "no data"})),
            StatusCode::BAD_REQUEST,
            "",
        ),
        (
            post("notes").json(&json!({"data": {"ownerId": "me"}})),
            StatusCode::BAD_REQUEST,
            "data.ownerId",
        ),
        (
            post("notes").json(&json!({"data": {}, "permissions": {"read": [""]}})),
            StatusCode::BAD_REQUEST,
            "permissions.read[0]",
        ),
        (
            post("notes").raw("application/json", b"{\"data\":".to_vec()),
            StatusCode::BAD_REQUEST,
            "",
        ),
        (
            post("notes").raw("text/plain", b"{}".to_vec()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "",
        ),
        (
            post("bad.name").json(&json!({"data": {}})),
            StatusCode::BAD_REQUEST,
            "resource",
        ),
        (
            post(&"r".repeat(65)).json(&json!({"data": {}})),
            StatusCode::BAD_REQUEST,
            "resource",
        ),
        (
            post("notes").json(&json!({"data": {"big": "x".repeat(data::MAX_RECORD_BYTES)}})),
            StatusCode::PAYLOAD_TOO_LARGE,
            "",
        ),
        (
            post("notes").json(&json!({"data": {"big": "x".repeat(2 * data::MAX_RECORD_BYTES)}})),
            StatusCode::PAYLOAD_TOO_LARGE,
            "",
        ),
        (
            call(Method::GET, "/api/shop/notes/not-an-id", &app, &ann),
            StatusCode::BAD_REQUEST,
            "id",
        ),
        (
            call(
                Method::PUT,
                "/api/shop/notes/0190b2a0-0000-4000-8000-000000000000",
                &app,
                &ann,
            )
            .json(&json!({"data": {}})),
            StatusCode::BAD_REQUEST,
            "id",
        ),
        (
            call(Method::GET, "/api/shop/notes?cursor=garbage", &app, &ann),
            StatusCode::BAD_REQUEST,
            "cursor",
        ),
        (
            call(Method::GET, "/api/shop/notes?limit=1000", &app, &ann),
            StatusCode::BAD_REQUEST,
            "limit",
        ),
        (
            Call::get("/api/shop/notes").key(&app.key),
            StatusCode::UNAUTHORIZED,
            "",
        ),
    ];
    for (call, status, field) in cases {
        let described = format!("{call:?}").chars().take(200).collect::<String>();
        let reply = api.send(call).await;
        assert_eq!(reply.status, status, "{described}: {}", reply.body);
        assert_ne!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        if !field.is_empty() {
            assert_eq!(reply.body["error"]["field"], json!(field), "{described}");
        }
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            let message = reply.body["error"]["message"].as_str().unwrap();
            assert!(
                message.contains("limit") || message.contains("larger than"),
                "{message}"
            );
        }
    }
    assert!(
        stored_pks(&api).await.is_empty(),
        "a rejected request wrote something"
    );
}
