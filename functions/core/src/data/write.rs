//! Record writes: one TransactWriteItems per write, conditional on the version
//! read, that also deletes stale and puts new index entries, writes the audit
//! entry and checks the caller's standing (`ob_core::standing`).

use std::collections::BTreeSet;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use serde_json::{Map, Value};

use super::item::{self, index_item, records_pk};
use super::{
    Caller, Permissions, Record, check_reserved, check_size, new_id, validate_permissions,
};
use crate::attr;
use crate::clock;
use crate::error::{Error, Result};
use crate::standing::Writer;
use crate::store::Store;
use crate::tables::DATA;

/// How often a write re-reads and retries after losing a race without `If-Match`.
const MAX_ATTEMPTS: usize = 5;

/// A change to an existing record.
#[derive(Debug, Clone)]
pub enum Change {
    /// `PUT`: the data is replaced; permissions too when given.
    Replace {
        data: Map<String, Value>,
        permissions: Option<Permissions>,
    },
    /// `PATCH`: top-level data fields are merged in; permissions replaced when given.
    Patch {
        data: Map<String, Value>,
        permissions: Option<Permissions>,
    },
}

enum Outcome {
    Done,
    /// The condition failed or another transaction interfered: re-read and retry.
    Lost,
}

fn classify(
    writer: &Writer,
    err: SdkError<TransactWriteItemsError, impl std::fmt::Debug + Send + Sync + 'static>,
) -> Result<Outcome> {
    if let Some(refusal) = writer.refusal(&crate::sessions::cancellation_codes(&err)) {
        return Err(refusal);
    }
    let lost = match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => e
            .cancellation_reasons()
            .iter()
            .filter_map(|r| r.code())
            .any(|c| c == "ConditionalCheckFailed" || c == "TransactionConflict"),
        Some(other) => {
            use aws_sdk_dynamodb::error::ProvideErrorMetadata;
            other.code() == Some("TransactionConflictException")
        }
        None => false,
    };
    if lost {
        Ok(Outcome::Lost)
    } else {
        Err(Error::sdk("write record", err))
    }
}

/// The record's stored JSON and index partitions, validated (size, indexed values).
fn encode(app_id: &str, record: &Record, indexed: &[String]) -> Result<(String, BTreeSet<String>)> {
    let data_json =
        serde_json::to_string(&record.data).map_err(|e| Error::internal("encode record", e))?;
    check_size(&data_json, &record.permissions)?;
    let ix = item::index_keys(app_id, &record.resource, &record.data, indexed)?;
    Ok((data_json, ix))
}

/// Writes `record` (new when `expected` is `None`, else only over that version)
/// and moves its index entries from `old_ix` to those of its data, behind the
/// writer's checks and with its audit entry of `action`.
#[allow(clippy::too_many_arguments)]
async fn transact(
    store: &Store,
    writer: &Writer,
    (action, changed): (&str, Vec<String>),
    app_id: &str,
    record: &Record,
    old_ix: &BTreeSet<String>,
    indexed: &[String],
    expected: Option<u64>,
) -> Result<Outcome> {
    let table = store.data_table()?;
    let (data_json, new_ix) = encode(app_id, record, indexed)?;
    let target = format!("{}:{}", record.resource, record.id);
    let mut put = Put::builder()
        .table_name(table)
        .set_item(Some(item::to_item(app_id, record, &data_json, &new_ix)));
    put = match expected {
        None => put
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", DATA.partition_key),
        Some(version) => put
            .condition_expression("version = :expected")
            .expression_attribute_values(":expected", attr::n(version)),
    };
    let mut items = writer.items(store, action, target, changed)?;
    items.push(
        TransactWriteItem::builder()
            .put(put.build().map_err(|e| Error::internal("build put", e))?)
            .build(),
    );
    for pk in old_ix.difference(&new_ix) {
        let delete = Delete::builder()
            .table_name(table)
            .set_key(Some(index_item(pk, &record.id)))
            .build()
            .map_err(|e| Error::internal("build delete", e))?;
        items.push(TransactWriteItem::builder().delete(delete).build());
    }
    for pk in new_ix.difference(old_ix) {
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(index_item(pk, &record.id)))
            .build()
            .map_err(|e| Error::internal("build put", e))?;
        items.push(TransactWriteItem::builder().put(put).build());
    }
    match store
        .client
        .transact_write_items()
        .set_transact_items(Some(items))
        .send()
        .await
    {
        Ok(_) => Ok(Outcome::Done),
        Err(err) => classify(writer, err),
    }
}

/// Creates a record owned by the caller (default permissions: owner only).
/// `registered`: this instance already wrote the resource's registry entry
/// (then a warm create is one round trip: the transaction).
#[allow(clippy::too_many_arguments)]
pub async fn create(
    store: &Store,
    writer: &Writer,
    app_id: &str,
    resource: &str,
    caller: &Caller,
    data: Map<String, Value>,
    permissions: Option<Permissions>,
    indexed: &[String],
    registered: bool,
) -> Result<Record> {
    check_reserved(&data)?;
    let permissions = permissions.unwrap_or_default();
    validate_permissions(&permissions)?;
    let now = clock::now_rfc3339();
    let record = Record {
        id: new_id(),
        resource: resource.to_owned(),
        data,
        permissions,
        owner_id: caller.user_id.clone(),
        created_at: now.clone(),
        updated_at: now,
        version: 1,
    };
    // Validated before registering, so a rejected create writes nothing.
    encode(app_id, &record, indexed)?;
    if !registered {
        register_resource(store, app_id, resource).await?;
    }
    let changed = record.data.keys().cloned().collect();
    let audit = ("data.create", changed);
    match transact(
        store,
        writer,
        audit,
        app_id,
        &record,
        &BTreeSet::new(),
        indexed,
        None,
    )
    .await?
    {
        Outcome::Done => Ok(record),
        Outcome::Lost => Err(Error::Conflict("record id collision; retry".into())),
    }
}

