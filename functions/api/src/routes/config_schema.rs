//! The config's rules in the OpenAPI document: what `ob_core::config` validation accepts, as JSON Schema, and the
//! merge patch of `PATCH /config/{appId}` derived from it.
//!
//! Only rules on one value are stated; the ones on a merge patch's result together with the current config (more
//! flags, resources or templates than allowed) are answered 409, and sizes in bytes beyond the app's 32 KiB of
//! settings or 128 KiB of templates 413.

use ob_core::config::{
    MAX_FIELDS_PER_RESOURCE, MAX_FLAGS, MAX_MIME_TYPES, MAX_ORIGINS, MAX_RESOURCES, MAX_TEMPLATES,
};
use ob_core::notify::AccountMail;
use ob_core::notify::template::{MAX_BODY_CHARS, MAX_SUBJECT_CHARS};
use serde_json::{Map, Value, json};

/// Unicode White_Space (what `str::trim` removes around a placeholder's name), as a character class body.
const WHITE_SPACE: &str =
    r"\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// The same without the line breaks a subject may not hold.
const WHITE_SPACE_ONE_LINE: &str =
    r"\t\u000b\f \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// A variable name (`ob_core::notify::template`).
const ANY_VARIABLE: &str = "[A-Za-z_][A-Za-z0-9_]{0,63}";

/// One piece of a template part: a character other than `{`, a `{` not opening
/// a placeholder, or a `{{ name }}` placeholder whose name matches `names`.
fn piece(names: &str, one_line: bool) -> String {
    let (ws, other) = if one_line {
        (WHITE_SPACE_ONE_LINE, r"[^{\r\n]")
    } else {
        (WHITE_SPACE, "[^{]")
    };
    [
        "(?:",
        other,
        r"|\{",
        other,
        r"|\{$|\{\{[",
        ws,
        "]*(?:",
        names,
        ")[",
        ws,
        r"]*\}\})",
    ]
    .concat()
}

/// A whole part; with `link`, one holding a `{{ link }}` placeholder.
fn part(names: &str, one_line: bool, link: bool) -> String {
    let piece = piece(names, one_line);
    if link {
        let ws = if one_line {
            WHITE_SPACE_ONE_LINE
        } else {
            WHITE_SPACE
        };
        format!(r"^{piece}*\{{\{{[{ws}]*link[{ws}]*\}}\}}{piece}*$")
    } else {
        format!("^{piece}*$")
    }
}

/// A template: text with `names` placeholders in each part, a text or an HTML
/// body, and for an account e-mail's override a `{{link}}` in some part.
fn template(names: &str, needs_link: bool) -> Value {
    let parts = |link_in: Option<&str>| {
        json!({
            "subject": {"type": "string", "maxLength": MAX_SUBJECT_CHARS,
                "pattern": part(names, true, link_in == Some("subject"))},
            "text": {"type": ["string", "null"], "maxLength": MAX_BODY_CHARS,
                "pattern": part(names, false, link_in == Some("text"))},
            "html": {"type": ["string", "null"], "maxLength": MAX_BODY_CHARS,
                "pattern": part(names, false, link_in == Some("html"))},
        })
    };
    let body = |name: &str| json!({"required": [name], "properties": {name: {"type": "string"}}});
    let mut schema = json!({
        "type": "object",
        "description": "A message template: `{{ name }}` placeholders, a text or an HTML body",
        "additionalProperties": false,
    });
    if needs_link {
        // Every branch states every part, so no two patterns apply to one string.
        let branch = |link_in: &str, body_in: &str| {
            let mut branch = body(body_in);
            if link_in == "subject" {
                branch["required"] = json!(["subject", body_in]);
            }
            branch["properties"] = parts(Some(link_in));
            branch["properties"][body_in]["type"] = json!("string");
            branch
        };
        schema["properties"] = json!({"subject": {}, "text": {}, "html": {}});
        schema["anyOf"] = json!([
            branch("text", "text"),
            branch("html", "html"),
            branch("subject", "text"),
            branch("subject", "html"),
        ]);
    } else {
        schema["properties"] = parts(None);
        schema["anyOf"] = json!([body("text"), body("html")]);
    }
    schema
}

