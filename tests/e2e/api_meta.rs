//! HTTP API, the rest: health, error format and request ids, verify-key, audit hygiene, and the OpenAPI document.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use ob_core::api_keys;
use ob_tests::fixtures::{Api, Call};
use serde_json::json;

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn health_answers_without_auth() {
    let api = Api::start().await;
    let reply = api.send(Call::get("/health")).await.expect(StatusCode::OK);
    assert_eq!(reply.body["status"], "ok");
    assert_eq!(reply.body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(reply.body["stage"], "test");
    assert!(
        reply
            .header("x-request-id")
            .is_some_and(|id| !id.is_empty())
    );
}

#[tokio::test]
async fn errors_are_json_with_the_request_id() {
    let api = Api::start().await;
    let missing = api
        .send(Call::get("/no/such/route").header("x-request-id", "req-123"))
        .await
        .expect(StatusCode::NOT_FOUND);
    assert_eq!(missing.code(), "not_found");
    assert_eq!(missing.body["error"]["requestId"], "req-123");
    assert_eq!(missing.header("x-request-id"), Some("req-123"));
    let wrong_method = api
        .send(Call::new(Method::DELETE, "/health"))
        .await
        .expect(StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.code(), "method_not_allowed");
    // API Gateway's id wins over a caller's.
    let unauthorized = api
        .send(
            Call::get("/auth/me")
                .header("x-amzn-requestid", "gw-1")
                .header("x-request-id", "caller"),
        )
        .await
        .expect(StatusCode::UNAUTHORIZED);
    assert_eq!(unauthorized.body["error"]["requestId"], "gw-1");
    // A generated id when none is given, the same in header and body.
    let generated = api.send(Call::get("/auth/me")).await;
    let id = generated.header("x-request-id").unwrap();
    assert_eq!(generated.body["error"]["requestId"], id);
    assert!(generated.body["error"]["message"].is_string());
}

#[tokio::test]
async fn verify_key_reports_validity_app_and_scopes() {
    let api = Api::start().await;
    let app = api.app("shop").await;
    let verify = |key: &str| Call::post("/verify-key").json(&json!({ "apiKey": key }));
    let valid = api.send(verify(&app.key)).await.expect(StatusCode::OK);
    assert_eq!(valid.body["valid"], true);
    assert_eq!(valid.body["appId"], "shop");
    assert_eq!(valid.body["keyId"], app.key_id.as_str());
    assert_eq!(valid.body["scopes"], json!(ob_tests::fixtures::FULL_SCOPES));

    for key in ["nope".to_owned(), api_keys::generate_secret().unwrap()] {
        let invalid = api.send(verify(&key)).await.expect(StatusCode::OK);
        assert_eq!(invalid.body, json!({"valid": false}));
    }
    api_keys::revoke(&api.store, "shop", &app.key_id)
        .await
        .unwrap();
    assert_eq!(
        api.send(verify(&app.key)).await.body,
        json!({"valid": false})
    );
    let bad = api
        .send(Call::post("/verify-key").json(&json!({"key": "x"})))
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["error"]["field"], "key");
}

