//! File metadata in the files table: one item per object key, listed by Query on the app's partition or the owner's index.

use aws_sdk_dynamodb::types::AttributeValue;

use crate::attr::{self, Item};
use crate::condition::OnConditionFailed;
use crate::error::{Error, Result};
use crate::files::s3::ObjectHead;
use crate::store::Store;
use crate::tables::{FILES, FILES_BY_OWNER};

pub(crate) const PENDING: &str = "pending";
pub(crate) const UPLOADED: &str = "uploaded";

/// One file's metadata as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileItem {
    pub key: String,
    pub owner_id: String,
    /// `pending` until the object is seen in S3, then `uploaded`.
    pub status: String,
    pub size: u64,
    pub content_type: String,
    pub etag: Option<String>,
    /// RFC 3339; S3's time once uploaded, the presign time while pending.
    pub last_modified: String,
    /// Epoch seconds after which a pending upload's URL no longer works.
    pub upload_expires_at: i64,
    /// While a re-upload to a key is pending: the ETag of the object it replaces,
    /// so the old object is not taken for the new one.
    pub previous_etag: Option<String>,
}

impl FileItem {
    pub fn is_pending(&self) -> bool {
        self.status == PENDING
    }
}

/// The sort key attribute of the table and its owner index: the object key.
const SK: &str = match FILES.sort_key {
    Some(name) => name,
    None => "sk",
};

pub(crate) use crate::keys::{file_owner_pk as owner_partition, files_pk as partition};

fn from_item(item: &Item) -> Result<FileItem> {
    Ok(FileItem {
        key: attr::get_s(item, SK)?,
        owner_id: attr::get_s(item, "ownerId")?,
        status: attr::get_s(item, "status")?,
        size: attr::opt_i64(item, "size")
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or_default(),
        content_type: attr::opt_s(item, "contentType").unwrap_or_default(),
        etag: attr::opt_s(item, "etag"),
        last_modified: attr::opt_s(item, "lastModified").unwrap_or_default(),
        upload_expires_at: attr::opt_i64(item, "uploadExpiresAt").unwrap_or_default(),
        previous_etag: attr::opt_s(item, "previousEtag"),
    })
}

fn key_of(app_id: &str, key: &str) -> Item {
    Item::from([
        (FILES.partition_key.to_owned(), attr::s(partition(app_id))),
        (SK.to_owned(), attr::s(key)),
    ])
}

/// Records a presigned upload as pending (replacing metadata of an earlier
/// upload to the same key: the new object will replace the old one), in one
/// transaction with the writer's checks and its `file.upload` audit entry.
pub async fn put_pending(
    store: &Store,
    writer: &crate::standing::Writer,
    app_id: &str,
    file: &FileItem,
) -> Result<()> {
    let mut item = key_of(app_id, &file.key);
    item.insert(
        FILES_BY_OWNER.partition_key.to_owned(),
        attr::s(owner_partition(app_id, &file.owner_id)),
    );
    item.insert("ownerId".into(), attr::s(&file.owner_id));
    item.insert("status".into(), attr::s(PENDING));
    item.insert("size".into(), attr::n(file.size));
    item.insert("contentType".into(), attr::s(&file.content_type));
    item.insert("lastModified".into(), attr::s(&file.last_modified));
    item.insert("uploadExpiresAt".into(), attr::n(file.upload_expires_at));
    if let Some(etag) = &file.previous_etag {
        item.insert("previousEtag".into(), attr::s(etag));
    }
    let mut items = writer.items(
        store,
        "file.upload",
        format!("file:{}", file.key),
        Vec::new(),
    )?;
    let put = aws_sdk_dynamodb::types::Put::builder()
        .table_name(store.files_table()?)
        .set_item(Some(item))
        .build()
        .map_err(|e| Error::internal("build pending upload", e))?;
    items.push(
        aws_sdk_dynamodb::types::TransactWriteItem::builder()
            .put(put)
            .build(),
    );
    writer
        .standing
        .transact(store, items, "record pending upload")
        .await
}

