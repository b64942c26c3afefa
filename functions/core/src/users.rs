//! Users of an app: registration with atomic per-app e-mail uniqueness, lookup, roles and the disabled flag.
//!
//! Each user is two items of its app's partition: the user (`USER#{id}`) and
//! its e-mail guard (`EMAIL#{email}`), which keeps the address unique and
//! carries a copy of the user and its password hash, so a login reads one
//! item. Every write of a copied field (`writes`) updates both in one transaction.

mod writes;

pub use writes::{mark_email_verified, set_disabled, set_password, set_role};

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::attr::{self, Item};
use crate::clock;
use crate::error::{Error, Result};
use crate::keys;
use crate::store::Store;
use crate::tables::USERS;

/// Largest serialized `profile` accepted.
pub const MAX_PROFILE_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "user" => Some(Self::User),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// A user as shown to the user and to admins (never with the password hash).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub user_id: String,
    pub app_id: String,
    pub email: String,
    pub role: Role,
    pub disabled: bool,
    /// Whether the user proved they read mail at `email` (a verification
    /// link, or a completed password reset).
    pub email_verified: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub profile: Value,
    pub created_at: String,
}

/// A stored user together with the password hash, for login only.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub user: User,
    pub password_hash: String,
}

/// Trims and lowercases an e-mail and checks its shape (uniqueness is per app on
/// the lowercased form, so `A@x.io` and `a@x.io` are one account).
pub fn normalize_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let valid = email.chars().count() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(email)
    } else {
        Err(Error::invalid("email", "must be a valid e-mail address"))
    }
}

/// `profile` must be a small JSON object (or absent) that DynamoDB can store
/// as a map: at most `MAX_PROFILE_DEPTH` levels deep, every number within
/// DynamoDB's range.
pub fn validate_profile(profile: &Value) -> Result<()> {
    if !profile.is_object() {
        return Err(Error::invalid("profile", "must be a JSON object"));
    }
    // A size in bytes (413): JSON Schema, counting characters, cannot state it.
    if profile.to_string().len() > MAX_PROFILE_BYTES {
        return Err(Error::TooLarge(format!(
            "profile: must be at most {MAX_PROFILE_BYTES} bytes of JSON"
        )));
    }
    check_storable(profile, "profile", 1)
}

/// DynamoDB nests documents at most 32 levels deep; the profile is one level
/// of the user item.
pub const MAX_PROFILE_DEPTH: usize = 31;

/// Depth and number range of a value stored as a DynamoDB document.
fn check_storable(value: &Value, path: &str, depth: usize) -> Result<()> {
    match value {
        Value::Object(map) => {
            if depth > MAX_PROFILE_DEPTH {
                return Err(too_deep(path));
            }
            for (name, inner) in map {
                check_storable(inner, &format!("{path}.{name}"), depth + 1)?;
            }
        }
        Value::Array(items) => {
            if depth > MAX_PROFILE_DEPTH {
                return Err(too_deep(path));
            }
            for (i, inner) in items.iter().enumerate() {
                check_storable(inner, &format!("{path}[{i}]"), depth + 1)?;
            }
        }
        Value::Number(n) if !dynamodb_number(n) => {
            return Err(Error::invalid(
                path,
                format!(
                    "{n} is outside the numbers DynamoDB stores (magnitude 1e-130 to below 1e126, \
                     38 significant digits); send it as a string"
                ),
            ));
        }
        _ => {}
    }
    Ok(())
}

fn too_deep(path: &str) -> Error {
    Error::invalid(
        path,
        format!("nests deeper than {MAX_PROFILE_DEPTH} levels of objects and arrays"),
    )
}

fn dynamodb_number(n: &serde_json::Number) -> bool {
    n.as_f64()
        .is_some_and(|x| x == 0.0 || (x.is_finite() && (1e-130..1e126).contains(&x.abs())))
}

