//! One delivery attempt: a signed POST to vetted addresses only, no redirects followed, a few seconds at most.
//!
//! The target's name is resolved and every address checked against the
//! stage's [`TargetPolicy`] right before the attempt, and the connection's own
//! resolver checks again what it connects to, so a name re-pointed at a
//! private address between the two (DNS rebinding) is refused too. A 3xx is a
//! failed attempt like any other non-2xx: following it would let an allowed
//! host send the request on to a forbidden one.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;

use super::MAX_PAYLOAD_BYTES;
use super::signing::{SigningSecret, signature_header};
use super::target::{Refusal, TargetPolicy, TargetUrl};
use crate::error::{Error, Result};

/// How long an attempt may take, connection and response included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// How much of a response body the delivery log keeps.
pub const EXCERPT_BYTES: usize = 512;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// A 2xx answer.
    pub delivered: bool,
    /// The receiver's status code, when it answered.
    pub status: Option<u16>,
    /// Why it failed without an answer (timeout, refusal, connection error),
    /// or what a non-2xx answer means (`redirect not followed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The start of the response body (text, at most [`EXCERPT_BYTES`]).
    pub response_excerpt: String,
    pub duration_ms: u64,
    /// The target was refused by the address policy: retrying cannot help
    /// until its DNS changes, but it is retried like any failure.
    pub refused: bool,
}

/// A message to deliver: its stable id (`webhook-id`, the same on every
/// retry) and its JSON body.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub id: &'a str,
    pub body: &'a [u8],
}

/// The root certificates a sender trusts.
#[derive(Clone)]
pub enum TrustedRoots {
    /// The OS's native store, loaded when the sender is built (on Linux every file of the certificate directory).
    Native,
    /// Exactly these: the Lambda function's one PEM bundle, read once per process (`ob_lambda::roots`).
    Store(Arc<rustls::RootCertStore>),
    /// Those `load` gives, loaded at the first attempt and not when the sender is built: parsing a bundle's roots is
    /// most of a cold start, and a batch that sends nothing never needs them. Without them (`load` fails), the
    /// native store, as if the sender had been built with [`TrustedRoots::Native`].
    Loaded(RootsLoader),
}

/// Loads a sender's roots, once, at its first attempt.
pub type RootsLoader =
    Arc<dyn Fn() -> std::result::Result<Arc<rustls::RootCertStore>, String> + Send + Sync>;

impl std::fmt::Debug for TrustedRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Native => f.write_str("Native"),
            Self::Store(store) => write!(f, "Store({} roots)", store.len()),
            Self::Loaded(_) => f.write_str("Loaded(at the first attempt)"),
        }
    }
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector<VettedResolver>>, Full<Bytes>>;

/// Sends attempts; built once per process (the TLS roots load once).
#[derive(Debug, Clone)]
pub struct Sender {
    /// Built with the sender, or at its first attempt for [`TrustedRoots::Loaded`] (then the error it met, if any).
    client: Arc<OnceLock<std::result::Result<HttpsClient, String>>>,
    policy: TargetPolicy,
    timeout: Duration,
    roots: TrustedRoots,
}

impl Sender {
    pub fn new(policy: TargetPolicy) -> Result<Self> {
        Self::with_timeout(policy, ATTEMPT_TIMEOUT)
    }

    pub fn with_timeout(policy: TargetPolicy, timeout: Duration) -> Result<Self> {
        Self::with_roots(policy, TrustedRoots::Native, timeout)
    }

    pub fn with_roots(
        policy: TargetPolicy,
        roots: TrustedRoots,
        timeout: Duration,
    ) -> Result<Self> {
        let client = OnceLock::new();
        match &roots {
            TrustedRoots::Native => {
                let _ = client.set(Ok(https_client(policy, None, timeout)?));
            }
            TrustedRoots::Store(store) => {
                let _ = client.set(Ok(https_client(policy, Some(store), timeout)?));
            }
            TrustedRoots::Loaded(_) => {}
        }
        Ok(Self {
            client: Arc::new(client),
            policy,
            timeout,
            roots,
        })
    }

