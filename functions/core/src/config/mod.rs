//! Per-app config: the validated system keys (flags, origins, indexed fields, upload limits, auth) and the app's free-form settings and templates, versioned as one.

mod notifications;
mod settings;
mod validate;

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::ReturnValue;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::attr::{self, Item};
use crate::clock;
use crate::condition::OnConditionFailed;
use crate::error::{Error, Result};
use crate::store::Store;
use crate::tables::CONFIG;

pub use notifications::{AuthConfig, MAX_TEMPLATES, NotificationsConfig, RequireVerifiedEmail};
pub use settings::{MAX_SETTINGS_BYTES, Settings, merge_patch};
pub use validate::{
    MAX_FIELDS_PER_RESOURCE, MAX_FLAGS, MAX_MIME_TYPES, MAX_ORIGINS, MAX_RESOURCES,
    integral_floats_to_integers,
};

/// Upper bound of `uploads.maxBytes`: S3's single presigned PUT limit.
pub const MAX_UPLOAD_BYTES: u64 = 5 * 1024 * 1024 * 1024;
pub const DEFAULT_UPLOAD_BYTES: u64 = 10 * 1024 * 1024;

/// The keys the backend itself reads and validates, as named in JSON and in
/// the stored item (`ConfigBody`'s fields; a test holds the two together).
pub const SYSTEM_KEYS: [&str; 6] = [
    "featureFlags",
    "allowedOrigins",
    "indexedFields",
    "uploads",
    "auth",
    "limits",
];
/// The key of the app's own values, beside the system keys.
pub const SETTINGS_KEY: &str = "settings";
/// The key of the app's message templates: like `settings`, read only when
/// needed (sends, admins, signed-in users), never on every request.
pub const NOTIFICATIONS_KEY: &str = "notifications";

/// Writes without `If-Match` that lost a race to another writer are retried this often.
const PATCH_ATTEMPTS: usize = 3;

/// Limits for file uploads of the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadLimits {
    /// 10 MiB when absent.
    #[serde(default = "default_upload_bytes")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 5_368_709_120_u64))]
    pub max_bytes: u64,
    /// `type/subtype` or `type/*`; empty allows every type.
    #[serde(default)]
    pub allowed_mime_types: Vec<String>,
}

fn default_upload_bytes() -> u64 {
    DEFAULT_UPLOAD_BYTES
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
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000))]
    pub requests_per_minute: Option<u32>,
    /// Requests per minute from one client address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000))]
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
    /// Account recovery and verification: link pages, what needs a verified e-mail.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Message templates for `POST /notify` and the account e-mails. Absent
    /// from a replacement means none; absent from a read means not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications: Option<NotificationsConfig>,
    /// Request limits of the app; absent values take the stage's.
    #[serde(default)]
    pub limits: RequestLimits,
    /// The app's own values: any JSON object up to 32 KiB, served only to the
    /// app's signed-in users. Absent from a replacement means empty; absent
    /// from a read means withheld (no signed-in user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub settings: Option<Settings>,
}

/// An app's config as stored and served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AppConfig {
    pub app_id: String,
    /// 0 until the first write; each write increments it.
    pub version: u64,
    #[serde(flatten)]
    pub body: ConfigBody,
    pub updated_at: Option<String>,
}

impl AppConfig {
    fn initial(app_id: &str) -> Self {
        Self {
            app_id: app_id.to_owned(),
            version: 0,
            body: ConfigBody {
                settings: Some(Settings::new()),
                notifications: Some(NotificationsConfig::default()),
                ..ConfigBody::default()
            },
            updated_at: None,
        }
    }

    /// The config as anyone holding the app's (public) API key may read it.
    pub fn without_settings(mut self) -> Self {
        self.body.settings = None;
        self.body.notifications = None;
        self
    }
}

/// The first top-level key of a config object that is neither a system key nor `settings`.
pub fn unknown_key(config: &serde_json::Map<String, Value>) -> Option<&str> {
    config
        .keys()
        .map(String::as_str)
        .find(|k| *k != SETTINGS_KEY && *k != NOTIFICATIONS_KEY && !SYSTEM_KEYS.contains(k))
}

fn unknown_key_error(key: &str) -> Error {
    Error::invalid(
        key,
        format!(
            "not a config key (those are {}, {NOTIFICATIONS_KEY}); keep the app's own values under settings, e.g. settings.{key}",
            SYSTEM_KEYS.join(", ")
        ),
    )
}

