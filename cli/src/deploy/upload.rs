//! Content-addressed uploads: an object whose key (its hash) exists is never sent again.

use std::path::Path;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

use crate::aws::aws_error;
use crate::error::Result;

async fn exists(s3: &Client, bucket: &str, key: &str) -> Result<bool> {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => Ok(true),
        Err(err)
            if err
                .raw_response()
                .is_some_and(|r| r.status().as_u16() == 404) =>
        {
            Ok(false)
        }
        Err(err) => Err(aws_error(&format!("check s3://{bucket}/{key}"), &err)),
    }
}

/// Uploads the file unless the key exists; returns whether it uploaded.
pub async fn ensure(
    s3: &Client,
    bucket: &str,
    key: &str,
    path: &Path,
    content_type: &str,
) -> Result<bool> {
    if exists(s3, bucket, key).await? {
        return Ok(false);
    }
    let body = ByteStream::from_path(path).await.map_err(|err| {
        crate::error::CliError::new(format!("could not read {}: {err}", path.display()))
    })?;
    put(s3, bucket, key, body, content_type).await
}

/// Uploads the bytes unless the key exists; returns whether it uploaded.
pub async fn ensure_bytes(
    s3: &Client,
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
    content_type: &str,
) -> Result<bool> {
    if exists(s3, bucket, key).await? {
        return Ok(false);
    }
    put(s3, bucket, key, ByteStream::from(bytes), content_type).await
}

async fn put(
    s3: &Client,
    bucket: &str,
    key: &str,
    body: ByteStream,
    content_type: &str,
) -> Result<bool> {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(body)
        .send()
        .await
        .map_err(|err| aws_error(&format!("upload s3://{bucket}/{key}"), &err))?;
    Ok(true)
}
