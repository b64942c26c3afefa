//! The files bucket: presigned PUT/GET URLs (the SDK's own SigV4 presigner), HEAD and DELETE of objects.
//!
//! Binding the upload: `PutObject` is presigned with `content_type` and
//! `content_length` set, so both travel as request headers at signing time.
//! aws-sigv4 signs every header of the request except `authorization`,
//! `user-agent`, `x-amzn-trace-id` and `transfer-encoding` (its
//! `SigningSettings::default().excluded_headers`), and for query-string
//! signatures also skips `x-amz-user-agent` and `x-amz-checksum-mode`
//! (`canonical_request.rs`). `content-length` and `content-type` are therefore
//! in `X-Amz-SignedHeaders`, and S3 rejects a PUT whose body length or type
//! differs from the declared ones (the presigning interceptor only omits the
//! *default* content length derived from an empty body, not an explicit one).
//! Presigned requests also skip the SDK's default request checksums, so the URL
//! carries no checksum of an empty body.
//!
//! A client is told to send only the signed headers: inside Lambda the SDK adds
//! `x-amzn-trace-id` (from `_X_AMZN_TRACE_ID`) to the presigned request too, and
//! a browser sending it would need the bucket's CORS to allow a header S3 does
//! not even check.

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};

use crate::error::{Error, Result};

