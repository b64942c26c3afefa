//! Record reads: one record, and lists served by a Query of the resource's
//! partition, of an index partition or of the caller's own records in the
//! owner index (never a Scan), filtered by permissions.
//!
//! A list costs what it examines, readable or not, so every list is bounded:
//! at most `MAX_EXAMINED` items and `MAX_EXAMINED_BYTES` of stored records per
//! request. When records the caller may not read exhaust the budget before the
//! page is full, the page is returned short with a `next_cursor` that continues
//! after the last record examined. `owner=me` reads only the caller's records
//! (the `byOwner` index), so nothing is examined in vain.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::KeysAndAttributes;

use super::item::{self, index_pk, owner_pk, records_pk};
use super::{Caller, MAX_INDEXED_VALUE_BYTES, Record, cursor, index_value, write};
use crate::attr::{self, Item};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::tables::{DATA, DATA_BY_OWNER};

/// The scan budget: at most this many stored items are examined per list
/// request. When unreadable or non-matching records exhaust it before the page
/// is full, the page is returned short and `next_cursor` continues after the
/// last item examined.
pub const MAX_EXAMINED: usize = 1000;
/// The read budget in bytes of stored records examined per list request: one
/// DynamoDB Query page (1 MB), about 128 read units eventually consistent.
pub const MAX_EXAMINED_BYTES: usize = 1024 * 1024;
/// Largest `limit` of a page.
pub const MAX_LIMIT: usize = 100;

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub limit: usize,
    pub cursor: Option<String>,
    /// Equality filters `(field, value)`; every field must be declared indexed.
    pub filters: Vec<(String, String)>,
    pub descending: bool,
    /// Only the caller's own records (`?owner=me`), from the owner index.
    pub own: bool,
}

/// Which storage call served a list (reported so tests can assert it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListSource {
    /// A Query of `R#{appId}#{resource}`.
    Partition,
    /// A Query of `IX#{appId}#{resource}#{field}#{value}` and BatchGetItem of the records.
    Index { field: String },
    /// A Query of the `byOwner` index: `{appId}#{resource}#{callerId}`.
    Owner,
}

/// One page of readable records.
#[derive(Debug, Clone)]
pub struct ListPage {
    pub items: Vec<Record>,
    pub next_cursor: Option<String>,
    pub source: ListSource,
}

/// One record the caller may read (404 otherwise, so existence does not leak).
pub async fn get(
    store: &Store,
    app_id: &str,
    resource: &str,
    id: &str,
    caller: &Caller,
) -> Result<Record> {
    match write::current(store, app_id, resource, id).await? {
        Some((record, _)) if record.can_read(caller) => Ok(record),
        _ => Err(Error::NotFound(format!("{resource} record {id}"))),
    }
}