/// Creates a user and its e-mail guard in one transaction: of concurrent
/// registrations of one e-mail exactly one succeeds; the others get `Conflict`.
pub async fn register(
    store: &Store,
    app_id: &str,
    email: &str,
    password_hash: &str,
    profile: Value,
) -> Result<User> {
    let email = normalize_email(email)?;
    validate_profile(&profile)?;
    let now = clock::now_rfc3339();
    let user = User {
        user_id: uuid::Uuid::now_v7().to_string(),
        app_id: app_id.to_owned(),
        email: email.clone(),
        role: Role::User,
        disabled: false,
        email_verified: false,
        profile,
        created_at: now,
    };
    let table = store.users_table()?;
    let mut user_item = to_item(&user);
    user_item.insert("passwordHash".into(), attr::s(password_hash));
    let mut guard = user_item.clone();
    guard.insert(sort_key().into(), attr::s(keys::email_sk(&email)));
    let put = |item: Item| -> Result<TransactWriteItem> {
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", USERS.partition_key)
            .build()
            .map_err(|e| Error::internal("build put", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    };
    let items = vec![put(user_item)?, put(guard)?];
    // A concurrent registration of the address cancels with a conflict; the
    // retry then reads the winner's guard and fails its condition: `Conflict`.
    if writes::transact(store, items, "register user").await? {
        Ok(user)
    } else {
        Err(Error::Conflict("e-mail already registered".into()))
    }
}

/// Finds a user by e-mail: one consistent read of the e-mail guard, which
/// carries the login copy of the user. A guard written before it carried one
/// (only `userId`) costs a second read, of the user item.
pub async fn find_by_email(store: &Store, app_id: &str, email: &str) -> Result<Option<UserRecord>> {
    let Ok(email) = normalize_email(email) else {
        return Ok(None);
    };
    let Some(guard) = get_item(store, app_id, &keys::email_sk(&email)).await? else {
        return Ok(None);
    };
    if let Some(record) = login_copy(&guard)? {
        return Ok(Some(record));
    }
    let user_id = attr::get_s(&guard, "userId")?;
    get(store, app_id, &user_id).await
}

/// The user and hash a guard carries, or `None` for a guard that holds only
/// the user's id (registered before guards carried a copy).
fn login_copy(guard: &Item) -> Result<Option<UserRecord>> {
    if !guard.contains_key("appId") || !guard.contains_key("passwordHash") {
        return Ok(None);
    }
    Ok(Some(UserRecord {
        user: from_item(guard)?,
        password_hash: attr::get_s(guard, "passwordHash")?,
    }))
}

/// Reads a user by id.
pub async fn get(store: &Store, app_id: &str, user_id: &str) -> Result<Option<UserRecord>> {
    let item = get_item(store, app_id, &keys::user_sk(user_id)).await?;
    item.as_ref()
        .map(|item| {
            Ok(UserRecord {
                user: from_item(item)?,
                password_hash: attr::get_s(item, "passwordHash")?,
            })
        })
        .transpose()
}

/// The user's role now, for a request whose access token was issued at
/// `issued_ms` (epoch milliseconds): `Unauthorized` when the user is gone,
/// disabled, or changed (role or disabling) at or after that moment. One
/// consistent read.
pub async fn current_role(
    store: &Store,
    app_id: &str,
    user_id: &str,
    issued_ms: i64,
) -> Result<Role> {
    let item = get_item(store, app_id, &keys::user_sk(user_id)).await?;
    let lapsed = || crate::standing::Lapse::User.error();
    let item = item.ok_or_else(lapsed)?;
    let valid_after = attr::opt_i64(&item, crate::standing::TOKENS_VALID_AFTER);
    if attr::get_bool(&item, "disabled") || valid_after.is_some_and(|at| at >= issued_ms) {
        return Err(lapsed());
    }
    Ok(Role::parse(&attr::opt_s(&item, "role").unwrap_or_default()).unwrap_or(Role::User))
}

/// An app's users (operator listing): one Query of the app's partition, users only.
pub async fn list(store: &Store, app_id: &str) -> Result<Vec<User>> {
    let mut users = Vec::new();
    let mut start = None;
    loop {
        let out = store
            .client
            .query()
            .table_name(store.users_table()?)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :user)")
            .expression_attribute_names("#pk", USERS.partition_key)
            .expression_attribute_names("#sk", sort_key())
            .expression_attribute_values(":pk", attr::s(keys::users_pk(app_id)))
            .expression_attribute_values(":user", attr::s(keys::user_sk("")))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| Error::sdk("list users", e))?;
        for item in out.items() {
            users.push(from_item(item)?);
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    Ok(users)
}

async fn get_item(store: &Store, app_id: &str, sk: &str) -> Result<Option<Item>> {
    let out = store
        .client
        .get_item()
        .table_name(store.users_table()?)
        .key(USERS.partition_key, attr::s(keys::users_pk(app_id)))
        .key(sort_key(), attr::s(sk))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| Error::sdk("get user", e))?;
    Ok(out.item)
}

fn sort_key() -> &'static str {
    USERS.sort_key.unwrap_or("sk")
}

