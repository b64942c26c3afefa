//! The rules of `POST /notify/{appId}` in the OpenAPI document: which recipients each channel reaches, a template
//! name or a message (one of the two), and the variables' names and values (`ob_core::notify`).

use serde_json::{Value, json};

/// An e-mail address as `ob_core::users::normalize_email` takes it (the register route's pattern).
const EMAIL: &str = r"^\s*[^\s\u0085@]+@[^\s\u0085@.][^\s\u0085@]*\.[^\s\u0085@]*[^\s\u0085@.]\s*$";

pub(crate) fn notify_rules(doc: &mut Value) {
    let Some(request) = doc.pointer_mut("/components/schemas/NotifyRequest") else {
        return;
    };
    let recipient = |name: &str, value: Value| {
        json!({"type": "object", "required": [name], "properties": {name: value},
            "additionalProperties": false})
    };
    let user = recipient(
        "userId",
        json!({"type": "string", "pattern": "^[!-~]{1,64}$"}),
    );
    let email = recipient(
        "email",
        json!({"type": "string", "maxLength": 254, "pattern": EMAIL}),
    );
    let phone = recipient(
        "phone",
        json!({"type": "string", "pattern": r"^\+[1-9][0-9]{7,14}$"}),
    );
    let to = |items: Value| json!({"items": items});
    let channel = |name: &str, items: Value| json!({"properties": {"channel": {"const": name}, "to": to(items)}});
    request["properties"]["to"] = json!({
        "type": "array", "minItems": 1, "maxItems": 50, "uniqueItems": true,
        "description": "1 to 50 distinct recipients: `{\"userId\"}` (email, realtime), `{\"email\"}` (email), `{\"phone\"}` (sms, E.164)",
    });
    request["properties"]["template"] = json!({"type": ["string", "null"], "pattern": "^[A-Za-z0-9_-]{1,64}$",
            "description": "A template of the app's config (`notifications.templates.<name>`)…"});
    request["properties"]["variables"] = json!({
        "type": ["object", "null"], "maxProperties": 50,
        "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$"},
        "additionalProperties": {"anyOf": [{"type": "string", "maxLength": 4096},
            {"type": ["number", "boolean"]}]},
        "description": "Values of the `{{name}}` placeholders (HTML-escaped in an HTML body)",
    });
    request["allOf"] = json!([
        {"oneOf": [
            channel("email", json!({"anyOf": [user, email]})),
            channel("realtime", user),
            channel("sms", phone),
        ]},
        {"oneOf": [
            {"required": ["template"], "properties": {"template": {"type": "string"},
                "message": {"type": "null"}}},
            {"required": ["message"], "properties": {"message": {"type": "object"},
                "template": {"type": "null"}}},
        ]},
    ]);
}