impl ConfigBody {
    /// Reads and validates a config from JSON. An unknown top-level key is
    /// refused pointing at `settings.<key>`; other errors name the field.
    pub fn from_json(mut value: Value) -> Result<Self> {
        validate::integral_floats_as_integers(&mut value);
        let Value::Object(map) = &value else {
            return Err(Error::invalid("body", "a config is a JSON object"));
        };
        if let Some(key) = unknown_key(map) {
            return Err(unknown_key_error(key));
        }
        validate::structs_are_objects(&value)?;
        let body: Self = serde_path_to_error::deserialize(value).map_err(|err| {
            let path = err.path().to_string();
            Error::invalid(
                if path == "." { "body".to_owned() } else { path },
                err.into_inner().to_string(),
            )
        })?;
        body.validate()?;
        Ok(body)
    }

    /// Checks every limit and name; errors name the offending field.
    pub fn validate(&self) -> Result<()> {
        validate::body(self)
    }

    /// Top-level field names whose value differs, and each changed setting as
    /// `settings.<key>` (for the audit log).
    pub fn changed_fields(&self, other: &ConfigBody) -> Vec<String> {
        let mut changed = Vec::new();
        let differs = [
            self.feature_flags != other.feature_flags,
            self.allowed_origins != other.allowed_origins,
            self.indexed_fields != other.indexed_fields,
            self.uploads != other.uploads,
            self.auth != other.auth,
            self.limits != other.limits,
        ];
        for (key, differs) in SYSTEM_KEYS.iter().zip(differs) {
            if differs {
                changed.push((*key).to_owned());
            }
        }
        let no_templates = NotificationsConfig::default();
        let (mine, theirs) = (
            self.notifications.as_ref().unwrap_or(&no_templates),
            other.notifications.as_ref().unwrap_or(&no_templates),
        );
        let names: std::collections::BTreeSet<&String> = mine
            .templates
            .keys()
            .chain(theirs.templates.keys())
            .collect();
        for name in names {
            if mine.templates.get(name) != theirs.templates.get(name) {
                changed.push(format!("{NOTIFICATIONS_KEY}.templates.{name}"));
            }
        }
        let empty = Settings::new();
        changed.extend(settings::changed_keys(
            self.settings.as_ref().unwrap_or(&empty),
            other.settings.as_ref().unwrap_or(&empty),
        ));
        changed
    }
}

/// Reads an app's whole config, settings included; an app that never stored
/// one has the defaults at version 0.
pub async fn get(store: &Store, app_id: &str) -> Result<AppConfig> {
    read(store, app_id, true).await
}

/// Reads the system keys only (`settings` is `None`): what the request paths
/// need, without reading up to 32 KiB of settings on every request.
pub async fn get_system(store: &Store, app_id: &str) -> Result<AppConfig> {
    read(store, app_id, false).await
}

async fn read(store: &Store, app_id: &str, with_settings: bool) -> Result<AppConfig> {
    let mut request = store
        .client
        .get_item()
        .table_name(store.config_table()?)
        .key(CONFIG.partition_key, attr::s(app_id))
        .consistent_read(true);
    if !with_settings {
        let names: Vec<&str> = SYSTEM_KEYS
            .iter()
            .copied()
            .chain(["version", "updatedAt"])
            .collect();
        let projection: Vec<String> = (0..names.len()).map(|i| format!("#a{i}")).collect();
        request = request.projection_expression(projection.join(", "));
        for (i, name) in names.into_iter().enumerate() {
            request = request.expression_attribute_names(format!("#a{i}"), name);
        }
    }
    let out = request
        .send()
        .await
        .map_err(|e| Error::sdk("get config", e))?;
    let mut config = match out.item {
        Some(item) => from_item(app_id, &item)?,
        None => AppConfig::initial(app_id),
    };
    if !with_settings {
        config.body.settings = None;
        config.body.notifications = None;
    }
    Ok(config)
}

