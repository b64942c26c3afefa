//! The files bucket: presigned PUT/GET URLs and HEAD/DELETE of objects, SigV4-signed by the SDK's signer without
//! linking the S3 client.
//!
//! aws-sdk-s3 would add about 0.8 MiB to the files function's zip (its endpoint rules, checksum algorithms, S3
//! Express sessions, XML codecs) for four requests whose shape never changes. `sign` builds the same URLs and
//! signatures with `aws-sigv4`, the crate the SDK signs with (`tests` compares them with the SDK presigner's, byte
//! for byte); `send` sends HEAD and DELETE through the SDK's orchestrator with the configuration's HTTP client,
//! timeouts and retry settings; credentials come from the configuration's provider.
//!
//! Binding the upload: the PUT is presigned with `content-type` and `content-length` among its headers, and every
//! header of a presigned request is signed (`X-Amz-SignedHeaders` is `content-length;content-type;host`), so S3
//! rejects a PUT whose body length or type differs from the declared ones. The URL carries no checksum. A client
//! is told to send exactly those headers ([`Signed::headers`]).

mod credentials;
mod send;
mod sign;
#[cfg(test)]
mod tests;

use std::time::Duration;

use aws_smithy_async::time::SharedTimeSource;
use aws_types::SdkConfig;

use crate::error::{Error, Result};
use credentials::CredentialsCache;
use send::{Call, Ready};
use sign::{BucketUrl, Signer};

/// S3's longest presigned URL validity (SigV4 query-string signatures): 7 days.
const MAX_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

/// The bucket's address, credentials and calls, built once per cold start.
#[derive(Debug, Clone)]
pub struct FileStore {
    pub bucket: String,
    url: BucketUrl,
    region: String,
    credentials: CredentialsCache,
    time: SharedTimeSource,
    head: Call<Option<ObjectHead>>,
    delete: Call<()>,
}

/// What S3 reports about a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHead {
    pub size: u64,
    pub content_type: Option<String>,
    pub etag: Option<String>,
    /// Epoch seconds.
    pub last_modified: Option<i64>,
}

/// A presigned request: method, URL and the headers the client must send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
}

impl Signed {
    /// A presigned request: every header it carries is signed, and `host` comes from the URL.
    fn from_request(request: &Ready) -> Self {
        Self {
            method: request.method().to_string(),
            url: request.uri().to_string(),
            headers: request
                .headers()
                .iter()
                .filter_map(|(name, value)| {
                    Some((name.to_string(), value.to_str().ok()?.to_owned()))
                })
                .collect(),
        }
    }
}

impl FileStore {
    /// The store of `bucket`, addressed and signed with `sdk`'s region, endpoint override (path-style, the emulator),
    /// credentials provider, HTTP client, timeouts, retry settings and clock.
    pub fn new(sdk: &SdkConfig, bucket: impl Into<String>) -> Result<Self> {
        let bucket = bucket.into();
        let region = sdk.region().map(ToString::to_string).unwrap_or_default();
        let url = BucketUrl::new(&bucket, &region, sdk.endpoint_url())?;
        let provider = sdk.credentials_provider().ok_or_else(|| {
            Error::Internal(
                "files bucket: the SDK configuration has no credentials provider".into(),
            )
        })?;
        Ok(Self {
            head: send::head(sdk, &url.origin),
            delete: send::delete(sdk, &url.origin),
            credentials: CredentialsCache::new(provider),
            time: sdk.time_source().unwrap_or_default(),
            bucket,
            url,
            region,
        })
    }

    /// A URL that uploads exactly `size` bytes of `content_type` to `key`.
    pub async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        expires_in: Duration,
    ) -> Result<Signed> {
        let mut request = http::Request::put(self.url.object(key, Some("PutObject")))
            .header(http::header::CONTENT_LENGTH, size)
            .header(http::header::CONTENT_TYPE, content_type)
            .body(())
            .map_err(|_| Error::invalid("fileType", "is not a valid content type"))?;
        self.presign(&mut request, expires_in).await?;
        Ok(Signed::from_request(&request))
    }

    /// A URL that downloads `key`.
    pub async fn presign_get(&self, key: &str, expires_in: Duration) -> Result<Signed> {
        let mut request = http::Request::get(self.url.object(key, Some("GetObject")))
            .body(())
            .map_err(|err| Error::internal("download URL", err))?;
        self.presign(&mut request, expires_in).await?;
        Ok(Signed::from_request(&request))
    }

    async fn presign(&self, request: &mut Ready, expires_in: Duration) -> Result<()> {
        if expires_in > MAX_EXPIRY {
            return Err(Error::Internal(format!(
                "presigned URLs last at most {} s, not {} s",
                MAX_EXPIRY.as_secs(),
                expires_in.as_secs()
            )));
        }
        self.signer().await?.presign(request, expires_in)
    }

    /// A signer for now: the clock's time and credentials valid then.
    async fn signer(&self) -> Result<Signer<'_>> {
        let time = self.time.now();
        Ok(Signer {
            credentials: self.credentials.get(time).await?,
            region: &self.region,
            time,
        })
    }

    /// A request for `key` signed in its headers, now.
    async fn signed(&self, method: http::Method, key: &str) -> Result<Ready> {
        let mut request = http::Request::builder()
            .method(method)
            .uri(self.url.object(key, None))
            .body(())
            .map_err(|err| Error::internal("object request", err))?;
        self.signer().await?.sign(&mut request)?;
        Ok(request)
    }

    /// The object's real size, type and version; `None` when it does not exist.
    /// (S3 answers 404 rather than 403 only because the role may `s3:ListBucket`.)
    pub async fn head(&self, key: &str) -> Result<Option<ObjectHead>> {
        let request = self.signed(http::Method::HEAD, key).await?;
        self.head
            .invoke(request)
            .await
            .map_err(|err| Error::sdk("head object", err))
    }

    /// Deletes the object (a delete marker in the versioned bucket; absent objects are fine).
    pub async fn delete(&self, key: &str) -> Result<()> {
        let request = self.signed(http::Method::DELETE, key).await?;
        self.delete
            .invoke(request)
            .await
            .map_err(|err| Error::sdk("delete object", err))
    }
}
