//! The scope each route needs, declared once on its OpenAPI operation (`security(("apiKey" = ["data:read"]))`) and enforced here.
//!
//! The router's own OpenAPI document is the table: an operation without a
//! security requirement is public; one that requires `apiKey` needs the one
//! scope it lists. Anything else (no scope, several, an unknown name) is
//! refused for every caller, so a route declared carelessly is closed, not open.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::extract::MatchedPath;
use axum::http::Method;
use axum::http::request::Parts;
use ob_core::scopes::Scope;
use serde_json::Value;

/// What a route asks of the caller's API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// No key needed (health, the OpenAPI document, verify-key).
    Public,
    /// A key of the app with this scope.
    Key(Scope),
    /// The declaration is unusable (the text says why): refused for everyone.
    Broken(String),
}

/// `(METHOD, path template)` → requirement, for every operation of `doc`.
pub fn requirements(doc: &Value) -> HashMap<(Method, String), Requirement> {
    let mut table = HashMap::new();
    let Some(paths) = doc["paths"].as_object() else {
        return table;
    };
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for (method, operation) in item {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            table.insert((method, path.clone()), requirement(operation));
        }
    }
    table
}

/// Every alternative of the operation's security must require `apiKey` with
/// the same single scope (a route may also accept a bearer token beside it).
fn requirement(operation: &Value) -> Requirement {
    let alternatives = operation["security"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut found = None;
    for alternative in &alternatives {
        let Some(scopes) = alternative.get("apiKey").and_then(Value::as_array) else {
            return Requirement::Broken("a security alternative names no apiKey".into());
        };
        let scope = match scopes.as_slice() {
            [one] => match one.as_str().and_then(Scope::parse) {
                Some(scope) => scope,
                None => return Requirement::Broken(format!("{one} is not a scope")),
            },
            _ => {
                return Requirement::Broken(format!(
                    "it must name exactly one apiKey scope, not {}",
                    scopes.len()
                ));
            }
        };
        if found.is_some_and(|f| f != scope) {
            return Requirement::Broken("its alternatives name different scopes".into());
        }
        found = Some(scope);
    }
    found.map_or(Requirement::Public, Requirement::Key)
}

/// The table of the whole API, built once per process from its committed document (a test holds it to the
/// routes): generating the document here would link every function's handlers into each function.
fn table() -> &'static HashMap<(Method, String), Requirement> {
    static TABLE: OnceLock<HashMap<(Method, String), Requirement>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let doc = serde_json::from_str(crate::routes::openapi::DOCUMENT).unwrap_or(Value::Null);
        requirements(&doc)
    })
}

/// What the matched operation of a request needs; `None` when no operation
/// matched (an unknown path, or a known path with another method: they end in
/// the 404/405 fallbacks, which touch nothing). Every handler is declared with
/// `api_routes!`, so every operation that reaches one is in the document.
pub(crate) fn required(parts: &Parts) -> Option<Requirement> {
    let path = parts.extensions.get::<MatchedPath>()?.as_str().to_owned();
    table().get(&(parts.method.clone(), path)).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn declarations_are_read_strictly() {
        let doc = json!({"paths": {
            "/a": {"get": {}, "post": {"security": [{"apiKey": ["data:write"], "bearer": []}]}},
            "/b": {"get": {"security": [{"apiKey": []}]}, "put": {"security": [{"apiKey": ["data"]}]}},
            "/c": {"get": {"security": [{"bearer": []}]}, "put": {"security": [{"apiKey": ["auth"]}, {"apiKey": ["data:read"]}]}},
            "/d": {"get": {"security": [{"apiKey": ["config:read"]}, {"apiKey": ["config:read"], "bearer": []}]}},
        }});
        let table = requirements(&doc);
        assert_eq!(table[&(Method::GET, "/a".into())], Requirement::Public);
        assert_eq!(
            table[&(Method::POST, "/a".into())],
            Requirement::Key(Scope::DataWrite)
        );
        assert_eq!(
            table[&(Method::GET, "/d".into())],
            Requirement::Key(Scope::ConfigRead)
        );
        for (method, path) in [
            (Method::GET, "/b"),
            (Method::PUT, "/b"),
            (Method::GET, "/c"),
            (Method::PUT, "/c"),
        ] {
            assert!(
                matches!(
                    table[&(method.clone(), path.to_owned())],
                    Requirement::Broken(_)
                ),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn every_route_of_the_api_declares_a_usable_requirement() {
        for ((method, path), requirement) in table() {
            assert!(
                !matches!(requirement, Requirement::Broken(_)),
                "{method} {path}: {requirement:?}"
            );
        }
    }
}