/// Replaces an app's config. With `expected_version`, only if that version is
/// current (`PreconditionFailed` with the current one otherwise). Returns the
/// new config and the previous one, both with their settings.
pub async fn put(
    store: &Store,
    app_id: &str,
    mut body: ConfigBody,
    expected_version: Option<u64>,
) -> Result<(AppConfig, AppConfig)> {
    body.validate()?;
    let values = body.settings.get_or_insert_with(Settings::new);
    let stored_settings = settings::encoded(values)?;
    body.notifications
        .get_or_insert_with(NotificationsConfig::default);
    let now = clock::now_rfc3339();
    let json = serde_json::to_value(&body).map_err(|e| Error::internal("encode config", e))?;
    let mut request = store
        .client
        .update_item()
        .table_name(store.config_table()?)
        .key(CONFIG.partition_key, attr::s(app_id))
        .update_expression(
            "SET featureFlags = :ff, allowedOrigins = :ao, indexedFields = :ix, uploads = :up, \
             #auth = :au, #notifications = :nt, limits = :lim, settings = :st, updatedAt = :now \
             ADD version :one",
        )
        // `auth` is one of DynamoDB's reserved words.
        .expression_attribute_names("#auth", "auth")
        .expression_attribute_names("#notifications", NOTIFICATIONS_KEY)
        .expression_attribute_values(":ff", attr::from_json(&json["featureFlags"]))
        .expression_attribute_values(":ao", attr::from_json(&json["allowedOrigins"]))
        .expression_attribute_values(":ix", attr::from_json(&json["indexedFields"]))
        .expression_attribute_values(":up", attr::from_json(&json["uploads"]))
        .expression_attribute_values(":au", attr::from_json(&json["auth"]))
        .expression_attribute_values(":nt", attr::from_json(&json[NOTIFICATIONS_KEY]))
        .expression_attribute_values(":lim", attr::from_json(&json["limits"]))
        .expression_attribute_values(":st", attr::s(stored_settings))
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
    match request.send().await.ok_if_condition_failed("put config")? {
        Some(out) => {
            let old = match out.attributes {
                Some(item) if !item.is_empty() => from_item(app_id, &item)?,
                _ => AppConfig::initial(app_id),
            };
            let new = AppConfig {
                app_id: app_id.to_owned(),
                version: old.version + 1,
                body,
                updated_at: Some(now),
            };
            Ok((new, old))
        }
        None => {
            let current = get_system(store, app_id).await?;
            Err(Error::PreconditionFailed {
                current_version: current.version,
            })
        }
    }
}

/// Applies a JSON Merge Patch (RFC 7396) to the config, e.g.
/// `{"settings": {"theme": "dark"}}` or `{"featureFlags": {"old": null}}`.
/// With `expected_version` only onto that version; without, onto the current
/// one, retried if another write lands in between, so no write is lost.
pub async fn patch(
    store: &Store,
    app_id: &str,
    changes: &Value,
    expected_version: Option<u64>,
) -> Result<(AppConfig, AppConfig)> {
    let Value::Object(top) = changes else {
        return Err(Error::invalid("body", "a config patch is a JSON object"));
    };
    // Checked before merging: `{"theme": null}` is as wrong as `{"theme": "dark"}`.
    if let Some(key) = unknown_key(top) {
        return Err(unknown_key_error(key));
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        let current = get(store, app_id).await?;
        if let Some(expected) = expected_version
            && expected != current.version
        {
            return Err(Error::PreconditionFailed {
                current_version: current.version,
            });
        }
        let mut json =
            serde_json::to_value(&current.body).map_err(|e| Error::internal("encode config", e))?;
        merge_patch(&mut json, changes);
        let body =
            ConfigBody::from_json(json).map_err(|err| validate::patch_refusal(changes, err))?;
        match put(store, app_id, body, Some(current.version)).await {
            Err(Error::PreconditionFailed { .. })
                if expected_version.is_none() && attempt < PATCH_ATTEMPTS =>
            {
                continue;
            }
            result => return result,
        }
    }
}

fn from_item(app_id: &str, item: &Item) -> Result<AppConfig> {
    let mut json = serde_json::Map::new();
    for name in SYSTEM_KEYS {
        if let Some(value) = item.get(name) {
            json.insert(name.to_owned(), attr::to_json(value));
        }
    }
    let mut body: ConfigBody = serde_json::from_value(Value::Object(json))
        .map_err(|e| Error::internal("decode stored config", e))?;
    body.settings = Some(settings::from_item(item, SETTINGS_KEY)?);
    body.notifications = Some(match item.get(NOTIFICATIONS_KEY) {
        Some(value) => serde_json::from_value(attr::to_json(value))
            .map_err(|e| Error::internal("decode stored templates", e))?,
        None => NotificationsConfig::default(),
    });
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
mod tests;