#[tokio::test]
async fn audit_entries_record_who_and_where_but_no_secrets() {
    let api = Api::start().await;
    let app = api.app("shop").await;
    let call = |path: &str, body: serde_json::Value| {
        Call::post(path)
            .key(&app.key)
            .from_addr("203.0.113.9")
            .header("user-agent", "audit-test/1.0")
            .header("x-request-id", "audit-req")
            .json(&body)
    };
    let registered = api
        .send(call(
            "/auth/register",
            json!({"email": "ann@example.com", "password": PASSWORD, "appId": "shop"}),
        ))
        .await
        .expect(StatusCode::CREATED);
    api.send(call(
        "/auth/login",
        json!({"email": "ann@example.com", "password": "wrong password", "appId": "shop"}),
    ))
    .await
    .expect(StatusCode::UNAUTHORIZED);
    let login = api
        .send(call(
            "/auth/login",
            json!({"email": "ann@example.com", "password": PASSWORD, "appId": "shop"}),
        ))
        .await
        .expect(StatusCode::OK);
    let rotated = api
        .send(call(
            "/auth/refresh",
            json!({"refreshToken": login.str("/refreshToken")}),
        ))
        .await
        .expect(StatusCode::OK);
    // Once its successor was used, the login's token is reuse.
    let next = api
        .send(call(
            "/auth/refresh",
            json!({"refreshToken": rotated.str("/refreshToken")}),
        ))
        .await
        .expect(StatusCode::OK);
    api.send(call(
        "/auth/refresh",
        json!({"refreshToken": login.str("/refreshToken")}),
    ))
    .await
    .expect(StatusCode::UNAUTHORIZED);
    api.send(call(
        "/auth/logout",
        json!({"refreshToken": registered.str("/refreshToken")}),
    ))
    .await
    .expect(StatusCode::NO_CONTENT);

    let entries = api.audit("shop").await;
    let actions: BTreeSet<_> = entries.iter().map(|e| e.action.as_str()).collect();
    for expected in [
        "apikey.use",
        "auth.register",
        "auth.login.failure",
        "auth.login.success",
        "auth.refresh",
        "auth.refresh.reuse",
        "auth.logout",
    ] {
        assert!(
            actions.contains(expected),
            "{expected} missing from {actions:?}"
        );
    }
    let user_id = registered.str("/user/userId");
    let register = entries
        .iter()
        .find(|e| e.action == "auth.register")
        .unwrap();
    assert_eq!(register.actor, format!("user:{user_id}"));
    assert_eq!(register.source_ip.as_deref(), Some("203.0.113.9"));
    assert_eq!(register.user_agent.as_deref(), Some("audit-test/1.0"));
    assert_eq!(register.request_id.as_deref(), Some("audit-req"));
    assert!(register.changed_fields.contains(&"email".to_owned()));
    assert!(register.expires_at > ob_core::clock::now_epoch() + 6 * 86_400);
    // Newest first.
    assert!(entries.windows(2).all(|w| w[0].at >= w[1].at));

    let dump = serde_json::to_string(&entries).unwrap();
    for secret in [
        PASSWORD.to_owned(),
        app.key.clone(),
        registered.str("/accessToken"),
        registered.str("/refreshToken"),
        login.str("/refreshToken"),
        rotated.str("/refreshToken"),
        rotated.str("/accessToken"),
        next.str("/refreshToken"),
    ] {
        assert!(!dump.contains(&secret), "audit log contains a secret");
    }
    assert!(!dump.to_lowercase().contains("password"), "{dump}");
}

/// The routes the HTTP API serves: the OpenAPI document must list exactly these.
const ROUTES: &[(&str, &str)] = &[
    ("DELETE", "/api/{appId}/{resource}/{id}"),
    ("DELETE", "/files/{appId}/delete"),
    ("GET", "/api/{appId}/{resource}"),
    ("GET", "/api/{appId}/{resource}/{id}"),
    ("GET", "/auth/me"),
    ("GET", "/config/{appId}"),
    ("GET", "/files/{appId}/list"),
    ("GET", "/health"),
    ("GET", "/notify/{appId}/{id}"),
    ("GET", "/openapi.json"),
    ("PATCH", "/api/{appId}/{resource}/{id}"),
    ("PATCH", "/config/{appId}"),
    ("POST", "/api/{appId}/{resource}"),
    ("POST", "/auth/login"),
    ("POST", "/auth/logout"),
    ("POST", "/auth/password-reset"),
    ("POST", "/auth/password-reset/confirm"),
    ("POST", "/auth/refresh"),
    ("POST", "/auth/register"),
    ("POST", "/auth/verify-email/confirm"),
    ("POST", "/auth/verify-email/request"),
    ("POST", "/files/{appId}/download-url"),
    ("POST", "/files/{appId}/upload-url"),
    ("POST", "/notify/{appId}"),
    ("POST", "/verify-key"),
    ("PUT", "/api/{appId}/{resource}/{id}"),
    ("PUT", "/config/{appId}"),
];

