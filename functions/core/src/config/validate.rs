//! Limits and name rules of the system keys; every error names the offending field.

use serde_json::{Number, Value};

use super::{ConfigBody, MAX_REQUESTS_PER_MINUTE, MAX_UPLOAD_BYTES, SETTINGS_KEY, settings};
use crate::apps::validate_origin;
use crate::error::{Error, Result};

pub const MAX_FLAGS: usize = 200;
pub const MAX_ORIGINS: usize = 50;
pub const MAX_RESOURCES: usize = 50;
pub const MAX_FIELDS_PER_RESOURCE: usize = 10;
pub const MAX_MIME_TYPES: usize = 50;

fn name_ok(name: &str, max: usize, extra: &[u8], first_alpha: bool) -> bool {
    (1..=max).contains(&name.len())
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
        && (!first_alpha
            || name
                .bytes()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_'))
}

/// Checks every limit and name of a config body.
pub(super) fn body(config: &ConfigBody) -> Result<()> {
    feature_flags(config)?;
    allowed_origins(config)?;
    indexed_fields(config)?;
    uploads(config)?;
    config.auth.validate()?;
    if let Some(templates) = &config.notifications {
        templates.validate()?;
    }
    limits(config)?;
    if let Some(values) = &config.settings {
        settings::check_size(values)?;
    }
    Ok(())
}

fn feature_flags(config: &ConfigBody) -> Result<()> {
    if config.feature_flags.len() > MAX_FLAGS {
        return Err(Error::invalid(
            "featureFlags",
            format!("at most {MAX_FLAGS} flags"),
        ));
    }
    for name in config.feature_flags.keys() {
        if !name_ok(name, 64, b"_.-", false) {
            return Err(Error::invalid(
                format!("featureFlags.{name}"),
                "flag names are 1 to 64 characters of A-Z, a-z, 0-9, '_', '.', '-'",
            ));
        }
    }
    Ok(())
}

fn allowed_origins(config: &ConfigBody) -> Result<()> {
    if config.allowed_origins.len() > MAX_ORIGINS {
        return Err(Error::invalid(
            "allowedOrigins",
            format!("at most {MAX_ORIGINS} origins"),
        ));
    }
    for (i, origin) in config.allowed_origins.iter().enumerate() {
        validate_origin(&format!("allowedOrigins[{i}]"), origin)?;
    }
    Ok(())
}

fn indexed_fields(config: &ConfigBody) -> Result<()> {
    if config.indexed_fields.len() > MAX_RESOURCES {
        return Err(Error::invalid(
            "indexedFields",
            format!("at most {MAX_RESOURCES} resources"),
        ));
    }
    for (resource, fields) in &config.indexed_fields {
        // The same rule as the data API's resource names, so any resource can be indexed.
        if crate::data::validate_resource(resource).is_err() {
            return Err(Error::invalid(
                format!("indexedFields.{resource}"),
                "resource names are 1 to 64 characters of A-Z, a-z, 0-9, '_', '-'",
            ));
        }
        if fields.len() > MAX_FIELDS_PER_RESOURCE {
            return Err(Error::invalid(
                format!("indexedFields.{resource}"),
                format!("at most {MAX_FIELDS_PER_RESOURCE} indexed fields per resource"),
            ));
        }
        for (i, field) in fields.iter().enumerate() {
            if !name_ok(field, 64, b"_", true) || fields[..i].contains(field) {
                return Err(Error::invalid(
                    format!("indexedFields.{resource}[{i}]"),
                    "field names are distinct identifiers of A-Z, a-z, 0-9, '_'",
                ));
            }
        }
    }
    Ok(())
}

fn limits(config: &ConfigBody) -> Result<()> {
    let l = &config.limits;
    for (name, value) in [
        ("limits.requestsPerMinute", l.requests_per_minute),
        (
            "limits.requestsPerMinutePerClient",
            l.requests_per_minute_per_client,
        ),
    ] {
        if value.is_some_and(|v| !(1..=MAX_REQUESTS_PER_MINUTE).contains(&v)) {
            return Err(Error::invalid(
                name,
                format!("must be 1 to {MAX_REQUESTS_PER_MINUTE}"),
            ));
        }
    }
    Ok(())
}

fn uploads(config: &ConfigBody) -> Result<()> {
    if !(1..=MAX_UPLOAD_BYTES).contains(&config.uploads.max_bytes) {
        return Err(Error::invalid(
            "uploads.maxBytes",
            format!("must be 1 to {MAX_UPLOAD_BYTES}"),
        ));
    }
    if config.uploads.allowed_mime_types.len() > MAX_MIME_TYPES {
        return Err(Error::invalid(
            "uploads.allowedMimeTypes",
            format!("at most {MAX_MIME_TYPES} types"),
        ));
    }
    for (i, mime) in config.uploads.allowed_mime_types.iter().enumerate() {
        let ok = mime.split_once('/').is_some_and(|(kind, sub)| {
            name_ok(kind, 64, b"-.+", false) && (sub == "*" || name_ok(sub, 128, b"-.+", false))
        });
        if !ok {
            return Err(Error::invalid(
                format!("uploads.allowedMimeTypes[{i}]"),
                "must be type/subtype or type/*",
            ));
        }
    }
    Ok(())
}

/// Numbers with no fraction written as floats (`56427.0`, `1e3`) are the
/// integers they equal, as JSON Schema counts them; serde reads integer fields
/// only from integer literals, so they are rewritten before the config is read.
/// `settings`, the app's own values, are kept as written.
pub(super) fn integral_floats_as_integers(config: &mut Value) {
    if let Value::Object(map) = config {
        for (_, value) in map
            .iter_mut()
            .filter(|(key, _)| key.as_str() != SETTINGS_KEY)
        {
            integral_floats_to_integers(value);
        }
    }
}

/// Rewrites every number with no fraction written as a float (within ±2^53,
/// where each is exact) as that integer; whether it rewrote any.
pub fn integral_floats_to_integers(value: &mut Value) -> bool {
    match value {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 {
                #[allow(clippy::cast_possible_truncation)]
                let int = f as i64;
                *n = Number::from(int);
                true
            } else {
                false
            }
        }
        Value::Array(items) => {
            let mut any = false;
            for item in items {
                any |= integral_floats_to_integers(item);
            }
            any
        }
        Value::Object(map) => {
            let mut any = false;
            for item in map.values_mut() {
                any |= integral_floats_to_integers(item);
            }
            any
        }
        _ => false,
    }
}