/// States the value rules of `ob_core::config::validate` in `ConfigBody` and the schemas it uses.
pub(crate) fn config_rules(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if let Some(body) = schemas
        .get_mut("ConfigBody")
        .and_then(|b| b.get_mut("properties"))
    {
        body["featureFlags"]["maxProperties"] = json!(MAX_FLAGS);
        body["allowedOrigins"]["maxItems"] = json!(MAX_ORIGINS);
        body["allowedOrigins"]["items"]["pattern"] = json!(ob_core::apps::ORIGIN_PATTERN);
        body["indexedFields"] = json!({
            "type": "object",
            "description": "Per resource, the record fields that get an index entry.",
            "maxProperties": MAX_RESOURCES,
            "propertyNames": {"pattern": "^[A-Za-z0-9_-]{1,64}$"},
            "additionalProperties": {"type": "array", "maxItems": MAX_FIELDS_PER_RESOURCE,
                "uniqueItems": true,
                "items": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$"}},
        });
    }
    if let Some(types) = schemas
        .get_mut("UploadLimits")
        .and_then(|u| u.pointer_mut("/properties/allowedMimeTypes"))
    {
        types["maxItems"] = json!(MAX_MIME_TYPES);
        types["items"]["pattern"] = json!(r"^[A-Za-z0-9.+-]{1,64}/(?:\*|[A-Za-z0-9.+-]{1,128})$");
    }
    if let Some(auth) = schemas
        .get_mut("AuthConfig")
        .and_then(|a| a.get_mut("properties"))
    {
        for url in ["passwordResetUrl", "emailVerificationUrl"] {
            auth[url]["maxLength"] = json!(1024);
            auth[url]["pattern"] = json!(ob_core::notify::links::PAGE_URL_PATTERN);
        }
    }
    schemas.insert("Template".into(), template(ANY_VARIABLE, false));
    let mut overrides = Map::new();
    for mail in [AccountMail::PasswordReset, AccountMail::EmailVerification] {
        overrides.insert(
            mail.template_name().to_owned(),
            template(&AccountMail::VARIABLES.join("|"), true),
        );
    }
    if let Some(templates) = schemas
        .get_mut("NotificationsConfig")
        .and_then(|n| n.pointer_mut("/properties/templates"))
    {
        templates["maxProperties"] = json!(MAX_TEMPLATES);
        templates["propertyNames"] = json!({"pattern": "^[A-Za-z0-9_-]{1,64}$"});
        // The account e-mails' overrides may use only their variables and must link.
        templates["properties"] = Value::Object(overrides);
    }
}

/// `PATCH /config/{appId}` takes a JSON Merge Patch (RFC 7396) of the config
/// body: each key's patch, or `null` (which restores the default). Objects
/// merge, so a struct's patch has each field's patch (null only where the
/// field has a default) and a map's each entry's (null removes it); anything
/// else (arrays, numbers, a template) is replaced whole.
pub(crate) fn config_patch_schema(doc: &mut Value) {
    let schemas = doc
        .pointer("/components/schemas")
        .cloned()
        .unwrap_or_default();
    let Some(body) = schemas.get("ConfigBody") else {
        return;
    };
    let patch = patch_of(&schemas, body, false);
    let pointer =
        "/paths/~1config~1{appId}/patch/requestBody/content/application~1merge-patch+json/schema";
    if let Some(schema) = doc.pointer_mut(pointer) {
        *schema = patch;
    }
}

/// The schema a `$ref` (or a `oneOf` of one schema and `null`) stands for.
fn resolve<'a>(schemas: &'a Value, schema: &'a Value) -> &'a Value {
    if let Some(name) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
    {
        return schemas.get(name).map_or(schema, |s| resolve(schemas, s));
    }
    if let Some([one, other]) = schema
        .get("oneOf")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        && other.get("type") == Some(&json!("null"))
    {
        return resolve(schemas, one);
    }
    schema
}

fn patch_of(schemas: &Value, schema: &Value, nullable: bool) -> Value {
    let schema = resolve(schemas, schema);
    let object = schema.get("type").is_some_and(|t| {
        t == "object" || t.as_array().is_some_and(|ts| ts.contains(&json!("object")))
    }) && schema.get("anyOf").is_none();
    let entries = schema.get("additionalProperties").filter(|a| a.is_object());
    let fields = schema.get("properties").and_then(Value::as_object);
    let patch = match (object, entries, fields) {
        // A map: each entry's patch, or null to remove it; fixed entries (the
        // account e-mails' template overrides) are replaced whole.
        (true, Some(entries), fixed) => {
            let mut patch = schema.clone();
            patch["additionalProperties"] = patch_of(schemas, entries, true);
            if let Some(fixed) = fixed {
                let fixed: Map<String, Value> = fixed
                    .iter()
                    .map(|(name, entry)| {
                        let entry = nullable_fields(resolve(schemas, entry).clone());
                        (name.clone(), nullable_schema(entry))
                    })
                    .collect();
                patch["properties"] = Value::Object(fixed);
            }
            patch
        }
        // A struct: each field's patch, or null where the field has a default.
        (true, None, Some(fields)) => {
            let required = schema.get("required").and_then(Value::as_array);
            let fields: Map<String, Value> = fields
                .iter()
                .map(|(name, field)| {
                    let defaulted = !required.is_some_and(|r| r.contains(&json!(name)));
                    (name.clone(), patch_of(schemas, field, defaulted))
                })
                .collect();
            let mut patch =
                json!({"type": "object", "properties": fields, "additionalProperties": false});
            if let Some(description) = schema.get("description") {
                patch["description"] = description.clone();
            }
            patch
        }
        // A template: its fields merge too (null restores a default), but it
        // needs a text or an HTML body all the same.
        _ if schema.get("anyOf").is_some() && schema.get("properties").is_some() => {
            nullable_fields(schema.clone())
        }
        // Replaced whole.
        _ => schema.clone(),
    };
    if nullable {
        nullable_schema(patch)
    } else {
        patch
    }
}

/// `schema` with each field that is not required (in it and in each of its
/// `anyOf` branches) also `null`.
fn nullable_fields(mut schema: Value) -> Value {
    fn fields(object: &mut Value) {
        let required = object.get("required").cloned().unwrap_or_default();
        if let Some(properties) = object.get_mut("properties").and_then(Value::as_object_mut) {
            for (name, field) in properties.iter_mut() {
                let needed = required
                    .as_array()
                    .is_some_and(|r| r.contains(&json!(name)));
                if !needed {
                    *field = nullable_schema(field.take());
                }
            }
        }
    }
    fields(&mut schema);
    if let Some(branches) = schema.get_mut("anyOf").and_then(Value::as_array_mut) {
        branches.iter_mut().for_each(fields);
    }
    schema
}

/// `schema` or `null`.
fn nullable_schema(schema: Value) -> Value {
    match schema.get("type") {
        Some(Value::String(kind)) if kind != "null" => {
            let kinds = json!([kind, "null"]);
            let mut schema = schema;
            schema["type"] = kinds;
            schema
        }
        Some(Value::Array(kinds)) if kinds.contains(&json!("null")) => schema,
        _ => json!({"anyOf": [schema, {"type": "null"}]}),
    }
}
