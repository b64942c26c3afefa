//! Records and index entries as DynamoDB items, per the layout in `tables::DATA`.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::{MAX_INDEXED_VALUE_BYTES, Permissions, Record, index_value};
use crate::attr::{self, Item};
use crate::error::{Error, Result};
pub use crate::keys::{index_pk, owner_pk, records_pk, resources_pk};
use crate::tables::{DATA, DATA_BY_OWNER};

/// The index partitions a record's data belongs to, for the declared fields.
pub(crate) fn index_keys(
    app_id: &str,
    resource: &str,
    data: &Map<String, Value>,
    indexed: &[String],
) -> Result<BTreeSet<String>> {
    let mut keys = BTreeSet::new();
    for field in indexed {
        if let Some(value) = data.get(field).and_then(index_value) {
            if value.len() > MAX_INDEXED_VALUE_BYTES {
                return Err(Error::invalid(
                    format!("data.{field}"),
                    format!("values of indexed fields are at most {MAX_INDEXED_VALUE_BYTES} bytes"),
                ));
            }
            keys.insert(index_pk(app_id, resource, field, &value));
        }
    }
    Ok(keys)
}

/// The record item; `ixKeys` remembers which index entries exist for it.
pub(crate) fn to_item(
    app_id: &str,
    record: &Record,
    data_json: &str,
    ix: &BTreeSet<String>,
) -> Item {
    let mut item = Item::new();
    item.insert(
        DATA.partition_key.into(),
        attr::s(records_pk(app_id, &record.resource)),
    );
    item.insert("sk".into(), attr::s(&record.id));
    item.insert(
        DATA_BY_OWNER.partition_key.into(),
        attr::s(owner_pk(app_id, &record.resource, &record.owner_id)),
    );
    item.insert("resource".into(), attr::s(&record.resource));
    item.insert("ownerId".into(), attr::s(&record.owner_id));
    item.insert("createdAt".into(), attr::s(&record.created_at));
    item.insert("updatedAt".into(), attr::s(&record.updated_at));
    item.insert("version".into(), attr::n(record.version));
    item.insert("data".into(), attr::s(data_json));
    item.insert("readers".into(), attr::list_s(&record.permissions.read));
    item.insert("writers".into(), attr::list_s(&record.permissions.write));
    let ix: Vec<String> = ix.iter().cloned().collect();
    item.insert("ixKeys".into(), attr::list_s(&ix));
    item
}

/// An index entry: only the key, pointing at the record by `sk`.
pub(crate) fn index_item(pk: &str, id: &str) -> Item {
    let mut item = Item::new();
    item.insert(DATA.partition_key.into(), attr::s(pk));
    item.insert("sk".into(), attr::s(id));
    item
}

/// The registry entry of a resource an app has stored records of: only the key.
pub(crate) fn registry_item(app_id: &str, resource: &str) -> Item {
    index_item(&resources_pk(app_id), resource)
}

/// About how many bytes an item holds in DynamoDB (names and string values;
/// the `data` JSON dominates): what a list's read budget counts.
pub(crate) fn stored_bytes(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    aws_sdk_dynamodb::types::AttributeValue::S(s) => s.len(),
                    aws_sdk_dynamodb::types::AttributeValue::L(list) => list
                        .iter()
                        .filter_map(|v| v.as_s().ok())
                        .map(String::len)
                        .sum(),
                    _ => 8,
                }
        })
        .sum()
}

/// Reads a record item back, with its index partitions.
pub(crate) fn from_item(item: &Item) -> Result<(Record, BTreeSet<String>)> {
    let data: Value = serde_json::from_str(&attr::get_s(item, "data")?)
        .map_err(|e| Error::internal("decode stored record data", e))?;
    let Value::Object(data) = data else {
        return Err(Error::Internal(
            "stored record data is not an object".into(),
        ));
    };
    let record = Record {
        id: attr::get_s(item, "sk")?,
        resource: attr::get_s(item, "resource")?,
        data,
        permissions: Permissions {
            read: attr::get_list_s(item, "readers"),
            write: attr::get_list_s(item, "writers"),
        },
        owner_id: attr::get_s(item, "ownerId")?,
        created_at: attr::get_s(item, "createdAt")?,
        updated_at: attr::get_s(item, "updatedAt")?,
        version: attr::opt_i64(item, "version")
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(0),
    };
    Ok((
        record,
        attr::get_list_s(item, "ixKeys").into_iter().collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip() {
        let mut data = Map::new();
        data.insert("conversationId".into(), Value::from("c1"));
        data.insert("n".into(), Value::from(3));
        let record = Record {
            id: super::super::new_id(),
            resource: "messages".into(),
            data: data.clone(),
            permissions: Permissions {
                read: vec!["*".into()],
                write: vec![],
            },
            owner_id: "u1".into(),
            created_at: "t".into(),
            updated_at: "t".into(),
            version: 2,
        };
        let ix = index_keys(
            "chat",
            "messages",
            &data,
            &["conversationId".into(), "x".into()],
        )
        .unwrap();
        assert_eq!(
            ix.iter().collect::<Vec<_>>(),
            vec!["IX#chat#messages#conversationId#c1"]
        );
        let json = serde_json::to_string(&record.data).unwrap();
        let item = to_item("chat", &record, &json, &ix);
        assert_eq!(attr::opt_s(&item, "pk").unwrap(), "R#chat#messages");
        assert_eq!(attr::opt_s(&item, "ownerPk").unwrap(), "chat#messages#u1");
        assert_eq!(from_item(&item).unwrap(), (record, ix));
        let entry = registry_item("chat", "messages");
        assert_eq!(attr::opt_s(&entry, "pk").unwrap(), "RS#chat");
        assert_eq!(attr::opt_s(&entry, "sk").unwrap(), "messages");
    }
}
