//! App API keys: generated once, stored only as SHA-256, looked up by hash, revocable and rotatable.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::ReturnValue;
use serde::Serialize;

use crate::apps::validate_app_id;
use crate::attr::{self, Item};
use crate::clock;
use crate::condition::OnConditionFailed;
use crate::error::{Error, Result};
use crate::scopes::{self, Scope};
use crate::secret;
use crate::store::Store;
use crate::tables::{API_KEYS, API_KEYS_BY_HASH};

/// Every key starts with this, so leaked keys are recognisable by scanners.
pub const KEY_PREFIX: &str = "ob_";
/// 43 base62 characters carry a little over 256 bits.
const KEY_RANDOM_LEN: usize = 43;
/// `lastUsedAt` is written at most this often per key, to keep writes off the hot path.
pub const LAST_USED_GRANULARITY_SECS: i64 = 60;

/// A stored key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub app_id: String,
    pub key_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    /// Epoch seconds after which the key no longer works.
    pub expires_at: Option<i64>,
    /// Epoch seconds of the last recorded use (minute granularity).
    pub last_used_at: Option<i64>,
    pub active: bool,
}

impl ApiKey {
    pub fn has_scope(&self, scope: Scope) -> bool {
        scopes::grants(&self.scopes, scope)
    }

    /// Whether the key may be used at `now` (epoch seconds).
    pub fn is_usable(&self, now: i64) -> bool {
        self.active && self.expires_at.is_none_or(|at| now < at)
    }
}

/// A freshly created key: the secret is returned here once and never stored.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub key: ApiKey,
    pub secret: String,
}

/// Validates a scope list: known scopes (see `Scope`), each once.
pub fn validate_scopes(scopes: &[String]) -> Result<()> {
    if scopes.is_empty() || scopes.len() > Scope::EVERY.len() {
        return Err(Error::invalid(
            "scopes",
            format!("give 1 to {} scopes", Scope::EVERY.len()),
        ));
    }
    for (i, scope) in scopes.iter().enumerate() {
        if Scope::parse(scope).is_none() {
            return Err(Error::invalid(
                "scopes",
                format!(
                    "unknown scope {scope:?}; scopes are {}",
                    Scope::known_names()
                ),
            ));
        }
        if scopes[..i].contains(scope) {
            return Err(Error::invalid(
                "scopes",
                format!("{scope:?} is given twice"),
            ));
        }
    }
    Ok(())
}

/// A new random key secret: `ob_` + 43 base62 characters.
pub fn generate_secret() -> Result<String> {
    Ok(format!(
        "{KEY_PREFIX}{}",
        secret::random_base62(KEY_RANDOM_LEN)?
    ))
}

/// Whether `candidate` has the shape of a key; others are rejected without a lookup.
pub fn looks_like_key(candidate: &str) -> bool {
    candidate.len() == KEY_PREFIX.len() + KEY_RANDOM_LEN
        && candidate.starts_with(KEY_PREFIX)
        && candidate[KEY_PREFIX.len()..]
            .bytes()
            .all(|c| c.is_ascii_alphanumeric())
}

/// Creates a key for an app (operator action).
pub async fn create(
    store: &Store,
    app_id: &str,
    name: &str,
    scopes: &[String],
    expires_at: Option<i64>,
) -> Result<CreatedKey> {
    validate_app_id(app_id)?;
    if name.trim().is_empty() || name.len() > 100 {
        return Err(Error::invalid("name", "must be 1 to 100 characters"));
    }
    validate_scopes(scopes)?;
    let secret = generate_secret()?;
    let key = ApiKey {
        app_id: app_id.to_owned(),
        key_id: uuid::Uuid::now_v7().to_string(),
        name: name.trim().to_owned(),
        scopes: scopes.to_vec(),
        created_at: clock::now_rfc3339(),
        expires_at,
        last_used_at: None,
        active: true,
    };
    let mut item = to_item(&key);
    item.insert(
        API_KEYS_BY_HASH.partition_key.into(),
        attr::s(secret::sha256_hex(&secret)),
    );
    store
        .client
        .put_item()
        .table_name(store.api_keys_table()?)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#sk)")
        .expression_attribute_names("#sk", sort_key())
        .send()
        .await
        .map_err(|e| Error::sdk("create api key", e))?;
    Ok(CreatedKey { key, secret })
}

/// Finds the key a secret belongs to, usable or not; `None` when unknown.
pub async fn find(store: &Store, presented: &str) -> Result<Option<ApiKey>> {
    if !looks_like_key(presented) {
        return Ok(None);
    }
    let out = store
        .client
        .query()
        .table_name(store.api_keys_table()?)
        .index_name(API_KEYS_BY_HASH.name)
        .key_condition_expression("#h = :h")
        .expression_attribute_names("#h", API_KEYS_BY_HASH.partition_key)
        .expression_attribute_values(":h", attr::s(secret::sha256_hex(presented)))
        .limit(2)
        .send()
        .await
        .map_err(|e| Error::sdk("look up api key", e))?;
    out.items().first().map(from_item).transpose()
}

