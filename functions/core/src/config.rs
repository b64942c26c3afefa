//! Per-app config: feature flags, allowed origins, indexed fields and upload limits; validated and versioned.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::ReturnValue;
use serde::{Deserialize, Serialize};

use crate::apps::{is_conditional_failure, validate_origin};
use crate::attr::{self, Item};
use crate::clock;
use crate::error::{Error, Result};
use crate::store::Store;
use crate::tables::CONFIG;

const MAX_FLAGS: usize = 200;
const MAX_ORIGINS: usize = 50;
const MAX_RESOURCES: usize = 50;
const MAX_FIELDS_PER_RESOURCE: usize = 10;
const MAX_MIME_TYPES: usize = 50;
/// Upper bound of `uploads.maxBytes`: S3's single presigned PUT limit.
pub const MAX_UPLOAD_BYTES: u64 = 5 * 1024 * 1024 * 1024;
pub const DEFAULT_UPLOAD_BYTES: u64 = 10 * 1024 * 1024;

/// Limits for file uploads of the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadLimits {
    pub max_bytes: u64,
    /// `type/subtype` or `type/*`; empty allows every type.
    #[serde(default)]
    pub allowed_mime_types: Vec<String>,
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_UPLOAD_BYTES,
            allowed_mime_types: Vec::new(),
        }
    }
}

/// The app's own request limits per minute; absent values take the stage's
/// defaults (`api.limits` of the stage file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestLimits {
    /// Requests per minute of the whole app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u32>,
    /// Requests per minute from one client address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute_per_client: Option<u32>,
}

/// The largest per-minute limit an app may set.
pub const MAX_REQUESTS_PER_MINUTE: u32 = 1_000_000;

/// The replaceable part of an app's config (the body of `PUT /config/{appId}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigBody {
    #[serde(default)]
    pub feature_flags: BTreeMap<String, bool>,
    /// Browser origins allowed in addition to the stage's.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Per resource, the record fields that get an index entry.
    #[serde(default)]
    pub indexed_fields: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub uploads: UploadLimits,
    #[serde(default)]
    pub limits: RequestLimits,
}

/// An app's config as stored and served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AppConfig {
    pub app_id: String,
    /// 0 until the first `PUT`; each replacement increments it.
    pub version: u64,
    #[serde(flatten)]
    pub body: ConfigBody,
    pub updated_at: Option<String>,
}

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

