//! Generic records of any resource an app invents: types, validation and record permissions.
//!
//! Storage (see `tables::DATA`): one item per record, `pk=R#{appId}#{resource}`,
//! `sk={id}`, with `ownerPk` for the `byOwner` index; one item per indexed field
//! value, `pk=IX#{appId}#{resource}#{field}#{value}`, `sk={id}`, written in the
//! same transaction as the record. The record's `data` is stored as a JSON
//! string attribute, not a DynamoDB map: it round-trips any JSON exactly (number
//! precision, nesting deeper than DynamoDB's 32 levels, empty keys), its stored
//! size is exactly what the size limit measures, and nothing queries inside it
//! (indexed values are extracted here and written as index items).

mod cursor;
pub(crate) mod item;
mod read;
mod write;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::users::Role;

pub use read::{
    ListPage, ListQuery, ListSource, MAX_EXAMINED, MAX_EXAMINED_BYTES, MAX_LIMIT, get, list,
};
pub use write::{Change, create, delete, update};

/// Largest `data` plus `permissions`, in bytes of JSON: below DynamoDB's 400 KB
/// item limit with room for the key and bookkeeping attributes.
pub const MAX_RECORD_BYTES: usize = 350 * 1024;
/// Largest value of an indexed field (it becomes part of a partition key).
pub const MAX_INDEXED_VALUE_BYTES: usize = 1024;
/// Most entries of each permission list.
pub const MAX_PERMISSION_ENTRIES: usize = 100;
/// Top-level names `data` may not use: they are the record's own attributes.
pub const RESERVED_FIELDS: &[&str] = &[
    "id",
    "resource",
    "data",
    "permissions",
    "ownerId",
    "createdAt",
    "updatedAt",
    "version",
    "pk",
    "sk",
    "ownerPk",
];

/// Who may read and write a record besides its owner and the app's admins:
/// user ids, `role:<name>`, or `*` (any signed-in user of the app).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    #[serde(default)]
    pub read: Vec<String>,
    #[serde(default)]
    pub write: Vec<String>,
}

/// A stored record, as served.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub id: String,
    pub resource: String,
    /// Any JSON object.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: Map<String, Value>,
    pub permissions: Permissions,
    pub owner_id: String,
    pub created_at: String,
    pub updated_at: String,
    pub version: u64,
}

/// The signed-in user acting on records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
    pub role: Role,
}

fn entry_matches(entries: &[String], caller: &Caller) -> bool {
    entries.iter().any(|entry| {
        entry == "*"
            || *entry == caller.user_id
            || entry
                .strip_prefix("role:")
                .is_some_and(|role| role == caller.role.as_str())
    })
}

impl Record {
    /// Owner, admins, and matching read or write entries may read.
    pub fn can_read(&self, caller: &Caller) -> bool {
        self.can_write(caller) || entry_matches(&self.permissions.read, caller)
    }

    /// Owner, admins, and matching write entries may write (and change permissions).
    pub fn can_write(&self, caller: &Caller) -> bool {
        caller.role == Role::Admin
            || self.owner_id == caller.user_id
            || entry_matches(&self.permissions.write, caller)
    }

    /// Top-level names that differ from `other` (`permissions` included), for the audit log.
    pub fn changed_fields(&self, other: &Record) -> Vec<String> {
        let mut names: Vec<String> = self
            .data
            .iter()
            .filter(|(k, v)| other.data.get(*k) != Some(*v))
            .map(|(k, _)| k.clone())
            .chain(
                other
                    .data
                    .keys()
                    .filter(|k| !self.data.contains_key(*k))
                    .cloned(),
            )
            .collect();
        names.sort();
        if self.permissions != other.permissions {
            names.push("permissions".to_owned());
        }
        names
    }
}

/// Resource names: `[A-Za-z0-9_-]{1,64}`.
pub fn validate_resource(resource: &str) -> Result<()> {
    let ok = (1..=64).contains(&resource.len())
        && resource
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "resource",
            "resource names are 1 to 64 characters of A-Z, a-z, 0-9, '_', '-'",
        ))
    }
}

/// Record ids are server-generated UUIDv7s, in lowercase hyphenated form.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = uuid::Uuid::try_parse(id)
        .is_ok_and(|u| u.get_version_num() == 7 && u.hyphenated().to_string() == id);
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "id",
            "record ids are the server-generated ids returned on creation",
        ))
    }
}

/// A new time-sortable id.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().hyphenated().to_string()
}

/// `data` must be an object without reserved top-level names.
pub fn validate_data(data: Value) -> Result<Map<String, Value>> {
    let Value::Object(map) = data else {
        return Err(Error::invalid("data", "must be a JSON object"));
    };
    check_reserved(&map)?;
    Ok(map)
}

