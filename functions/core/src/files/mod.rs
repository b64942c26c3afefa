//! Files: presigned uploads and downloads under `{appId}/{userId}/`, owner-or-admin access, and metadata listed by Query.
//!
//! Upload state. `upload_url` checks the name, size and type against the app's
//! limits, signs a PUT and records the file as `pending` with the declared size
//! and type. The client then PUTs straight to S3; no confirmation call exists.
//! Instead, whenever `list` or `download_url` meets a pending item it HEADs the
//! object (only pending items, in parallel, at most one page per listing):
//! - the object exists: the item becomes `uploaded` with S3's real size, type,
//!   ETag and LastModified;
//! - it does not, and the upload URL has expired: the upload never happened and
//!   the item is dropped;
//! - it does not yet, and the URL is still valid: the item stays pending.
//!
//! A new upload to an existing key remembers the old object's ETag; until S3
//! holds an object with another ETag (or the URL expires, and the old object
//! stays) the old object is not taken for the new one.
//!
//! `list` returns only uploaded files; `download_url` treats a file that is not
//! uploaded as unknown (404).

pub mod cursor;
pub mod names;
pub mod s3;
pub mod store;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::clock;
use crate::config::UploadLimits;
use crate::data::Caller;
use crate::error::{Error, Result};
use crate::store::Store;
use crate::users::Role;
use cursor::Resume;

pub use s3::FileStore;
pub use store::{FileItem, Scope};

/// Default and largest page size of `list`.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 100;

/// A presigned upload: PUT the bytes to `url` with exactly `headers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UploadUrl {
    pub url: String,
    /// Always `PUT`.
    pub method: String,
    /// The headers the upload must carry, exactly (they are signed).
    pub headers: BTreeMap<String, String>,
    /// The object key: `{appId}/{userId}/{fileName}`.
    pub key: String,
    /// RFC 3339 time after which the URL no longer works.
    pub expires_at: String,
}

/// A presigned download: GET `url` before `expiresAt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DownloadUrl {
    pub url: String,
    pub expires_at: String,
}

/// An uploaded file as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FileInfo {
    pub key: String,
    /// Bytes, as stored in S3.
    pub size: u64,
    pub content_type: String,
    /// RFC 3339.
    pub last_modified: String,
    pub owner_id: String,
}

impl From<FileItem> for FileInfo {
    fn from(item: FileItem) -> Self {
        Self {
            key: item.key,
            size: item.size,
            content_type: item.content_type,
            last_modified: item.last_modified,
            owner_id: item.owner_id,
        }
    }
}

/// A page of files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FilePage {
    pub files: Vec<FileInfo>,
    /// Pass as `cursor` to continue; absent on the last page.
    pub next_cursor: Option<String>,
}

/// What an upload declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUpload {
    pub file_name: String,
    pub file_type: String,
    pub size: u64,
}

/// Stage-wide limits that cap every app's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageLimits {
    pub max_upload_bytes: u64,
    pub url_expiry: Duration,
}

/// Parameters of `list`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub prefix: Option<String>,
    pub cursor: Option<String>,
    pub limit: usize,
    /// Admins only: list one user's files.
    pub owner: Option<String>,
}

fn expires_at(expiry: Duration) -> String {
    let secs = i64::try_from(expiry.as_secs()).unwrap_or(i64::MAX / 2);
    clock::epoch_to_rfc3339(clock::now_epoch().saturating_add(secs))
}

/// Checks the upload against the limits, signs the PUT, then records the file
/// as pending. Nothing is signed for a name, size or type that is refused.
#[allow(clippy::too_many_arguments)]
pub async fn upload_url(
    store: &Store,
    writer: &crate::standing::Writer,
    files: &FileStore,
    app_id: &str,
    caller: &Caller,
    upload: &NewUpload,
    limits: &UploadLimits,
    stage: StageLimits,
) -> Result<UploadUrl> {
    let key = names::object_key(app_id, &caller.user_id, &upload.file_name)?;
    names::check_upload(
        limits,
        stage.max_upload_bytes,
        upload.size,
        &upload.file_type,
    )?;
    let signed = files
        .presign_put(&key, &upload.file_type, upload.size, stage.url_expiry)
        .await?;
    let previous_etag = match store::get(store, app_id, &key).await? {
        Some(old) if !old.is_pending() => old.etag,
        Some(old) => old.previous_etag,
        None => None,
    };
    let now = clock::now_epoch();
    let item = FileItem {
        key: key.clone(),
        owner_id: caller.user_id.clone(),
        status: store::PENDING.into(),
        size: upload.size,
        content_type: upload.file_type.clone(),
        etag: None,
        last_modified: clock::epoch_to_rfc3339(now),
        upload_expires_at: now
            .saturating_add(i64::try_from(stage.url_expiry.as_secs()).unwrap_or(i64::MAX / 2)),
        previous_etag,
    };
    store::put_pending(store, writer, app_id, &item).await?;
    Ok(UploadUrl {
        url: signed.url,
        method: signed.method,
        headers: signed.headers.into_iter().collect(),
        key,
        expires_at: expires_at(stage.url_expiry),
    })
}

