//! The one definition of every function (`ob_core::functions`) holds on every stage: the template's functions, routes,
//! environment, event sources and roles, and the routers the functions serve.

use std::collections::BTreeSet;

use ob_core::functions::{self, EventSource, FunctionDef};
use ob_core::route_key::{self, RouteKey};
use obctl::render::model::{self, Protocol, StackModel};
use serde_yaml::Value;

use crate::render::project;

fn model(stage: &str) -> StackModel {
    let project = project();
    let loaded = obctl::stage::load(&project, stage).expect("stage loads");
    let template = obctl::render::render(&project, &loaded).expect("renders");
    model::read(&template).unwrap_or_else(|err| panic!("{stage}: {err}"))
}

fn sorted<'a>(items: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut items: Vec<&str> = items.into_iter().collect();
    items.sort_unstable();
    items
}

#[test]
fn the_template_declares_exactly_the_defined_functions_and_their_variables() {
    for stage in project().stages() {
        let model = model(&stage);
        assert_eq!(
            sorted(model.functions.iter().map(|f| f.def.name)),
            sorted(functions::ALL.iter().map(|f| f.name)),
            "{stage}: functions"
        );
        for function in &model.functions {
            let def = function.def;
            // Both ways: a variable the template forgets fails at cold start,
            // one nothing reads is a setting that silently does nothing.
            assert_eq!(
                sorted(function.environment.iter().map(|(name, _)| name.as_str())),
                sorted(def.env_vars().map(|v| v.name)),
                "{stage}/{}: Environment.Variables must be exactly what functions.rs declares",
                def.name
            );
            let refs = def
                .tables
                .iter()
                .map(|t| (t.env_var, t.logical_id))
                .chain(def.queues.iter().map(|q| (q.env_var, q.logical_id)));
            for (env_var, logical_id) in refs {
                let value = function
                    .environment
                    .iter()
                    .find(|(name, _)| name == env_var)
                    .map(|(_, v)| v);
                assert_eq!(
                    value.and_then(|v| v["Ref"].as_str()),
                    Some(logical_id),
                    "{stage}/{}: {env_var} must be !Ref {logical_id}",
                    def.name,
                );
            }
        }
    }
}

#[test]
fn the_template_routes_and_mappings_are_the_defined_ones() {
    for stage in project().stages() {
        let model = model(&stage);
        let http = model.api(Protocol::Http).expect("an HTTP API");
        let websocket = model.api(Protocol::WebSocket).expect("a WebSocket API");
        for def in functions::ALL {
            let of = |api: &model::ApiModel| -> Vec<String> {
                let mut keys: Vec<String> = api
                    .routes
                    .iter()
                    .filter(|r| r.function.name == def.name)
                    .map(|r| r.key.clone())
                    .collect();
                keys.sort();
                keys
            };
            let mut expected: Vec<&str> = def.http_routes.to_vec();
            expected.sort_unstable();
            assert_eq!(of(http), expected, "{stage}/{}: HTTP routes", def.name);
            let mut expected: Vec<&str> = def.websocket_routes.to_vec();
            expected.sort_unstable();
            assert_eq!(
                of(websocket),
                expected,
                "{stage}/{}: WebSocket routes",
                def.name
            );
            let mappings: Vec<_> = model
                .mappings
                .iter()
                .filter(|m| m.function.name == def.name)
                .collect();
            assert_eq!(
                mappings.len(),
                def.event_sources.len(),
                "{stage}/{}",
                def.name
            );
            for source in def.event_sources {
                let mapping = mappings
                    .iter()
                    .find(|m| m.logical_id == source.logical_id)
                    .unwrap_or_else(|| panic!("{stage}: no mapping {}", source.logical_id));
                let expected = match source.source {
                    EventSource::TableStream(table) => format!("[{}, StreamArn]", table.logical_id),
                    EventSource::Queue(queue) => {
                        // What makes a failed message come back alone, then dead-letter.
                        assert!(
                            mapping.report_batch_item_failures,
                            "{stage}/{}: ReportBatchItemFailures",
                            source.logical_id
                        );
                        format!("[{}, Arn]", queue.logical_id)
                    }
                };
                assert_eq!(
                    mapping.source["Fn::GetAtt"],
                    serde_yaml::from_str::<Value>(&expected).expect("yaml"),
                    "{stage}/{}",
                    source.logical_id
                );
            }
        }
        for route in &http.routes {
            assert_eq!(
                route.payload_format.as_deref(),
                Some("2.0"),
                "{stage}/{}",
                route.logical_id
            );
        }
    }
}

/// A concrete request path for an OpenAPI path: each `{name}` becomes `name`.
fn sample(path: &str) -> String {
    path.replace(['{', '}'], "")
}

#[test]
fn every_router_route_has_a_template_route_and_every_template_route_a_router_route() {
    let model = model("prod");
    let http = model.api(Protocol::Http).expect("an HTTP API");
    let table: Vec<(RouteKey, &'static FunctionDef)> = http
        .routes
        .iter()
        .map(|r| (RouteKey::parse(&r.key).expect("route key"), r.function))
        .collect();
    let mut used: BTreeSet<String> = BTreeSet::new();
    for def in functions::ALL {
        let Some(routes) = ob_api::function_routes(def) else {
            assert!(def.http_routes.is_empty(), "{} has no router", def.name);
            continue;
        };
        let document = routes.into_openapi();
        assert!(!document.paths.paths.is_empty(), "{}: no routes", def.name);
        for (path, item) in &document.paths.paths {
            let methods = [
                ("GET", item.get.is_some()),
                ("PUT", item.put.is_some()),
                ("POST", item.post.is_some()),
                ("DELETE", item.delete.is_some()),
                ("PATCH", item.patch.is_some()),
            ];
            for (method, _) in methods.iter().filter(|(_, present)| *present) {
                let request = sample(path);
                let chosen = route_key::select(&table, method, &request);
                let Some((key, function, _)) = chosen else {
                    panic!(
                        "{method} {path} of the {} router has no template route: \
                         API Gateway would answer 404 (add a route to templates/functions/{}.yaml \
                         and to functions.rs)",
                        def.name, def.name
                    );
                };
                assert_eq!(
                    function.name, def.name,
                    "{method} {path} is served by {} but routed to {} by {key}",
                    def.name, function.name
                );
                used.insert(key.as_str().to_owned());
            }
        }
    }
    for (key, function) in &table {
        assert!(
            used.contains(key.as_str()),
            "template route {key} ({}) matches no route of its function's router",
            function.name
        );
    }
}

#[test]
fn a_stage_may_only_size_functions_that_exist() {
    let dir = std::env::temp_dir().join(format!("obctl-functions-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("stacks")).expect("dir");
    std::fs::create_dir_all(dir.join("templates")).expect("dir");
    let local = std::fs::read_to_string(project().stage_file("local")).expect("local stage");
    let typo = local.replace(
        "  buildProfile: dev\n",
        "  buildProfile: dev\n  functions:\n    realtme:\n      timeoutSeconds: 60\n",
    );
    assert_ne!(typo, local);
    std::fs::write(dir.join("stacks/local.yaml"), typo).expect("write");
    let err = obctl::stage::load(&obctl::project::Project::at(&dir), "local")
        .expect_err("an unknown function is refused")
        .to_string();
    assert!(
        err.contains("lambda.functions.realtme: is not a function of the stack"),
        "{err}"
    );
    assert!(
        err.contains("auth, data, files, admin, realtime, notify, webhooks"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
