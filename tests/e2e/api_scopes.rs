//! Scopes on every route, deny by default: each operation of the OpenAPI document is refused with 403 naming its scope to a key that lacks only that scope.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use ob_api::scope::{Requirement, requirements};
use ob_core::realtime::{Push, PushError, Realtime};
use ob_core::scopes::Scope;
use ob_core::users::Role;
use ob_tests::fixtures::{Api, Call, SIGNING_KEY};
use serde_json::json;

use crate::api_data::user;

/// Every operation of the served document with what it requires.
async fn operations(api: &Api) -> Vec<(Method, String, Requirement)> {
    let doc = api
        .send(Call::get("/openapi.json"))
        .await
        .expect(StatusCode::OK)
        .body;
    let mut ops: Vec<_> = requirements(&doc)
        .into_iter()
        .map(|((method, path), req)| (method, path, req))
        .collect();
    ops.sort_by(|a, b| (&a.1, a.0.as_str()).cmp(&(&b.1, b.0.as_str())));
    ops
}

fn concrete(path: &str, record_id: &str) -> String {
    path.replace("{appId}", "shop")
        .replace("{resource}", "notes")
        .replace("{id}", record_id)
}

#[tokio::test]
async fn every_route_refuses_a_key_without_its_scope() {
    let api = Api::start_with_files(ob_tests::fixtures::test_settings()).await;
    let shop = api.app("shop").await;
    let admin = user(&api, &shop, "ada", Role::Admin).await;
    let record_id = uuid_v7();
    let ops = operations(&api).await;

    let public: BTreeSet<_> = ops
        .iter()
        .filter(|(_, _, req)| *req == Requirement::Public)
        .map(|(m, p, _)| format!("{m} {p}"))
        .collect();
    assert_eq!(
        public,
        BTreeSet::from([
            "GET /health".to_owned(),
            "GET /openapi.json".to_owned(),
            "POST /verify-key".to_owned()
        ]),
        "only these routes may be called without a key"
    );

    let mut covered = BTreeSet::new();
    for (method, path, requirement) in &ops {
        let scope = match requirement {
            Requirement::Public => continue,
            Requirement::Key(scope) => *scope,
            Requirement::Broken(why) => panic!("{method} {path}: {why}"),
        };
        covered.insert(scope);
        // A key with every other scope, but not this one (nor `*`).
        let others: Vec<&str> = Scope::EVERY
            .iter()
            .filter(|s| **s != scope && **s != Scope::All)
            .map(|s| s.as_str())
            .collect();
        let lacking = api.key("shop", &others).await;
        let url = concrete(path, &record_id);
        let reply = api
            .send(
                Call::new(method.clone(), &url)
                    .key(&lacking.secret)
                    .bearer(&admin.token)
                    .json(&json!({})),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            reply.body
        );
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("'{scope}'")),
            "{method} {path}: the refusal names the scope: {message}"
        );

        // A key with only this scope passes the scope check (whatever the handler says next).
        let only = api.key("shop", &[scope.as_str()]).await;
        let reply = api
            .send(
                Call::new(method.clone(), &url)
                    .key(&only.secret)
                    .bearer(&admin.token)
                    .json(&json!({})),
            )
            .await;
        let message = reply.body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !message.contains("lacks the"),
            "{method} {path} with only {scope}: {}",
            reply.body
        );
    }
    // Every scope but `*` and `realtime` (the WebSocket's) guards some route.
    let expected: BTreeSet<_> = Scope::EVERY
        .into_iter()
        .filter(|s| !matches!(s, Scope::All | Scope::Realtime))
        .collect();
    assert_eq!(covered, expected);
}

#[tokio::test]
async fn keys_are_limited_to_their_scopes() {
    let api = Api::start().await;
    let shop = api.app("shop").await;
    let admin = user(&api, &shop, "ada", Role::Admin).await;
    // The reviewer's cases: a config:read key writes no data, reads no files;
    // a key without config:write does not write config, even for an admin.
    let config_read = api.key("shop", &["config:read"]).await;
    api.send(
        Call::post("/api/shop/notes")
            .key(&config_read.secret)
            .bearer(&admin.token)
            .json(&json!({"data": {"a": 1}})),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    api.send(
        Call::get("/api/shop/notes")
            .key(&config_read.secret)
            .bearer(&admin.token),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    let default_scopes = Scope::DEFAULT.map(|s| s.as_str());
    let default_key = api.key("shop", &default_scopes).await;
    let defaults = api
        .send(
            Call::put("/config/shop")
                .key(&default_key.secret)
                .bearer(&admin.token)
                .json(&json!({})),
        )
        .await
        .expect(StatusCode::FORBIDDEN);
    assert!(
        defaults.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'config:write'")
    );
    let writer = api.key("shop", &["config:write"]).await;
    api.send(
        Call::put("/config/shop")
            .key(&writer.secret)
            .bearer(&admin.token)
            .json(&json!({})),
    )
    .await
    .expect(StatusCode::OK);
    // Unknown scope names are refused when a key is made.
    let err = ob_core::api_keys::create(&api.store, "shop", "x", &["data".into()], None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown scope"), "{err}");
}

#[derive(Debug, Clone, Default)]
struct Nowhere;

impl Push for Nowhere {
    async fn send(&self, _: &str, _: &str) -> Result<(), PushError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_websocket_needs_the_realtime_scope() {
    let api = Api::start().await;
    let shop = api.app("shop").await;
    let ada = user(&api, &shop, "ada", Role::User).await;
    let realtime = Realtime {
        store: api.store.clone(),
        signer: ob_core::signing::Keyring::ready(SIGNING_KEY, &api.state.settings().issuer)
            .unwrap(),
        push: Nowhere,
        metrics: api.state.metrics().clone(),
        stage_origins: Vec::new(),
    };
    let data_only = api.key("shop", &["data:read", "data:write"]).await;
    let event = |key: &str| {
        json!({
            "requestContext": {"routeKey": "$connect", "eventType": "CONNECT", "connectionId": "C1=",
                               "requestId": "r1", "stage": "live"},
            "queryStringParameters": {"apiKey": key, "token": ada.token},
        })
    };
    let refused = ob_realtime::handle(&realtime, &event(&data_only.secret), "i").await;
    assert_eq!(refused["statusCode"], 403, "{refused}");
    assert!(refused["body"].as_str().unwrap().contains("'realtime'"));
    let connected = ob_realtime::handle(&realtime, &event(&shop.key), "i").await;
    assert_eq!(connected["statusCode"], 200, "{connected}");
}

fn uuid_v7() -> String {
    // A well-formed record id that exists nowhere.
    "01936d6e-0000-7000-8000-000000000000".to_owned()
}