/// Settles a pending item against S3 (see the module comment); `None` when it
/// is not (yet) an uploaded file.
async fn settle(
    store: &Store,
    files: &FileStore,
    app_id: &str,
    item: FileItem,
) -> Result<Option<FileItem>> {
    if !item.is_pending() {
        return Ok(Some(item));
    }
    let expired = clock::now_epoch() > item.upload_expires_at;
    match files.head(&item.key).await? {
        // Still the object the upload replaces, and the new one may yet arrive.
        Some(head) if !expired && head.etag.is_some() && head.etag == item.previous_etag => {
            Ok(None)
        }
        Some(head) => store::mark_uploaded(store, app_id, &item, &head)
            .await
            .map(Some),
        None => {
            if expired {
                store::drop_pending(store, app_id, &item.key).await?;
            }
            Ok(None)
        }
    }
}

/// A file the caller may act on: the owner's own, or any of the app's for an
/// admin. A file of someone else is reported as unknown, like an unknown key.
async fn accessible(store: &Store, app_id: &str, caller: &Caller, key: &str) -> Result<FileItem> {
    names::check_key(app_id, key)?;
    let not_found = || Error::NotFound("file".into());
    let item = store::get(store, app_id, key)
        .await?
        .ok_or_else(not_found)?;
    if item.owner_id != caller.user_id && caller.role != Role::Admin {
        return Err(not_found());
    }
    Ok(item)
}

/// A URL that downloads an uploaded file the caller may read.
pub async fn download_url(
    store: &Store,
    files: &FileStore,
    app_id: &str,
    caller: &Caller,
    key: &str,
    stage: StageLimits,
) -> Result<DownloadUrl> {
    let item = accessible(store, app_id, caller, key).await?;
    let item = settle(store, files, app_id, item)
        .await?
        .ok_or_else(|| Error::NotFound("file".into()))?;
    let signed = files.presign_get(&item.key, stage.url_expiry).await?;
    Ok(DownloadUrl {
        url: signed.url,
        expires_at: expires_at(stage.url_expiry),
    })
}

/// Checks the writer's standing in one transaction with the delete's audit
/// entry (a revoked key, a suspended app or a disabled or demoted user deletes
/// nothing), then deletes the object, then its metadata (so a failure in
/// between leaves a listed file that a retry deletes, never an unlisted object).
pub async fn delete(
    store: &Store,
    writer: &crate::standing::Writer,
    files: &FileStore,
    app_id: &str,
    caller: &Caller,
    key: &str,
) -> Result<FileItem> {
    let item = accessible(store, app_id, caller, key).await?;
    store::record_delete(store, writer, &item.key).await?;
    files.delete(&item.key).await?;
    store::delete(store, app_id, &item.key).await?;
    Ok(item)
}

/// One page of uploaded files: the caller's own, or for an admin the whole
/// app's (or one user's with `owner`). Always a Query, never an S3 listing.
pub async fn list(
    store: &Store,
    files: &FileStore,
    app_id: &str,
    caller: &Caller,
    query: &ListQuery,
) -> Result<FilePage> {
    let scope = match (&query.owner, caller.role) {
        (Some(owner), Role::Admin) => Scope::Owner(owner.clone()),
        (None, Role::Admin) => Scope::App,
        (Some(owner), Role::User) if *owner != caller.user_id => {
            return Err(Error::Forbidden(
                "only admins may list other users' files".into(),
            ));
        }
        (_, Role::User) => Scope::Owner(caller.user_id.clone()),
    };
    let empty = || FilePage {
        files: Vec::new(),
        next_cursor: None,
    };
    let Some(prefix) = names::listed_prefix(app_id, query.prefix.as_deref()) else {
        return Ok(empty());
    };
    let after = match query.cursor.as_deref().map(|c| cursor::resume(c, &prefix)) {
        None | Some(Resume::Start) => None,
        Some(Resume::After(key)) => Some(key),
        Some(Resume::Done) => return Ok(empty()),
    };
    let limit = i32::try_from(query.limit.clamp(1, MAX_LIMIT)).unwrap_or(50);
    let (mut items, last) =
        store::query(store, app_id, &scope, &prefix, after.as_deref(), limit).await?;
    if let Some(cursor) = query.cursor.as_deref() {
        items.retain(|item| item.key.as_str() > cursor);
    }
    let files = settle_all(store, files, app_id, items).await?;
    Ok(FilePage {
        files: files.into_iter().map(FileInfo::from).collect(),
        next_cursor: last,
    })
}

/// Settles the pending items of one page concurrently, keeping page order.
async fn settle_all(
    store: &Store,
    files: &FileStore,
    app_id: &str,
    items: Vec<FileItem>,
) -> Result<Vec<FileItem>> {
    let mut tasks = tokio::task::JoinSet::new();
    let mut settled: Vec<Option<FileItem>> = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        if item.is_pending() {
            let (store, files, app_id) = (store.clone(), files.clone(), app_id.to_owned());
            tasks.spawn(async move { (index, settle(&store, &files, &app_id, item).await) });
            settled.push(None);
        } else {
            settled.push(Some(item));
        }
    }
    while let Some(joined) = tasks.join_next().await {
        let (index, result) = joined.map_err(|e| Error::internal("settle pending file", e))?;
        if let Some(slot) = settled.get_mut(index) {
            *slot = result?;
        }
    }
    Ok(settled.into_iter().flatten().collect())
}