/// The S3 client and the bucket's name, built once per cold start.
#[derive(Debug, Clone)]
pub struct FileStore {
    pub client: Client,
    pub bucket: String,
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

impl From<PresignedRequest> for Signed {
    fn from(request: PresignedRequest) -> Self {
        let signed = signed_header_names(request.uri());
        Self {
            method: request.method().to_owned(),
            url: request.uri().to_owned(),
            headers: request
                .headers()
                .filter(|(name, _)| signed.iter().any(|s| s.eq_ignore_ascii_case(name)))
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
        }
    }
}

/// The header names a presigned URL's signature covers (`X-Amz-SignedHeaders`,
/// lower-case names joined by an encoded `;`).
fn signed_header_names(url: &str) -> Vec<String> {
    let query = url.split_once('?').map_or("", |(_, query)| query);
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("X-Amz-SignedHeaders="))
        .map(|names| {
            names
                .replace("%3B", ";")
                .replace("%3b", ";")
                .split(';')
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn presigning(expires_in: Duration) -> Result<PresigningConfig> {
    PresigningConfig::expires_in(expires_in).map_err(|e| Error::internal("presigning config", e))
}

impl FileStore {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    /// A URL that uploads exactly `size` bytes of `content_type` to `key`.
    pub async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        expires_in: Duration,
    ) -> Result<Signed> {
        let length = i64::try_from(size).map_err(|_| Error::invalid("size", "is too large"))?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(length)
            .presigned(presigning(expires_in)?)
            .await
            .map_err(|e| Error::sdk("presign upload", e))?;
        Ok(request.into())
    }

    /// A URL that downloads `key`.
    pub async fn presign_get(&self, key: &str, expires_in: Duration) -> Result<Signed> {
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(presigning(expires_in)?)
            .await
            .map_err(|e| Error::sdk("presign download", e))?;
        Ok(request.into())
    }

    /// The object's real size, type and version; `None` when it does not exist.
    /// (S3 answers 404 rather than 403 only because the role may `s3:ListBucket`.)
    pub async fn head(&self, key: &str) -> Result<Option<ObjectHead>> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectHead {
                size: out
                    .content_length()
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or_default(),
                content_type: out.content_type().map(str::to_owned),
                etag: out.e_tag().map(str::to_owned),
                last_modified: out.last_modified().map(|t| t.secs()),
            })),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(err) => Err(Error::sdk("head object", err)),
        }
    }

    /// Deletes the object (a delete marker in the versioned bucket; absent objects are fine).
    pub async fn delete(&self, key: &str) -> Result<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| Error::sdk("delete object", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

    fn store() -> FileStore {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
            .build();
        FileStore::new(Client::from_conf(config), "files-bucket")
    }

    fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
        let (_, query) = url.split_once('?')?;
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
    }

    #[tokio::test]
    async fn upload_urls_bind_type_length_and_expiry() {
        let signed = store()
            .presign_put(
                "shop/u1/docs/a b.pdf",
                "application/pdf",
                1234,
                Duration::from_secs(300),
            )
            .await
            .unwrap();
        assert_eq!(signed.method, "PUT");
        assert!(
            signed.url.contains("files-bucket") && signed.url.contains("/shop/u1/docs/a%20b.pdf?"),
            "{}",
            signed.url
        );
        assert_eq!(query_param(&signed.url, "X-Amz-Expires"), Some("300"));
        let signed_headers = query_param(&signed.url, "X-Amz-SignedHeaders").unwrap();
        let names: Vec<&str> = signed_headers.split("%3B").collect();
        assert!(names.contains(&"content-length"), "{signed_headers}");
        assert!(names.contains(&"content-type"), "{signed_headers}");
        assert!(query_param(&signed.url, "X-Amz-Signature").is_some());
        // No checksum of an empty body is baked into the URL.
        assert!(!signed.url.contains("checksum"), "{}", signed.url);
        let mut headers = signed.headers.clone();
        headers.sort();
        assert_eq!(
            headers,
            vec![
                ("content-length".to_owned(), "1234".to_owned()),
                ("content-type".to_owned(), "application/pdf".to_owned()),
            ]
        );
    }

    /// What the SDK's recursion detection does inside Lambda: a trace id header on every request.
    #[derive(Debug)]
    struct LambdaTraceId;

    impl aws_sdk_s3::config::Intercept for LambdaTraceId {
        fn name(&self) -> &'static str {
            "LambdaTraceId"
        }

        fn modify_before_signing(
            &self,
            context: &mut aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
            _: &aws_sdk_s3::config::RuntimeComponents,
            _: &mut aws_sdk_s3::config::ConfigBag,
        ) -> std::result::Result<(), aws_sdk_s3::error::BoxError> {
            context.request_mut().headers_mut().insert(
                "x-amzn-trace-id",
                "Root=1-6b04cad0-76730cf8013b4d51996dff31",
            );
            Ok(())
        }
    }

    #[tokio::test]
    async fn upload_urls_ask_only_for_signed_headers() {
        let config = store()
            .client
            .config()
            .to_builder()
            .interceptor(LambdaTraceId)
            .build();
        let inside_lambda = FileStore::new(Client::from_conf(config), "files-bucket");
        let signed = inside_lambda
            .presign_put("shop/u1/a.txt", "text/plain", 3, Duration::from_secs(60))
            .await
            .unwrap();
        let signed_headers = query_param(&signed.url, "X-Amz-SignedHeaders").unwrap();
        assert!(!signed_headers.contains("trace"), "{signed_headers}");
        let mut names: Vec<&str> = signed.headers.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["content-length", "content-type"]);
    }

    #[test]
    fn signed_header_names_come_from_the_url() {
        assert_eq!(
            signed_header_names(
                "https://b/k?X-Amz-Expires=1&X-Amz-SignedHeaders=content-length%3Bhost&X-Amz-Signature=ab"
            ),
            ["content-length", "host"]
        );
        assert!(signed_header_names("https://b/k").is_empty());
    }

    #[tokio::test]
    async fn download_urls_expire_as_configured() {
        let signed = store()
            .presign_get("shop/u1/a.txt", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(signed.method, "GET");
        assert!(signed.url.contains("/shop/u1/a.txt?"), "{}", signed.url);
        assert_eq!(query_param(&signed.url, "X-Amz-Expires"), Some("60"));
        assert!(signed.headers.is_empty(), "{:?}", signed.headers);
    }
}