/// A page of the records the caller may read, in creation order.
pub async fn list(
    store: &Store,
    app_id: &str,
    resource: &str,
    caller: &Caller,
    indexed: &[String],
    query: &ListQuery,
) -> Result<ListPage> {
    if query.own && !query.filters.is_empty() {
        return Err(Error::invalid(
            "owner",
            "owner=me cannot be combined with where.<field> filters",
        ));
    }
    for (field, value) in &query.filters {
        if value.len() > MAX_INDEXED_VALUE_BYTES {
            return Err(Error::invalid(
                format!("where.{field}"),
                format!("values of indexed fields are at most {MAX_INDEXED_VALUE_BYTES} bytes"),
            ));
        }
        if !indexed.contains(field) {
            return Err(Error::invalid(
                format!("where.{field}"),
                format!(
                    "field '{field}' of resource '{resource}' is not indexed; declare it in the app's config \
                     (PUT /config/{app_id} with \"indexedFields\": {{\"{resource}\": [\"{field}\"]}}); \
                     records written after that are indexed"
                ),
            ));
        }
    }
    let limit = query.limit.clamp(1, MAX_LIMIT);
    let (pk, source) = match query.filters.first() {
        _ if query.own => (
            owner_pk(app_id, resource, &caller.user_id),
            ListSource::Owner,
        ),
        Some((field, value)) => (
            index_pk(app_id, resource, field, value),
            ListSource::Index {
                field: field.clone(),
            },
        ),
        None => (records_pk(app_id, resource), ListSource::Partition),
    };
    let mut start = query.cursor.as_deref().map(cursor::decode).transpose()?;
    let mut items = Vec::new();
    let mut examined = 0;
    let mut examined_bytes = 0;
    loop {
        let page_size = (limit * 2).clamp(20, MAX_LIMIT);
        let partition_key = match source {
            ListSource::Owner => DATA_BY_OWNER.partition_key,
            _ => DATA.partition_key,
        };
        let mut request = store
            .client
            .query()
            .table_name(store.data_table()?)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", partition_key)
            .expression_attribute_values(":pk", attr::s(&pk))
            .scan_index_forward(!query.descending)
            .limit(i32::try_from(page_size).unwrap_or(100));
        if source == ListSource::Owner {
            request = request.index_name(DATA_BY_OWNER.name);
        }
        if let Some(sk) = &start {
            let mut key = Item::new();
            key.insert(partition_key.into(), attr::s(&pk));
            key.insert("sk".into(), attr::s(sk));
            if source == ListSource::Owner {
                // An index's start key carries the table's key too.
                key.insert(
                    DATA.partition_key.into(),
                    attr::s(records_pk(app_id, resource)),
                );
            }
            request = request.set_exclusive_start_key(Some(key));
        }
        let out = request
            .send()
            .await
            .map_err(|e| Error::sdk("query records", e))?;
        let found = out.items.unwrap_or_default();
        let records = match source {
            ListSource::Partition | ListSource::Owner => found
                .iter()
                .map(|i| {
                    item::from_item(i)
                        .map(|(r, _)| (r.id.clone(), Some((r, item::stored_bytes(i)))))
                })
                .collect::<Result<Vec<_>>>()?,
            ListSource::Index { .. } => batch_get(store, app_id, resource, &found).await?,
        };
        let more = out.last_evaluated_key.is_some();
        let count = records.len();
        for (i, (id, record)) in records.into_iter().enumerate() {
            examined += 1;
            examined_bytes += record.as_ref().map_or(0, |(_, bytes)| *bytes);
            let record = record.map(|(r, _)| r);
            start = Some(id.clone());
            let keep = record.filter(|r| r.can_read(caller) && matches_filters(r, &query.filters));
            if let Some(record) = keep {
                items.push(record);
                if items.len() == limit {
                    let last = i + 1 == count && !more;
                    return Ok(ListPage {
                        items,
                        next_cursor: (!last).then(|| cursor::encode(&id)),
                        source,
                    });
                }
            }
        }
        if !more {
            return Ok(ListPage {
                items,
                next_cursor: None,
                source,
            });
        }
        if examined >= MAX_EXAMINED || examined_bytes >= MAX_EXAMINED_BYTES {
            let next_cursor = start.as_deref().map(cursor::encode);
            return Ok(ListPage {
                items,
                next_cursor,
                source,
            });
        }
    }
}

/// Index entries can be a moment older than a concurrent write: check the record itself.
fn matches_filters(record: &Record, filters: &[(String, String)]) -> bool {
    filters.iter().all(|(field, value)| {
        record.data.get(field).and_then(index_value).as_deref() == Some(value)
    })
}

/// The records named by index entries with their stored size, in their order
/// (`None` when deleted since).
async fn batch_get(
    store: &Store,
    app_id: &str,
    resource: &str,
    entries: &[Item],
) -> Result<Vec<(String, Option<(Record, usize)>)>> {
    let ids: Vec<String> = entries
        .iter()
        .map(|e| attr::get_s(e, "sk"))
        .collect::<Result<_>>()?;
    let table = store.data_table()?;
    let pk = records_pk(app_id, resource);
    let mut found: HashMap<String, (Record, usize)> = HashMap::new();
    for chunk in ids.chunks(100) {
        let keys = chunk
            .iter()
            .map(|id| item::index_item(&pk, id))
            .collect::<Vec<_>>();
        let mut pending = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(|e| Error::internal("build batch get", e))?,
        );
        let mut rounds = 0;
        while let Some(request) = pending.take() {
            rounds += 1;
            if rounds > 10 {
                return Err(Error::Internal(
                    "batch get kept returning unprocessed keys".into(),
                ));
            }
            let out = store
                .client
                .batch_get_item()
                .request_items(table, request)
                .send()
                .await
                .map_err(|e| Error::sdk("batch get records", e))?;
            for item in out
                .responses
                .unwrap_or_default()
                .remove(table)
                .unwrap_or_default()
            {
                let (record, _) = item::from_item(&item)?;
                found.insert(record.id.clone(), (record, item::stored_bytes(&item)));
            }
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(table))
                .filter(|k| !k.keys().is_empty());
        }
    }
    Ok(ids
        .into_iter()
        .map(|id| {
            let record = found.remove(&id);
            (id, record)
        })
        .collect())
}
