//! `GET /openapi.json`: the OpenAPI 3.1 document of the whole HTTP API, generated from the routes (with the answers
//! the shared layers give on every route they guard) and committed.
//!
//! Served from `functions/api/openapi.json`, which a test holds to the routes: generating it at run time would link
//! every function's handlers into the admin function.

use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

/// The document, as `openapi_document()` generates it (pretty JSON).
pub const DOCUMENT: &str = include_str!("../../openapi.json");

crate::route_list::api_routes! { handlers: [openapi_json] }

/// The OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "This API's OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi_json() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

/// Answers of the layers around every handler: the request limits (per app and
/// per client address, on every route), and by what an operation declares, an
/// `apiKey` requirement (the context layer checks the key and its scope before
/// the handler runs) and a request body (the `Json` extractor checks its type,
/// size and syntax).
const EVERY: [(&str, &str); 1] = [(
    "429",
    "The app's or this client's request limit is reached; see Retry-After",
)];
const KEYED: [(&str, &str); 2] = [
    (
        "401",
        "Missing or invalid API key (X-API-Key) or access token, or another app's",
    ),
    (
        "403",
        "The key lacks this operation's scope, or the caller may not do this",
    ),
];
const WITH_BODY: [(&str, &str); 3] = [
    ("400", "The body is not valid JSON of the expected shape"),
    ("413", "The body is larger than this route accepts"),
    (
        "415",
        "The body is not JSON (Content-Type: application/json)",
    ),
];

/// Adds the shared answers to every operation that can give them and does not
/// document them yet (its own description, more precise, stays).
pub(crate) fn add_shared_responses(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for operation in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(Value::as_object_mut)
    {
        let keyed = operation
            .get("security")
            .and_then(Value::as_array)
            .is_some_and(|alternatives| alternatives.iter().any(|r| r.get("apiKey").is_some()));
        let with_body = operation.contains_key("requestBody");
        let responses = operation
            .entry("responses")
            .or_insert_with(|| Value::Object(Map::new()));
        let Some(responses) = responses.as_object_mut() else {
            continue;
        };
        let shared = EVERY
            .iter()
            .chain(KEYED.iter().filter(|_| keyed))
            .chain(WITH_BODY.iter().filter(|_| with_body));
        for (status, description) in shared {
            responses.entry(*status).or_insert_with(|| {
                json!({
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                })
            });
        }
    }
}

/// Schemas serde flattens over a closed object (`deny_unknown_fields`) come out
/// of utoipa as `allOf: [closed, extra fields]`, which nothing can satisfy: the
/// closed part refuses the extra fields. They are one closed object on the wire
/// (`AppConfig`: the config body plus `appId`, `version`, `updatedAt`).
pub(crate) fn merge_closed_all_of(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let closed: Map<String, Value> = schemas
        .iter()
        .filter(|(_, s)| s.get("additionalProperties") == Some(&Value::Bool(false)))
        .map(|(name, s)| (format!("#/components/schemas/{name}"), s.clone()))
        .collect();
    for schema in schemas.values_mut() {
        let Some(parts) = schema.get("allOf").and_then(Value::as_array) else {
            continue;
        };
        let resolved: Vec<&Value> = parts
            .iter()
            .map(|p| match p.get("$ref").and_then(Value::as_str) {
                Some(target) => closed.get(target).unwrap_or(p),
                None => p,
            })
            .collect();
        let merges = resolved
            .iter()
            .any(|p| p.get("additionalProperties") == Some(&Value::Bool(false)))
            && resolved
                .iter()
                .all(|p| p.get("$ref").is_none() && p.get("properties").is_some());
        if !merges {
            continue;
        }
        let mut properties = Map::new();
        let mut required = Vec::new();
        for part in &resolved {
            if let Some(p) = part.get("properties").and_then(Value::as_object) {
                properties.extend(p.clone());
            }
            if let Some(r) = part.get("required").and_then(Value::as_array) {
                required.extend(r.iter().cloned());
            }
        }
        let mut merged = json!({
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false,
        });
        if let Some(description) = schema.get("description") {
            merged["description"] = description.clone();
        }
        *schema = merged;
    }
}