/// Records that the app stores records of `resource` (`RS#{appId}`, see
/// `tables::DATA`), so `obctl apps delete` finds every record partition by Query.
///
/// An unconditional, idempotent Put, written before the record (so no record
/// exists without its entry) and deliberately outside the record's transaction:
/// every create of a resource writes this same item, and concurrent
/// transactions touching one item cancel each other (`TransactionConflict`),
/// while plain Puts of an identical item never conflict.
async fn register_resource(store: &Store, app_id: &str, resource: &str) -> Result<()> {
    store
        .client
        .put_item()
        .table_name(store.data_table()?)
        .set_item(Some(item::registry_item(app_id, resource)))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| Error::sdk("register resource", e))
}

/// Reads the current record item (consistent) with its index partitions.
pub(crate) async fn current(
    store: &Store,
    app_id: &str,
    resource: &str,
    id: &str,
) -> Result<Option<(Record, BTreeSet<String>)>> {
    let mut key = attr::Item::new();
    key.insert(
        DATA.partition_key.into(),
        attr::s(records_pk(app_id, resource)),
    );
    key.insert("sk".into(), attr::s(id));
    let out = store
        .client
        .get_item()
        .table_name(store.data_table()?)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| Error::sdk("read record", e))?;
    out.item.as_ref().map(item::from_item).transpose()
}

/// The record when the caller may write it; 404 when it is missing or
/// unreadable, 403 when readable only, 412 when `expected` is not current.
async fn writable(
    store: &Store,
    app_id: &str,
    resource: &str,
    id: &str,
    caller: &Caller,
    expected: Option<u64>,
) -> Result<(Record, BTreeSet<String>)> {
    let not_found = || Error::NotFound(format!("{resource} record {id}"));
    let (record, ix) = current(store, app_id, resource, id)
        .await?
        .ok_or_else(not_found)?;
    if !record.can_read(caller) {
        return Err(not_found());
    }
    if !record.can_write(caller) {
        return Err(Error::Forbidden(
            "no write permission on this record".into(),
        ));
    }
    if let Some(version) = expected
        && version != record.version
    {
        return Err(Error::PreconditionFailed {
            current_version: record.version,
        });
    }
    Ok((record, ix))
}

/// Replaces or merges a record; with `expected`, only over that version.
/// Returns the new record and the previous one.
#[allow(clippy::too_many_arguments)]
pub async fn update(
    store: &Store,
    writer: &Writer,
    app_id: &str,
    resource: &str,
    id: &str,
    caller: &Caller,
    change: Change,
    expected: Option<u64>,
    indexed: &[String],
) -> Result<(Record, Record)> {
    let (data_in, permissions) = match &change {
        Change::Replace { data, permissions } | Change::Patch { data, permissions } => {
            (data, permissions)
        }
    };
    check_reserved(data_in)?;
    if let Some(p) = permissions {
        validate_permissions(p)?;
    }
    for _ in 0..MAX_ATTEMPTS {
        let (old, old_ix) = writable(store, app_id, resource, id, caller, expected).await?;
        let mut new = old.clone();
        match &change {
            Change::Replace { data, .. } => new.data = data.clone(),
            Change::Patch { data, .. } => new.data.extend(data.clone()),
        }
        if let Some(p) = permissions {
            new.permissions = p.clone();
        }
        new.version = old.version + 1;
        new.updated_at = clock::now_rfc3339();
        let audit = ("data.update", new.changed_fields(&old));
        if let Outcome::Done = transact(
            store,
            writer,
            audit,
            app_id,
            &new,
            &old_ix,
            indexed,
            Some(old.version),
        )
        .await?
        {
            return Ok((new, old));
        }
    }
    Err(Error::Conflict(
        "record is being changed concurrently; retry".into(),
    ))
}

/// Deletes a record and its index entries; with `expected`, only that version.
pub async fn delete(
    store: &Store,
    writer: &Writer,
    app_id: &str,
    resource: &str,
    id: &str,
    caller: &Caller,
    expected: Option<u64>,
) -> Result<Record> {
    let table = store.data_table()?;
    for _ in 0..MAX_ATTEMPTS {
        let (old, old_ix) = writable(store, app_id, resource, id, caller, expected).await?;
        let mut items = writer.items(
            store,
            "data.delete",
            format!("{resource}:{id}"),
            old.data.keys().cloned().collect(),
        )?;
        let delete = Delete::builder()
            .table_name(table)
            .set_key(Some(index_item(&records_pk(app_id, resource), id)))
            .condition_expression("version = :expected")
            .expression_attribute_values(":expected", attr::n(old.version))
            .build()
            .map_err(|e| Error::internal("build delete", e))?;
        items.push(TransactWriteItem::builder().delete(delete).build());
        for pk in &old_ix {
            let delete = Delete::builder()
                .table_name(table)
                .set_key(Some(index_item(pk, id)))
                .build()
                .map_err(|e| Error::internal("build delete", e))?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        let sent = store
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match sent {
            Ok(_) => return Ok(old),
            Err(err) => {
                if let Outcome::Done = classify(writer, err)? {
                    return Ok(old);
                }
            }
        }
    }
    Err(Error::Conflict(
        "record is being changed concurrently; retry".into(),
    ))
}