fn to_item(user: &User) -> Item {
    let mut item = Item::new();
    item.insert(
        USERS.partition_key.into(),
        attr::s(keys::users_pk(&user.app_id)),
    );
    item.insert(sort_key().into(), attr::s(keys::user_sk(&user.user_id)));
    item.insert("userId".into(), attr::s(&user.user_id));
    item.insert("appId".into(), attr::s(&user.app_id));
    item.insert("email".into(), attr::s(&user.email));
    item.insert("role".into(), attr::s(user.role.as_str()));
    item.insert("disabled".into(), attr::b(user.disabled));
    item.insert("emailVerified".into(), attr::b(user.email_verified));
    item.insert("profile".into(), attr::from_json(&user.profile));
    item.insert("createdAt".into(), attr::s(&user.created_at));
    item
}

fn from_item(item: &Item) -> Result<User> {
    Ok(User {
        user_id: attr::get_s(item, "userId")?,
        app_id: attr::get_s(item, "appId")?,
        email: attr::get_s(item, "email")?,
        // An unknown role grants nothing beyond a plain user.
        role: Role::parse(&attr::opt_s(item, "role").unwrap_or_default()).unwrap_or(Role::User),
        disabled: attr::get_bool(item, "disabled"),
        email_verified: attr::get_bool(item, "emailVerified"),
        profile: item
            .get("profile")
            .map(attr::to_json)
            .unwrap_or_else(|| Value::Object(Default::default())),
        created_at: attr::opt_s(item, "createdAt").unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            normalize_email("  Ann@Example.COM ").unwrap(),
            "ann@example.com"
        );
        for bad in [
            "", "ann", "ann@", "@x.io", "a@b", "a b@x.io", "a@x.io.", "a@@x.io",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn profiles_are_small_objects() {
        assert!(validate_profile(&serde_json::json!({"name": "Ann"})).is_ok());
        assert!(validate_profile(&serde_json::json!([1])).is_err());
        let big = "x".repeat(MAX_PROFILE_BYTES);
        assert!(matches!(
            validate_profile(&serde_json::json!({ "bio": big })),
            Err(Error::TooLarge(_))
        ));
        let mut deep = serde_json::json!(1);
        for _ in 0..MAX_PROFILE_DEPTH {
            deep = serde_json::json!([deep]);
        }
        // The profile itself is one level: the deepest nesting stored is 32.
        assert!(validate_profile(&serde_json::json!({ "a": deep })).is_err());
        assert!(validate_profile(&serde_json::json!({ "a": deep[0].clone() })).is_ok());
        let huge: Value = serde_json::from_str(r#"{"n": {"m": [1e200]}}"#).unwrap();
        match validate_profile(&huge) {
            Err(Error::Invalid { field, .. }) => assert_eq!(field, "profile.n.m[0]"),
            other => panic!("{other:?}"),
        }
        let tiny: Value = serde_json::from_str(r#"{"n": 1e-200}"#).unwrap();
        assert!(validate_profile(&tiny).is_err());
        let fine: Value = serde_json::from_str(r#"{"n": 1.5e125, "m": -3, "z": 0}"#).unwrap();
        assert!(validate_profile(&fine).is_ok());
    }

    #[test]
    fn items_round_trip_without_hash() {
        let user = User {
            user_id: "u1".into(),
            app_id: "shop".into(),
            email: "ann@example.com".into(),
            role: Role::Admin,
            disabled: false,
            email_verified: true,
            profile: serde_json::json!({"name": "Ann"}),
            created_at: "t".into(),
        };
        let item = to_item(&user);
        assert!(!item.contains_key("passwordHash"));
        assert_eq!(from_item(&item).unwrap(), user);
        assert_eq!(Role::parse("root"), None);
    }
}
