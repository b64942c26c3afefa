//! HEAD and DELETE of an object, sent by the SDK's own orchestrator: its HTTP client, timeouts and standard retries.
//!
//! The request is signed before it is handed over (`sign`), so every attempt carries the same signature; S3 accepts
//! it for 15 minutes after its `x-amz-date`, far longer than the bounded retries take. Retried like the SDK's S3
//! client: 500, 502, 503 (S3's `SlowDown` throttling) and 504, and transient I/O errors and timeouts, at most
//! `RetryConfig::max_attempts` times with its exponential backoff.

use std::fmt;

use aws_smithy_runtime::client::orchestrator::operation::Operation;
use aws_smithy_runtime::client::retries::classifiers::{
    HttpStatusCodeClassifier, TransientErrorClassifier,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse, OrchestratorError};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::date_time::{DateTime, Format};
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::SdkConfig;

use super::ObjectHead;

/// A signed request ready to go.
pub type Ready = http::Request<()>;

/// The call S3 answers with `O`.
pub type Call<O> = Operation<Ready, O, S3Error>;

/// An answer of S3 that is not the operation's success.
#[derive(Debug)]
pub struct S3Error {
    pub status: u16,
    /// S3's error code (`AccessDenied`, `SlowDown`…) when the answer had a body naming it.
    pub code: Option<String>,
    pub message: Option<String>,
    pub request_id: Option<String>,
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S3 answered {}", self.status)?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for S3Error {}

impl S3Error {
    fn of(response: &HttpResponse) -> OrchestratorError<Self> {
        let body = response
            .body()
            .bytes()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        OrchestratorError::operation(Self {
            status: response.status().as_u16(),
            code: xml_element(&body, "Code"),
            message: xml_element(&body, "Message"),
            request_id: header(response, "x-amz-request-id"),
        })
    }
}

/// The text of the first `<name>` element of S3's error document (no entities: codes and messages are plain).
fn xml_element(body: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = body.find(&open)? + open.len();
    let end = start + body[start..].find(&format!("</{name}>"))?;
    Some(body[start..end].to_owned())
}

fn header(response: &HttpResponse, name: &str) -> Option<String> {
    response.headers().get(name).map(str::to_owned)
}

/// `HeadObject`: the object's head on 200, `None` on 404 (S3 answers 403 instead when the caller may not list the
/// bucket: that stays an error).
pub fn head(sdk: &SdkConfig, origin: &str) -> Call<Option<ObjectHead>> {
    operation(sdk, origin, "HeadObject", |response| {
        match response.status().as_u16() {
            200 => Ok(Some(ObjectHead {
                size: header(response, "content-length")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_default(),
                content_type: header(response, "content-type"),
                etag: header(response, "etag"),
                last_modified: header(response, "last-modified")
                    .and_then(|t| DateTime::from_str(&t, Format::HttpDate).ok())
                    .map(|t| t.secs()),
            })),
            404 => Ok(None),
            _ => Err(S3Error::of(response)),
        }
    })
}

/// `DeleteObject`: 204 (a delete marker in a versioned bucket; an absent key is no error).
pub fn delete(sdk: &SdkConfig, origin: &str) -> Call<()> {
    operation(sdk, origin, "DeleteObject", |response| {
        if response.status().is_success() {
            Ok(())
        } else {
            Err(S3Error::of(response))
        }
    })
}

fn operation<O>(
    sdk: &SdkConfig,
    origin: &str,
    name: &'static str,
    deserialize: impl Fn(&HttpResponse) -> Result<O, OrchestratorError<S3Error>> + Send + Sync + 'static,
) -> Call<O>
where
    O: fmt::Debug + Send + Sync + 'static,
{
    let mut builder = Operation::builder()
        .service_name("s3")
        .operation_name(name)
        .endpoint_url(origin)
        // Signed already (`Signer::sign`), with the credentials of `sdk`'s provider.
        .no_auth()
        .standard_retry(
            &sdk.retry_config()
                .cloned()
                .unwrap_or_else(RetryConfig::standard),
        )
        .retry_classifier(HttpStatusCodeClassifier::default())
        .retry_classifier(TransientErrorClassifier::<S3Error>::new())
        .timeout_config(
            sdk.timeout_config()
                .cloned()
                .unwrap_or_else(TimeoutConfig::disabled),
        );
    if let Some(behavior_version) = sdk.behavior_version() {
        builder = builder.behavior_version(behavior_version);
    }
    if let Some(client) = sdk.http_client() {
        builder = builder.http_client(client);
    }
    if let Some(sleep) = sdk.sleep_impl() {
        builder = builder.sleep_impl(sleep);
    }
    if let Some(time) = sdk.time_source() {
        builder = builder.time_source(time);
    }
    builder
        .serializer(|request: Ready| Ok(HttpRequest::try_from(request.map(|()| SdkBody::empty()))?))
        .deserializer(deserialize)
        .build()
}