#[tokio::test]
async fn openapi_lists_exactly_the_routes_the_router_serves() {
    let api = Api::start().await;
    let reply = api
        .send(Call::get("/openapi.json"))
        .await
        .expect(StatusCode::OK);
    let doc = reply.body;
    assert_eq!(doc["openapi"], "3.1.0");
    let methods = ["get", "put", "post", "delete", "patch", "head", "options"];
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in methods {
            if item.get(method).is_some() {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let expected: BTreeSet<_> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, expected);

    // Each documented operation reaches a handler (no 404/405 fallback), and
    // each other method on a documented path is refused by the router.
    for (method, path) in &documented {
        let concrete = path.replace("{appId}", "shop");
        let reply = api
            .send(Call::new(method.parse().unwrap(), &concrete))
            .await;
        assert!(
            !matches!(reply.code(), "not_found" | "method_not_allowed"),
            "{method} {path} is documented but not routed: {}",
            reply.body
        );
        for other in ["GET", "PUT", "POST", "DELETE", "PATCH"] {
            if !documented.contains(&(other.to_owned(), path.clone())) {
                let reply = api.send(Call::new(other.parse().unwrap(), &concrete)).await;
                assert_eq!(
                    reply.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{other} {path} is routed but not documented"
                );
            }
        }
    }
    // Security schemes and error bodies are described.
    assert!(doc["components"]["securitySchemes"]["apiKey"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
}

/// The (method, path) operations of an OpenAPI document's paths.
fn operations(paths: &serde_json::Value) -> BTreeSet<(String, String)> {
    let methods = [
        "get", "put", "post", "delete", "patch", "head", "options", "trace",
    ];
    let mut operations = BTreeSet::new();
    for (path, item) in paths.as_object().unwrap() {
        for method in methods {
            if item.get(method).is_some() {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

/// What a router answers `method path` with: `Some(status)` when a route answered, `None` when the
/// 404 (no such route) or 405 fallback did.
async fn routed(router: &axum::Router, method: &str, path: &str) -> Option<StatusCode> {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let request = axum::http::Request::builder()
        .method(method)
        .uri(path.replace("{appId}", "shop"))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let fallback = matches!(
        (status, body["error"]["message"].as_str()),
        (StatusCode::NOT_FOUND, Some("no such route"))
            | (
                StatusCode::METHOD_NOT_ALLOWED,
                Some("method not allowed on this route")
            )
    );
    (!fallback).then_some(status)
}

/// Each Lambda's router is built apart from the document (`api_routes!`): it must serve exactly the operations its
/// function documents, and none of another function's.
#[tokio::test]
async fn each_function_serves_exactly_the_routes_it_documents() {
    let api = Api::start().await;
    let all = operations(&ob_api::openapi_document()["paths"]);
    let mut served_somewhere = BTreeSet::new();
    for function in ob_api::HTTP_FUNCTIONS {
        let documented = ob_api::function_routes(function.def)
            .unwrap()
            .into_openapi();
        let documented = operations(&serde_json::to_value(&documented).unwrap()["paths"]);
        assert!(
            !documented.is_empty(),
            "{} documents no route",
            function.def.name
        );
        let router = ob_api::http_function_router(&function, api.state.clone());
        let paths: BTreeSet<&String> = all.iter().map(|(_, path)| path).collect();
        for path in paths {
            // Not HEAD: axum answers it with a GET route, and a HEAD answer has no body to tell a fallback by.
            for method in ["GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "TRACE"] {
                let operation = (method.to_owned(), path.clone());
                let answered = routed(&router, method, path).await;
                assert_eq!(
                    answered.is_some(),
                    documented.contains(&operation),
                    "{method} {path}: the {} function answers {answered:?}, documents it: {}",
                    function.def.name,
                    documented.contains(&operation)
                );
            }
        }
        served_somewhere.extend(documented);
    }
    assert_eq!(
        served_somewhere, all,
        "the document is the functions' documented routes"
    );
}

#[tokio::test]
async fn each_lambda_serves_its_part_and_the_whole_document() {
    let api = Api::start().await;
    let auth = ob_api::function_router(&ob_core::functions::AUTH, api.state.clone()).unwrap();
    let admin = ob_api::function_router(&ob_core::functions::ADMIN, api.state.clone()).unwrap();
    assert!(ob_api::function_router(&ob_core::functions::REALTIME, api.state.clone()).is_none());
    let status = |router: &axum::Router, method: Method, path: &str| {
        let router = router.clone();
        let request = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .body(axum::body::Body::empty())
            .unwrap();
        async move {
            use tower::ServiceExt;
            router.oneshot(request).await.unwrap().status()
        }
    };
    assert_eq!(
        status(&auth, Method::GET, "/health").await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status(&auth, Method::GET, "/auth/me").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&admin, Method::GET, "/auth/me").await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(status(&admin, Method::GET, "/health").await, StatusCode::OK);
    let doc = ob_api::openapi_document();
    assert!(doc["paths"]["/auth/register"].is_object());
    assert!(doc["paths"]["/config/{appId}"].is_object());
}

#[tokio::test]
async fn storage_failures_are_a_bare_500() {
    let api = Api::start().await;
    let app = api.app("shop").await;
    // The same deployment, but the users table is missing.
    let mut tables = api.store.tables.clone();
    tables.users = "no-such-users-table".into();
    let store = ob_core::Store::new(api.store.client.clone(), tables);
    let state = ob_api::AppState::new(
        store,
        ob_tests::fixtures::SIGNING_KEY,
        ob_tests::fixtures::test_settings(),
    )
    .unwrap();
    let request = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/auth/register")
        .header("x-api-key", &app.key)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            json!({"email": "ann@example.com", "password": PASSWORD, "appId": "shop"}).to_string(),
        ))
        .unwrap();
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let response = ob_api::router(state).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "internal");
    assert_eq!(body["error"]["message"], "internal error");
    assert!(!body.to_string().contains("no-such-users-table"), "{body}");
}