/// Rules the derive cannot state: a header is never `null` (utoipa makes every
/// optional parameter nullable), and feature flag names follow the config's rule.
pub(crate) fn tighten(doc: &mut Value) {
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        let headers = paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(|item| item.values_mut())
            .filter_map(|op| op.get_mut("parameters").and_then(Value::as_array_mut))
            .flatten()
            .filter(|p| p.get("in").and_then(Value::as_str) == Some("header"));
        for header in headers {
            if let Some(kind) = header.pointer_mut("/schema/type")
                && kind.is_array()
            {
                *kind = json!("string");
            }
        }
    }
    for list in ["read", "write"] {
        if let Some(items) = doc.pointer_mut(&format!(
            "/components/schemas/Permissions/properties/{list}/items"
        )) {
            // `*`, `role:<name>` or a user id: no whitespace or control characters.
            *items = json!({"type": "string", "minLength": 1, "maxLength": 128,
                "pattern": "^[^\\s\\u0085\\u0000-\\u001f\\u007f-\\u009f]+$"});
        }
    }
    if let Some(flags) = doc.pointer_mut("/components/schemas/ConfigBody/properties/featureFlags") {
        flags["propertyNames"] = json!({"pattern": "^[A-Za-z0-9_.-]{1,64}$"});
    }
    // A profile is stored as a DynamoDB document (`ob_core::users::validate_profile`):
    // numbers 0 or of magnitude 1e-130 to below 1e126 (the 38 digits DynamoDB keeps
    // are more than a JSON number read as a double has), nesting at most 31 levels
    // (not stated: a schema's nesting is its own), 8 KiB of JSON (413).
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        let stored = json!({"$ref": "#/components/schemas/StoredJson"});
        schemas.insert(
            "StoredJson".into(),
            json!({
                "description": "A JSON value DynamoDB stores as a document",
                "anyOf": [
                    {"type": ["string", "boolean", "null"]},
                    {"type": "number", "exclusiveMinimum": -1e126, "exclusiveMaximum": 1e126,
                        "not": {"exclusiveMinimum": -1e-130, "exclusiveMaximum": 1e-130,
                            "not": {"const": 0}}},
                    {"type": "array", "items": stored},
                    {"type": "object", "additionalProperties": stored},
                ],
            }),
        );
        if let Some(profile) = schemas
            .get_mut("RegisterRequest")
            .and_then(|r| r.pointer_mut("/properties/profile"))
        {
            *profile = json!({"type": ["object", "null"], "additionalProperties": stored,
                "description": "Any JSON object DynamoDB stores: numbers 0 or of magnitude 1e-130 to below 1e126, at most 31 levels deep and 8 KiB (413 above)"});
        }
    }
    // File names and keys by the segment rules of `ob_core::files::names`.
    let segment = ob_core::files::names::SEGMENT_PATTERN;
    let key_pattern = format!("^[a-z0-9][a-z0-9-]{{1,63}}/{segment}(?:/{segment})+$");
    if let Some(name) = doc.pointer_mut("/components/schemas/UploadBody/properties/fileName") {
        name["pattern"] = json!(format!("^{segment}(?:/{segment})*$"));
    }
    if let Some(key) = doc.pointer_mut("/components/schemas/KeyBody/properties/key") {
        key["pattern"] = json!(key_pattern);
    }
    if let Some(key) = doc
        .pointer_mut("/paths/~1files~1{appId}~1delete/delete/parameters")
        .and_then(Value::as_array_mut)
        .and_then(|parameters| parameters.iter_mut().find(|p| p["name"] == "key"))
    {
        key["schema"]["pattern"] = json!(key_pattern);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `OB_UPDATE_OPENAPI=1 cargo test --workspace --locked committed_openapi` rewrites the file.
    #[test]
    fn the_committed_openapi_document_is_the_generated_one() {
        let generated = serde_json::to_string_pretty(&crate::openapi_document()).unwrap() + "\n";
        if std::env::var_os("OB_UPDATE_OPENAPI").is_some() {
            std::fs::write(
                concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json"),
                &generated,
            )
            .unwrap();
            return;
        }
        assert!(
            DOCUMENT == generated,
            "functions/api/openapi.json is not the document the routes generate: run \
             `OB_UPDATE_OPENAPI=1 cargo test --workspace --locked committed_openapi` and commit the file"
        );
    }
}
