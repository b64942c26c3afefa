//! The app's objects in the files bucket: everything under `{appId}/`.
//!
//! The bucket is versioned. Deleting by key (no version id) leaves a delete
//! marker and turns the object's data into a noncurrent version, which the
//! bucket's lifecycle rule expires after 30 days; `apps delete` says so rather
//! than purging versions, so a mistaken delete stays recoverable for a while.

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use super::dynamo::{Count, MAX_COUNT_PAGES};
use crate::aws::aws_error;
use crate::error::{CliError, Result};

/// How long noncurrent versions live (the bucket's `expire-noncurrent-versions` rule).
pub const NONCURRENT_DAYS: u32 = 30;

/// The key prefix of one app's objects. The trailing `/` keeps app `shop`
/// from matching app `shop-2`.
pub fn prefix(app_id: &str) -> String {
    format!("{app_id}/")
}

pub fn location(bucket: &str, app_id: &str) -> String {
    format!("s3://{bucket}/{}", prefix(app_id))
}

/// One page (up to 1000) of current object keys under `prefix`, and where to continue.
async fn page(
    s3: &Client,
    bucket: &str,
    prefix: &str,
    token: Option<String>,
) -> Result<(Vec<String>, Option<String>)> {
    let out = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .set_continuation_token(token)
        .send()
        .await
        .map_err(|e| aws_error(&format!("list objects in s3://{bucket}/{prefix}"), &e))?;
    let keys = out
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    let next = if out.is_truncated().unwrap_or(false) {
        out.next_continuation_token().map(str::to_owned)
    } else {
        None
    };
    Ok((keys, next))
}

/// Counts current objects under `prefix`, listing at most a few pages.
pub async fn count(s3: &Client, bucket: &str, prefix: &str) -> Result<Count> {
    let mut total = Count::default();
    let mut token = None;
    for _ in 0..MAX_COUNT_PAGES {
        let (keys, next) = page(s3, bucket, prefix, token).await?;
        total.count += keys.len() as u64;
        token = next;
        if token.is_none() {
            return Ok(total);
        }
    }
    total.at_least = true;
    Ok(total)
}

/// Deletes every current object under `prefix` (paged listing, DeleteObjects
/// per page); returns how many.
pub async fn delete_all(s3: &Client, bucket: &str, prefix: &str) -> Result<u64> {
    let mut deleted = 0;
    loop {
        // Deleted objects leave the listing, so every round lists from the start.
        let (keys, _) = page(s3, bucket, prefix, None).await?;
        if keys.is_empty() {
            return Ok(deleted);
        }
        let objects = keys
            .iter()
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CliError::new(format!("could not build the object list: {e}")))?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| CliError::new(format!("could not build the delete request: {e}")))?;
        let out = s3
            .delete_objects()
            .bucket(bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| aws_error(&format!("delete objects in s3://{bucket}/{prefix}"), &e))?;
        if let Some(first) = out.errors().first() {
            return Err(CliError::new(format!(
                "could not delete {} of the objects in s3://{bucket}/{prefix}, e.g. {}: {}",
                out.errors().len(),
                first.key().unwrap_or("?"),
                first
                    .message()
                    .or(first.code())
                    .unwrap_or("no reason given")
            ))
            .fix("fix the cause (e.g. permissions) and run the same `obctl apps delete` again"));
        }
        deleted += keys.len() as u64;
    }
}