/// One file's metadata; `None` when the key is unknown.
pub async fn get(store: &Store, app_id: &str, key: &str) -> Result<Option<FileItem>> {
    let out = store
        .client
        .get_item()
        .table_name(store.files_table()?)
        .set_key(Some(key_of(app_id, key)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| Error::sdk("get file", e))?;
    out.item.as_ref().map(from_item).transpose()
}

/// Marks a pending file uploaded with what S3 reports. Conditional on the
/// item still being pending, so a concurrent delete is not undone.
pub async fn mark_uploaded(
    store: &Store,
    app_id: &str,
    file: &FileItem,
    head: &ObjectHead,
) -> Result<FileItem> {
    let content_type = head
        .content_type
        .clone()
        .unwrap_or_else(|| file.content_type.clone());
    let last_modified = head
        .last_modified
        .map(crate::clock::epoch_to_rfc3339)
        .unwrap_or_else(|| file.last_modified.clone());
    let etag = head.etag.clone().unwrap_or_default();
    let result = store
        .client
        .update_item()
        .table_name(store.files_table()?)
        .set_key(Some(key_of(app_id, &file.key)))
        .update_expression(
            "SET #status = :uploaded, #size = :size, contentType = :type, etag = :etag, lastModified = :modified REMOVE uploadExpiresAt, previousEtag",
        )
        .condition_expression("#status = :pending")
        .expression_attribute_names("#status", "status")
        .expression_attribute_names("#size", "size")
        .expression_attribute_values(":uploaded", attr::s(UPLOADED))
        .expression_attribute_values(":pending", attr::s(PENDING))
        .expression_attribute_values(":size", attr::n(head.size))
        .expression_attribute_values(":type", attr::s(&content_type))
        .expression_attribute_values(":etag", attr::s(&etag))
        .expression_attribute_values(":modified", attr::s(&last_modified))
        .send()
        .await;
    // Another request settled or deleted it first; what it saw is as good.
    result.ok_if_condition_failed("mark file uploaded")?;
    Ok(FileItem {
        status: UPLOADED.into(),
        size: head.size,
        content_type,
        etag: Some(etag),
        last_modified,
        previous_etag: None,
        ..file.clone()
    })
}

/// Drops the metadata of an upload that never happened (only while pending).
pub async fn drop_pending(store: &Store, app_id: &str, key: &str) -> Result<()> {
    let result = store
        .client
        .delete_item()
        .table_name(store.files_table()?)
        .set_key(Some(key_of(app_id, key)))
        .condition_expression("#status = :pending")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":pending", attr::s(PENDING))
        .send()
        .await;
    result.ok_if_condition_failed("drop pending file")?;
    Ok(())
}

/// The writer's checks and the `file.delete` audit entry in one transaction,
/// before anything is deleted: refused (401) when the caller no longer stands.
pub async fn record_delete(
    store: &Store,
    writer: &crate::standing::Writer,
    key: &str,
) -> Result<()> {
    let items = writer.items(store, "file.delete", format!("file:{key}"), Vec::new())?;
    writer
        .standing
        .transact(store, items, "record file delete")
        .await
}

/// Deletes a file's metadata.
pub async fn delete(store: &Store, app_id: &str, key: &str) -> Result<()> {
    store
        .client
        .delete_item()
        .table_name(store.files_table()?)
        .set_key(Some(key_of(app_id, key)))
        .send()
        .await
        .map_err(|e| Error::sdk("delete file metadata", e))?;
    Ok(())
}

/// Which partition a listing reads: the whole app's, or one owner's (index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    App,
    Owner(String),
}

/// One page of metadata in key order, and the last key read when more remain.
pub(crate) async fn query(
    store: &Store,
    app_id: &str,
    scope: &Scope,
    prefix: &str,
    after: Option<&str>,
    limit: i32,
) -> Result<(Vec<FileItem>, Option<String>)> {
    let (index, pk_name, pk_value) = match scope {
        Scope::App => (None, FILES.partition_key, partition(app_id)),
        Scope::Owner(owner) => (
            Some(FILES_BY_OWNER.name),
            FILES_BY_OWNER.partition_key,
            owner_partition(app_id, owner),
        ),
    };
    let start = after.map(|key| {
        let mut start = key_of(app_id, key);
        if let Scope::Owner(owner) = scope {
            start.insert(
                FILES_BY_OWNER.partition_key.to_owned(),
                attr::s(owner_partition(app_id, owner)),
            );
        }
        start
    });
    let out = store
        .client
        .query()
        .table_name(store.files_table()?)
        .set_index_name(index.map(str::to_owned))
        .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
        .expression_attribute_names("#pk", pk_name)
        .expression_attribute_names("#sk", SK)
        .expression_attribute_values(":pk", attr::s(pk_value))
        .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned()))
        .set_exclusive_start_key(start)
        .limit(limit)
        .send()
        .await
        .map_err(|e| Error::sdk("list files", e))?;
    let items = out
        .items()
        .iter()
        .map(from_item)
        .collect::<Result<Vec<_>>>()?;
    let last = out
        .last_evaluated_key()
        .and_then(|key| attr::opt_s(key, SK));
    Ok((items, last))
}