/// The key behind a presented secret if it may be used now; `Unauthorized`
/// (one message for every reason) otherwise.
pub async fn verify(store: &Store, presented: &str) -> Result<ApiKey> {
    match find(store, presented).await? {
        Some(key) if key.is_usable(clock::now_epoch()) => Ok(key),
        _ => Err(Error::Unauthorized("invalid API key".into())),
    }
}

/// Records that a key was used, at most once a minute per key. Returns whether
/// this call wrote (the caller audits only those, so key use is logged without
/// one audit entry per request).
pub async fn record_use(store: &Store, key: &ApiKey) -> Result<bool> {
    let now = clock::now_epoch();
    let minute_ago = now - LAST_USED_GRANULARITY_SECS;
    // Skip the write (and its cost) when the item we just read is recent enough;
    // the condition below settles races between concurrent requests.
    if key.last_used_at.is_some_and(|at| at >= minute_ago) {
        return Ok(false);
    }
    let result = store
        .client
        .update_item()
        .table_name(store.api_keys_table()?)
        .key(API_KEYS.partition_key, attr::s(&key.app_id))
        .key(sort_key(), attr::s(&key.key_id))
        .update_expression("SET lastUsedAt = :now")
        .condition_expression(
            "attribute_exists(#sk) AND (attribute_not_exists(lastUsedAt) OR lastUsedAt < :minuteAgo)",
        )
        .expression_attribute_names("#sk", sort_key())
        .expression_attribute_values(":now", attr::n(now))
        .expression_attribute_values(":minuteAgo", attr::n(minute_ago))
        .send()
        .await;
    // Stamped within the minute already (or the key is gone): not now.
    Ok(result
        .ok_if_condition_failed("record api key use")?
        .is_some())
}

/// Lists an app's keys (operator action; no secrets, no hashes).
pub async fn list(store: &Store, app_id: &str) -> Result<Vec<ApiKey>> {
    let mut keys = Vec::new();
    let mut start = None;
    loop {
        let out = store
            .client
            .query()
            .table_name(store.api_keys_table()?)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", API_KEYS.partition_key)
            .expression_attribute_values(":pk", attr::s(app_id))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| Error::sdk("list api keys", e))?;
        for item in out.items() {
            keys.push(from_item(item)?);
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            return Ok(keys);
        }
    }
}

/// Reads one key of an app by id (operator action).
pub async fn get(store: &Store, app_id: &str, key_id: &str) -> Result<Option<ApiKey>> {
    let out = store
        .client
        .get_item()
        .table_name(store.api_keys_table()?)
        .key(API_KEYS.partition_key, attr::s(app_id))
        .key(sort_key(), attr::s(key_id))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| Error::sdk("get api key", e))?;
    out.item.as_ref().map(from_item).transpose()
}

/// Deactivates a key; it fails verification from the next request on.
pub async fn revoke(store: &Store, app_id: &str, key_id: &str) -> Result<ApiKey> {
    let result = store
        .client
        .update_item()
        .table_name(store.api_keys_table()?)
        .key(API_KEYS.partition_key, attr::s(app_id))
        .key(sort_key(), attr::s(key_id))
        .update_expression("SET active = :false, revokedAt = :now")
        .condition_expression("attribute_exists(#sk)")
        .expression_attribute_names("#sk", sort_key())
        .expression_attribute_values(":false", attr::b(false))
        .expression_attribute_values(":now", attr::s(clock::now_rfc3339()))
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    updated(result, "revoke api key", key_id)
}

/// The key as an update (asking for `ALL_NEW`) left it; `NotFound` when there
/// is no such key.
fn updated(
    result: std::result::Result<UpdateItemOutput, SdkError<UpdateItemError, HttpResponse>>,
    action: &str,
    key_id: &str,
) -> Result<ApiKey> {
    result
        .on_condition_failed(action, || Error::NotFound(format!("key {key_id}")))?
        .attributes
        .as_ref()
        .map(from_item)
        .transpose()?
        .ok_or_else(|| Error::Internal(format!("{action}: no attributes returned")))
}

/// Replaces a key by a new one with the same name, scopes and expiry, then
/// revokes the old one. The new key exists before the old stops working.
pub async fn rotate(store: &Store, app_id: &str, key_id: &str) -> Result<CreatedKey> {
    let old = get(store, app_id, key_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("key {key_id}")))?;
    let created = create(store, app_id, &old.name, &old.scopes, old.expires_at).await?;
    revoke(store, app_id, key_id).await?;
    Ok(created)
}