/// Why a merge patch whose result is invalid is refused: a patch that is
/// valid on its own (applied to the defaults) but not on the current config
/// (more flags, resources or templates than allowed, together with the ones
/// there) conflicts with the current state (409); anything else is the
/// patch's own error.
pub(super) fn patch_refusal(changes: &Value, err: Error) -> Error {
    let Error::Invalid { field, message } = err else {
        return err;
    };
    let mut alone = serde_json::to_value(ConfigBody::default()).unwrap_or(Value::Null);
    super::merge_patch(&mut alone, changes);
    if ConfigBody::from_json(alone).is_ok() {
        Error::Conflict(format!(
            "{field}: {message} (together with the current config; remove some first)"
        ))
    } else {
        Error::Invalid { field, message }
    }
}

/// serde reads a struct from an array too (`"limits": [null, null]`); the
/// document, and every client, says object: each struct of the config body
/// must be given as one (or be absent).
pub(super) fn structs_are_objects(config: &Value) -> Result<()> {
    let mut structs: Vec<(String, &Value)> = Vec::new();
    for key in ["uploads", "limits", "auth", "notifications"] {
        if let Some(value) = config.get(key) {
            structs.push((key.to_owned(), value));
        }
    }
    if let Some(value) = config.pointer("/auth/requireVerifiedEmail") {
        structs.push(("auth.requireVerifiedEmail".into(), value));
    }
    if let Some(Value::Object(templates)) = config.pointer("/notifications/templates") {
        for (name, template) in templates {
            structs.push((format!("notifications.templates.{name}"), template));
        }
    }
    match structs.into_iter().find(|(_, value)| value.is_array()) {
        Some((field, _)) => Err(Error::invalid(field, "must be a JSON object")),
        None => Ok(()),
    }
}