fn check_reserved(map: &Map<String, Value>) -> Result<()> {
    match map.keys().find(|k| RESERVED_FIELDS.contains(&k.as_str())) {
        Some(name) => Err(Error::invalid(
            format!("data.{name}"),
            format!(
                "is a reserved record attribute; reserved names are {}",
                RESERVED_FIELDS.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// Each entry is `*`, `role:<name>` or a user id, at most 128 characters.
pub fn validate_permissions(permissions: &Permissions) -> Result<()> {
    for (name, list) in [("read", &permissions.read), ("write", &permissions.write)] {
        if list.len() > MAX_PERMISSION_ENTRIES {
            return Err(Error::invalid(
                format!("permissions.{name}"),
                format!("at most {MAX_PERMISSION_ENTRIES} entries"),
            ));
        }
        for (i, entry) in list.iter().enumerate() {
            let ok = (1..=128).contains(&entry.chars().count())
                && entry.chars().all(|c| !c.is_control() && !c.is_whitespace())
                && entry.strip_prefix("role:").is_none_or(|r| !r.is_empty());
            if !ok {
                return Err(Error::invalid(
                    format!("permissions.{name}[{i}]"),
                    "entries are a user id, 'role:<name>' or '*'",
                ));
            }
        }
    }
    Ok(())
}

/// Fails with 413 when the record would exceed `MAX_RECORD_BYTES`.
pub(crate) fn check_size(data_json: &str, permissions: &Permissions) -> Result<()> {
    let permissions_len = serde_json::to_string(permissions)
        .map(|s| s.len())
        .unwrap_or(0);
    let size = data_json.len() + permissions_len;
    if size > MAX_RECORD_BYTES {
        Err(Error::TooLarge(format!(
            "record is {size} bytes; the limit is {MAX_RECORD_BYTES} bytes of data and permissions"
        )))
    } else {
        Ok(())
    }
}

/// The index key text of a field value: strings as they are, numbers and
/// booleans as JSON; other values are not indexed.
pub fn index_value(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(owner: &str, read: &[&str], write: &[&str]) -> Record {
        Record {
            id: new_id(),
            resource: "notes".into(),
            data: Map::new(),
            permissions: Permissions {
                read: read.iter().map(|s| (*s).to_owned()).collect(),
                write: write.iter().map(|s| (*s).to_owned()).collect(),
            },
            owner_id: owner.into(),
            created_at: String::new(),
            updated_at: String::new(),
            version: 1,
        }
    }

    fn caller(id: &str, role: Role) -> Caller {
        Caller {
            user_id: id.into(),
            role,
        }
    }

    #[test]
    fn permission_matrix() {
        let owner = caller("u1", Role::User);
        let other = caller("u2", Role::User);
        let admin = caller("a", Role::Admin);
        let private = record("u1", &[], &[]);
        assert!(private.can_read(&owner) && private.can_write(&owner));
        assert!(!private.can_read(&other) && !private.can_write(&other));
        assert!(private.can_read(&admin) && private.can_write(&admin));
        let shared = record("u1", &["*"], &["u2"]);
        assert!(shared.can_read(&caller("u3", Role::User)));
        assert!(!shared.can_write(&caller("u3", Role::User)));
        assert!(shared.can_write(&other));
        let by_role = record("u1", &["role:user"], &["role:admin"]);
        assert!(by_role.can_read(&other) && !by_role.can_write(&other));
        let writer_only = record("u1", &[], &["u2"]);
        assert!(writer_only.can_read(&other));
    }

    #[test]
    fn names_ids_and_bodies_are_validated() {
        assert!(validate_resource("chat_messages-2").is_ok());
        for bad in ["", "a b", "x/y", "é", &"a".repeat(65)] {
            assert!(validate_resource(bad).is_err(), "{bad}");
        }
        assert!(validate_id(&new_id()).is_ok());
        assert!(validate_id(&new_id().to_uppercase()).is_err());
        assert!(validate_id(&uuid::Uuid::new_v4().to_string()).is_err());
        assert!(validate_id("../x").is_err());
        assert!(validate_data(json!([1])).is_err());
        assert!(validate_data(json!({"ownerId": "me"})).is_err());
        assert!(validate_data(json!({"title": "x"})).is_ok());
        let bad = Permissions {
            read: vec!["role:".into()],
            write: vec![],
        };
        assert!(validate_permissions(&bad).is_err());
        assert!(check_size(&"x".repeat(MAX_RECORD_BYTES + 1), &Permissions::default()).is_err());
    }

    #[test]
    fn changed_fields_name_top_level_keys() {
        let mut a = record("u1", &[], &[]);
        let mut b = a.clone();
        a.data.insert("x".into(), json!(1));
        a.data.insert("y".into(), json!(2));
        b.data.insert("y".into(), json!(3));
        b.data.insert("z".into(), json!(4));
        b.permissions.read.push("*".into());
        assert_eq!(b.changed_fields(&a), vec!["x", "y", "z", "permissions"]);
        assert_eq!(index_value(&json!(5)).as_deref(), Some("5"));
        assert_eq!(index_value(&json!({"a": 1})), None);
    }
}