/// Like [`rotate`], but the old key keeps working for `grace_secs` more
/// seconds (its expiry is brought forward to then) so clients can switch over.
/// A grace of 0 revokes it at once.
pub async fn rotate_with_grace(
    store: &Store,
    app_id: &str,
    key_id: &str,
    grace_secs: i64,
) -> Result<(CreatedKey, ApiKey)> {
    if grace_secs <= 0 {
        let created = rotate(store, app_id, key_id).await?;
        let old = get(store, app_id, key_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("key {key_id}")))?;
        return Ok((created, old));
    }
    let old = get(store, app_id, key_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("key {key_id}")))?;
    if !old.active {
        return Err(Error::Conflict(format!("key {key_id} is revoked")));
    }
    let created = create(store, app_id, &old.name, &old.scopes, old.expires_at).await?;
    let until = clock::now_epoch() + grace_secs;
    let at = old.expires_at.map_or(until, |e| e.min(until));
    let result = store
        .client
        .update_item()
        .table_name(store.api_keys_table()?)
        .key(API_KEYS.partition_key, attr::s(app_id))
        .key(sort_key(), attr::s(key_id))
        .update_expression("SET expiresAt = :at")
        .condition_expression("attribute_exists(#sk)")
        .expression_attribute_names("#sk", sort_key())
        .expression_attribute_values(":at", attr::n(at))
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    Ok((created, updated(result, "expire api key", key_id)?))
}

fn sort_key() -> &'static str {
    API_KEYS.sort_key.unwrap_or("keyId")
}

fn to_item(key: &ApiKey) -> Item {
    let mut item = Item::new();
    item.insert(API_KEYS.partition_key.into(), attr::s(&key.app_id));
    item.insert(sort_key().into(), attr::s(&key.key_id));
    item.insert("name".into(), attr::s(&key.name));
    item.insert("scopes".into(), attr::list_s(&key.scopes));
    item.insert("createdAt".into(), attr::s(&key.created_at));
    if let Some(at) = key.expires_at {
        item.insert("expiresAt".into(), attr::n(at));
    }
    if let Some(at) = key.last_used_at {
        item.insert("lastUsedAt".into(), attr::n(at));
    }
    item.insert("active".into(), attr::b(key.active));
    item
}

fn from_item(item: &Item) -> Result<ApiKey> {
    Ok(ApiKey {
        app_id: attr::get_s(item, API_KEYS.partition_key)?,
        key_id: attr::get_s(item, sort_key())?,
        name: attr::opt_s(item, "name").unwrap_or_default(),
        scopes: attr::get_list_s(item, "scopes"),
        created_at: attr::opt_s(item, "createdAt").unwrap_or_default(),
        expires_at: attr::opt_i64(item, "expiresAt"),
        last_used_at: attr::opt_i64(item, "lastUsedAt"),
        active: attr::get_bool(item, "active"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(active: bool, expires_at: Option<i64>) -> ApiKey {
        ApiKey {
            app_id: "shop".into(),
            key_id: "k1".into(),
            name: "web".into(),
            scopes: vec![Scope::Auth.as_str().into()],
            created_at: String::new(),
            expires_at,
            last_used_at: None,
            active,
        }
    }

    #[test]
    fn secrets_have_the_documented_shape() {
        let secret = generate_secret().unwrap();
        assert!(looks_like_key(&secret));
        assert!(!looks_like_key("ob_short"));
        assert!(!looks_like_key(&secret.replace("ob_", "xx_")));
    }

    #[test]
    fn usability_checks_flag_and_expiry() {
        assert!(key(true, None).is_usable(100));
        assert!(key(true, Some(101)).is_usable(100));
        assert!(!key(true, Some(100)).is_usable(100));
        assert!(!key(false, None).is_usable(100));
    }

    #[test]
    fn scopes_are_checked() {
        let k = key(true, None);
        assert!(k.has_scope(Scope::Auth));
        assert!(!k.has_scope(Scope::ConfigRead));
        let all = ApiKey {
            scopes: vec!["*".into()],
            ..k
        };
        assert!(all.has_scope(Scope::ConfigRead));
        assert!(validate_scopes(&["data".into()]).is_err());
        assert!(validate_scopes(&["auth".into(), "auth".into()]).is_err());
        assert!(validate_scopes(&["Auth".into()]).is_err());
        assert!(validate_scopes(&[]).is_err());
        assert!(validate_scopes(&["auth".into(), "config:read".into()]).is_ok());
    }

    #[test]
    fn items_never_hold_the_hash_in_the_model() {
        let k = key(true, Some(5));
        let item = to_item(&k);
        assert!(!item.contains_key(API_KEYS_BY_HASH.partition_key));
        assert_eq!(from_item(&item).unwrap(), k);
    }
}