impl ConfigBody {
    /// Checks every limit and name; errors name the offending field.
    pub fn validate(&self) -> Result<()> {
        if self.feature_flags.len() > MAX_FLAGS {
            return Err(Error::invalid(
                "featureFlags",
                format!("at most {MAX_FLAGS} flags"),
            ));
        }
        for name in self.feature_flags.keys() {
            if !name_ok(name, 64, b"_.-", false) {
                return Err(Error::invalid(
                    format!("featureFlags.{name}"),
                    "flag names are 1 to 64 characters of A-Z, a-z, 0-9, '_', '.', '-'",
                ));
            }
        }
        if self.allowed_origins.len() > MAX_ORIGINS {
            return Err(Error::invalid(
                "allowedOrigins",
                format!("at most {MAX_ORIGINS} origins"),
            ));
        }
        for (i, origin) in self.allowed_origins.iter().enumerate() {
            validate_origin(&format!("allowedOrigins[{i}]"), origin)?;
        }
        if self.indexed_fields.len() > MAX_RESOURCES {
            return Err(Error::invalid(
                "indexedFields",
                format!("at most {MAX_RESOURCES} resources"),
            ));
        }
        for (resource, fields) in &self.indexed_fields {
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
        for (name, value) in [
            ("limits.requestsPerMinute", self.limits.requests_per_minute),
            (
                "limits.requestsPerMinutePerClient",
                self.limits.requests_per_minute_per_client,
            ),
        ] {
            if value.is_some_and(|v| !(1..=MAX_REQUESTS_PER_MINUTE).contains(&v)) {
                return Err(Error::invalid(
                    name,
                    format!("must be 1 to {MAX_REQUESTS_PER_MINUTE}"),
                ));
            }
        }
        if !(1..=MAX_UPLOAD_BYTES).contains(&self.uploads.max_bytes) {
            return Err(Error::invalid(
                "uploads.maxBytes",
                format!("must be 1 to {MAX_UPLOAD_BYTES}"),
            ));
        }
        if self.uploads.allowed_mime_types.len() > MAX_MIME_TYPES {
            return Err(Error::invalid(
                "uploads.allowedMimeTypes",
                format!("at most {MAX_MIME_TYPES} types"),
            ));
        }
        for (i, mime) in self.uploads.allowed_mime_types.iter().enumerate() {
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

    /// Top-level field names whose value differs (for the audit log).
    pub fn changed_fields(&self, other: &ConfigBody) -> Vec<String> {
        let mut changed = Vec::new();
        if self.feature_flags != other.feature_flags {
            changed.push("featureFlags".to_owned());
        }
        if self.allowed_origins != other.allowed_origins {
            changed.push("allowedOrigins".to_owned());
        }
        if self.indexed_fields != other.indexed_fields {
            changed.push("indexedFields".to_owned());
        }
        if self.uploads != other.uploads {
            changed.push("uploads".to_owned());
        }
        if self.limits != other.limits {
            changed.push("limits".to_owned());
        }
        changed
    }
}

/// Reads an app's config; an app that never stored one has the defaults at version 0.
pub async fn get(store: &Store, app_id: &str) -> Result<AppConfig> {
    let out = store
        .client
        .get_item()
        .table_name(store.config_table()?)
        .key(CONFIG.partition_key, attr::s(app_id))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| Error::sdk("get config", e))?;
    match out.item {
        Some(item) => from_item(app_id, &item),
        None => Ok(AppConfig {
            app_id: app_id.to_owned(),
            version: 0,
            body: ConfigBody::default(),
            updated_at: None,
        }),
    }
}

/// Replaces an app's config. With `expected_version`, only if that version is
/// current (`PreconditionFailed` with the current one otherwise). Returns the
/// new config and the previous one.
pub async fn put(
    store: &Store,
    app_id: &str,
    body: ConfigBody,
    expected_version: Option<u64>,
) -> Result<(AppConfig, AppConfig)> {
    body.validate()?;
    let now = clock::now_rfc3339();
    let json = serde_json::to_value(&body).map_err(|e| Error::internal("encode config", e))?;
    let mut request = store
        .client
        .update_item()
        .table_name(store.config_table()?)
        .key(CONFIG.partition_key, attr::s(app_id))
        .update_expression(
            "SET featureFlags = :ff, allowedOrigins = :ao, indexedFields = :ix, uploads = :up, limits = :lim, updatedAt = :now ADD version :one",
        )
        .expression_attribute_values(":ff", attr::from_json(&json["featureFlags"]))
        .expression_attribute_values(":ao", attr::from_json(&json["allowedOrigins"]))
        .expression_attribute_values(":ix", attr::from_json(&json["indexedFields"]))
        .expression_attribute_values(":up", attr::from_json(&json["uploads"]))
        .expression_attribute_values(":lim", attr::from_json(&json["limits"]))
        .expression_attribute_values(":now", attr::s(&now))
        .expression_attribute_values(":one", attr::n(1))
        .return_values(ReturnValue::AllOld);
    request = match expected_version {
        Some(0) => request
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", CONFIG.partition_key),
        Some(version) => request
            .condition_expression("version = :expected")
            .expression_attribute_values(":expected", attr::n(version)),
        None => request,
    };
    match request.send().await {
        Ok(out) => {
            let old = match out.attributes {
                Some(item) if !item.is_empty() => from_item(app_id, &item)?,
                _ => AppConfig {
                    app_id: app_id.to_owned(),
                    version: 0,
                    body: ConfigBody::default(),
                    updated_at: None,
                },
            };
            let new = AppConfig {
                app_id: app_id.to_owned(),
                version: old.version + 1,
                body,
                updated_at: Some(now),
            };
            Ok((new, old))
        }
        Err(err) if is_conditional_failure(&err) => {
            let current = get(store, app_id).await?;
            Err(Error::PreconditionFailed {
                current_version: current.version,
            })
        }
        Err(err) => Err(Error::sdk("put config", err)),
    }
}

fn from_item(app_id: &str, item: &Item) -> Result<AppConfig> {
    let mut json = serde_json::Map::new();
    for name in [
        "featureFlags",
        "allowedOrigins",
        "indexedFields",
        "uploads",
        "limits",
    ] {
        if let Some(value) = item.get(name) {
            json.insert(name.to_owned(), attr::to_json(value));
        }
    }
    let body: ConfigBody = serde_json::from_value(serde_json::Value::Object(json))
        .map_err(|e| Error::internal("decode stored config", e))?;
    Ok(AppConfig {
        app_id: app_id.to_owned(),
        version: attr::opt_i64(item, "version")
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(0),
        body,
        updated_at: attr::opt_s(item, "updatedAt"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: serde_json::Value) -> std::result::Result<ConfigBody, serde_json::Error> {
        serde_json::from_value(json)
    }

    fn field_of(err: Error) -> String {
        match err {
            Error::Invalid { field, .. } => field,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn valid_config_passes() {
        let config = body(serde_json::json!({
            "featureFlags": {"beta.search": true},
            "allowedOrigins": ["https://shop.example"],
            "indexedFields": {"posts": ["authorId", "status"]},
            "uploads": {"maxBytes": 1000, "allowedMimeTypes": ["image/*", "application/pdf"]}
        }))
        .unwrap();
        config.validate().unwrap();
        assert_eq!(ConfigBody::default().changed_fields(&config).len(), 4);
        assert!(config.changed_fields(&config).is_empty());
    }

    #[test]
    fn invalid_fields_are_named() {
        let cases = [
            (
                serde_json::json!({"allowedOrigins": ["https://ok.example", "nope"]}),
                "allowedOrigins[1]",
            ),
            (
                serde_json::json!({"featureFlags": {"bad flag": true}}),
                "featureFlags.bad flag",
            ),
            (
                serde_json::json!({"indexedFields": {"po/sts": ["a"]}}),
                "indexedFields.po/sts",
            ),
            (
                serde_json::json!({"indexedFields": {"posts": ["a", "a"]}}),
                "indexedFields.posts[1]",
            ),
            (
                serde_json::json!({"uploads": {"maxBytes": 0}}),
                "uploads.maxBytes",
            ),
            (
                serde_json::json!({"uploads": {"maxBytes": 1, "allowedMimeTypes": ["image"]}}),
                "uploads.allowedMimeTypes[0]",
            ),
        ];
        for (json, field) in cases {
            assert_eq!(field_of(body(json).unwrap().validate().unwrap_err()), field);
        }
        assert!(body(serde_json::json!({"unknown": 1})).is_err());
    }

    #[test]
    fn stored_items_round_trip() {
        let config = body(
            serde_json::json!({"featureFlags": {"x": false}, "indexedFields": {"posts": ["a"]}}),
        )
        .unwrap();
        let json = serde_json::to_value(&config).unwrap();
        let mut item = Item::new();
        for (k, v) in json.as_object().unwrap() {
            item.insert(k.clone(), attr::from_json(v));
        }
        item.insert("version".into(), attr::n(3));
        let stored = from_item("shop", &item).unwrap();
        assert_eq!((stored.version, stored.body), (3, config));
    }
}