    /// The HTTPS client, built now if its roots load at the first attempt.
    fn client(&self) -> std::result::Result<&HttpsClient, &str> {
        self.client
            .get_or_init(|| {
                let TrustedRoots::Loaded(load) = &self.roots else {
                    return Err("no HTTPS client".to_owned());
                };
                let store = load()
                    .inspect_err(|err| {
                        tracing::warn!(error = %err, "webhooks: trusting the native root store instead");
                    })
                    .ok();
                https_client(self.policy, store.as_ref(), self.timeout).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(String::as_str)
    }

    pub fn policy(&self) -> TargetPolicy {
        self.policy
    }

    pub fn trusted_roots(&self) -> &TrustedRoots {
        &self.roots
    }

    /// POSTs `message` to `url`, signed with `secrets` at `timestamp`.
    pub async fn attempt(
        &self,
        url: &str,
        message: Message<'_>,
        secrets: &[&SigningSecret],
        timestamp: i64,
    ) -> Attempt {
        let started = Instant::now();
        let mut attempt = self.try_attempt(url, message, secrets, timestamp).await;
        attempt.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        attempt
    }

    async fn try_attempt(
        &self,
        url: &str,
        message: Message<'_>,
        secrets: &[&SigningSecret],
        timestamp: i64,
    ) -> Attempt {
        let failed = |error: String, refused: bool| Attempt {
            delivered: false,
            status: None,
            error: Some(error),
            response_excerpt: String::new(),
            duration_ms: 0,
            refused,
        };
        // Registration checked the URL under the policy of its day; check again.
        let target = match TargetUrl::parse(url, self.policy) {
            Ok(target) => target,
            Err(e) => return failed(e.to_string(), true),
        };
        if let Err(refusal) = resolve(target.host(), self.policy).await {
            return failed(refusal.to_string(), true);
        }
        if message.body.len() > MAX_PAYLOAD_BYTES {
            return failed(
                format!(
                    "payload of {} bytes is over the {MAX_PAYLOAD_BYTES}-byte cap",
                    message.body.len()
                ),
                false,
            );
        }
        let request = http::Request::post(target.as_str())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::USER_AGENT, "OneBackend-Webhooks/1")
            .header("webhook-id", message.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                signature_header(secrets, message.id, timestamp, message.body),
            )
            .body(Full::new(Bytes::copy_from_slice(message.body)));
        let request = match request {
            Ok(request) => request,
            Err(e) => return failed(format!("could not build the request: {e}"), false),
        };
        let client = match self.client() {
            Ok(client) => client,
            Err(e) => return failed(format!("could not set up TLS: {e}"), false),
        };
        let exchange = async {
            let response = client.request(request).await?;
            let status = response.status();
            let mut body = response.into_body();
            let mut excerpt = Vec::new();
            while excerpt.len() < EXCERPT_BYTES {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Some(data) = frame.data_ref() {
                            excerpt.extend_from_slice(data);
                        }
                    }
                    // A body cut short still leaves the status to judge by.
                    Some(Err(_)) | None => break,
                }
            }
            excerpt.truncate(EXCERPT_BYTES);
            Ok::<_, hyper_util::client::legacy::Error>((status, excerpt))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => failed(
                format!("no answer within {} s", self.timeout.as_secs()),
                false,
            ),
            Ok(Err(e)) => {
                let refused = is_refusal(&e);
                failed(connection_error(&e), refused)
            }
            Ok(Ok((status, excerpt))) => Attempt {
                delivered: status.is_success(),
                status: Some(status.as_u16()),
                error: status
                    .is_redirection()
                    .then(|| "redirect not followed".to_owned()),
                response_excerpt: String::from_utf8_lossy(&excerpt).into_owned(),
                duration_ms: 0,
                refused: false,
            },
        }
    }
}

/// A client connecting through the vetted resolver, trusting `store` (else the native roots).
fn https_client(
    policy: TargetPolicy,
    store: Option<&Arc<rustls::RootCertStore>>,
    timeout: Duration,
) -> Result<HttpsClient> {
    let mut http = HttpConnector::new_with_resolver(VettedResolver { policy });
    // The scheme is the target's business (https unless the stage allows
    // local targets): checked by `TargetUrl::parse`, not here.
    http.enforce_http(false);
    http.set_connect_timeout(Some(timeout));
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let tls = match store {
        None => hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
            .map_err(|e| Error::internal("load TLS root certificates", e))?,
        Some(store) => hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
            rustls::ClientConfig::builder_with_provider(Arc::new(provider))
                .with_safe_default_protocol_versions()
                .map_err(|e| Error::internal("TLS settings", e))?
                .with_root_certificates(Arc::clone(store))
                .with_no_client_auth(),
        ),
    };
    let https = tls.https_or_http().enable_http1().wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// The connection error with its causes (hyper's own message is only "client error (Connect)").
fn connection_error(err: &hyper_util::client::legacy::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Whether the connector's resolver refused the target (see [`VettedResolver`]).
fn is_refusal(err: &hyper_util::client::legacy::Error) -> bool {
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if cause.downcast_ref::<RefusedAddress>().is_some() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// The addresses `host` resolves to, all allowed by `policy`; refused when any
/// is not (a name with one private address is not a public endpoint).
pub async fn resolve(
    host: &str,
    policy: TargetPolicy,
) -> std::result::Result<Vec<IpAddr>, Refusal> {
    if let Ok(addr) = host.parse::<IpAddr>() {
        policy.check_addr(addr)?;
        return Ok(vec![addr]);
    }
    let unresolvable = || Refusal::Unresolvable {
        host: host.to_owned(),
    };
    let addrs: Vec<IpAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|_| unresolvable())?
        .map(|a| a.ip())
        .collect();
    if addrs.is_empty() {
        return Err(unresolvable());
    }
    for addr in &addrs {
        if let Err(Refusal::Address { addr, kind }) = policy.check_addr(*addr) {
            return Err(Refusal::Resolved {
                host: host.to_owned(),
                addr,
                kind,
            });
        }
    }
    Ok(addrs)
}

/// The refusal carried through the connector's `io::Error`, found again by type.
#[derive(Debug)]
struct RefusedAddress(Refusal);

impl std::fmt::Display for RefusedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for RefusedAddress {}

/// hyper's resolver, answering only with addresses the policy allows.
#[derive(Debug, Clone, Copy)]
struct VettedResolver {
    policy: TargetPolicy,
}

impl tower_service::Service<Name> for VettedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = self.policy;
        Box::pin(async move {
            let addrs = resolve(name.as_str(), policy).await.map_err(|refusal| {
                io::Error::new(io::ErrorKind::PermissionDenied, RefusedAddress(refusal))
            })?;
            // The connector sets the port.
            Ok(addrs
                .into_iter()
                .map(|ip| SocketAddr::new(ip, 0))
                .collect::<Vec<_>>()
                .into_iter())
        })
    }
}
