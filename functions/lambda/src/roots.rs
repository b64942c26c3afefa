//! The root certificates the functions' SDK clients trust: the OS's one PEM bundle, never its certificate directory.
//!
//! The SDK's default HTTPS client loads the native store through rustls-native-certs, which on Linux reads the bundle
//! and then every file of `/etc/ssl/certs` (147 opens and as many parses here), the main cost of a cold start. The
//! bundle alone holds the same roots (Lambda's Amazon Linux ships a single bundle file), so functions trust just that.
//! `obctl` keeps the SDK default: operators' machines may keep extra roots elsewhere.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, ConnectorBuilder, proxy::ProxyConfig};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Where distributions keep the bundle, first found wins; `SSL_CERT_FILE` comes before them.
const BUNDLES: &[&str] = &[
    "/etc/pki/tls/certs/ca-bundle.crt", // Amazon Linux 2023 (Lambda's provided.al2023), Fedora, RHEL
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine
    "/etc/ssl/cert.pem",                // macOS, OpenBSD
];

const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
const END: &[u8] = b"-----END CERTIFICATE-----";

/// The roots of one PEM bundle, each checked as a trust anchor: the SDK's TLS layer panics on one it cannot parse.
#[derive(Debug)]
pub struct RootBundle {
    path: PathBuf,
    certificates: Vec<Vec<u8>>,
    skipped: usize,
}

impl RootBundle {
    /// This process's bundle, located and read at the first call only: the SDK's client and the webhooks sender
    /// share one read.
    pub fn shared() -> Result<&'static Self, String> {
        static SHARED: OnceLock<Result<RootBundle, String>> = OnceLock::new();
        SHARED
            .get_or_init(Self::locate)
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The bundle named by `SSL_CERT_FILE`, else the first of the distributions' usual places that exists.
    pub fn locate() -> Result<Self, String> {
        let path = std::env::var_os("SSL_CERT_FILE")
            .map(PathBuf::from)
            .or_else(|| {
                BUNDLES
                    .iter()
                    .map(PathBuf::from)
                    .find(|path| path.is_file())
            })
            .ok_or_else(|| {
                format!(
                    "no root certificate bundle: set SSL_CERT_FILE or install one of {BUNDLES:?}"
                )
            })?;
        Self::read(&path)
    }

    /// Reads the bundle at `path`; certificates that are not valid trust anchors are skipped and counted.
    pub fn read(path: &Path) -> Result<Self, String> {
        let pem = std::fs::read(path)
            .map_err(|err| format!("root certificate bundle {}: {err}", path.display()))?;
        let mut certificates = Vec::new();
        let mut skipped = 0;
        for block in pem_blocks(&pem) {
            if is_trust_anchor(block) {
                certificates.push(block.to_vec());
            } else {
                skipped += 1;
            }
        }
        if certificates.is_empty() {
            return Err(format!(
                "root certificate bundle {}: no usable certificate in it",
                path.display()
            ));
        }
        Ok(Self {
            path: path.to_owned(),
            certificates,
            skipped,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many roots are trusted.
    pub fn len(&self) -> usize {
        self.certificates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }

    /// How many blocks of the bundle were not usable roots.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// This bundle's roots and nothing else: the native store (and its directory) stays unread.
    pub fn trust_store(&self) -> TrustStore {
        let mut store = TrustStore::empty().with_native_roots(false);
        for certificate in &self.certificates {
            store.add_pem_certificate(certificate.clone());
        }
        store
    }

    /// This bundle's roots for a rustls client of our own (the webhooks sender).
    pub fn root_store(&self) -> rustls::RootCertStore {
        let mut store = rustls::RootCertStore::empty();
        for certificate in &self.certificates {
            if let Ok(der) = CertificateDer::from_pem_slice(certificate) {
                // Each one was checked by `is_trust_anchor` when the bundle was read.
                let _ = store.add(der);
            }
        }
        store
    }

    /// TLS settings trusting this bundle's roots only.
    pub fn tls_context(&self) -> Result<TlsContext, String> {
        TlsContext::builder()
            .with_trust_store(self.trust_store())
            .build()
            .map_err(|err| format!("TLS settings: {err}"))
    }
}

/// The SDK's default HTTPS client (rustls on aws-lc, proxy settings from the environment, the SDK's timeouts and
/// sleep) trusting the process's bundle ([`RootBundle::shared`]). The bundle is read and its roots parsed when the
/// first connection is made, not at cold start: a first request that makes no AWS call never waits for it. Without a
/// readable bundle the connector keeps the SDK's default trust store (the native one). Plain `http://` endpoints
/// (the emulator) are served by it unchanged.
pub fn lazy_https_client() -> SharedHttpClient {
    https_client_loading(|| RootBundle::shared().and_then(RootBundle::tls_context))
}

/// [`lazy_https_client`] with its TLS settings from `load`, called at the first connection only.
fn https_client_loading(
    load: impl Fn() -> Result<TlsContext, String> + Send + Sync + 'static,
) -> SharedHttpClient {
    let context: OnceLock<Option<TlsContext>> = OnceLock::new();
    Builder::new().build_with_connector_fn(move |settings, components| {
        // Building a service client calls this once without settings or components, only to load the trust store
        // early (the SDK's `validate_base_client_config`), and discards the result: nothing to load for that.
        if settings.is_none() && components.is_none() {
            return ConnectorBuilder::default().build_http();
        }
        let context = context.get_or_init(|| match load() {
            Ok(context) => Some(context),
            Err(err) => {
                tracing::warn!(error = %err, "trusting the native root store instead");
                None
            }
        });
        let mut connector = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ));
        if let Some(context) = context {
            connector = connector.tls_context(context.clone());
        }
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// Each `BEGIN CERTIFICATE` … `END CERTIFICATE` block of `pem`, markers included.
fn pem_blocks(pem: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = pem;
    std::iter::from_fn(move || {
        let start = find(rest, BEGIN)?;
        let end = start + find(&rest[start..], END)? + END.len();
        let block = &rest[start..end];
        rest = &rest[end..];
        Some(block)
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Whether `block` decodes to a certificate rustls accepts as a root, as the SDK's connector will require.
fn is_trust_anchor(block: &[u8]) -> bool {
    CertificateDer::from_pem_slice(block)
        .is_ok_and(|der| rustls::RootCertStore::empty().add(der).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch bundle of `blocks`, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str, blocks: &[&[u8]]) -> Self {
            let path =
                std::env::temp_dir().join(format!("ob-roots-{}-{name}.pem", std::process::id()));
            std::fs::write(&path, blocks.join(&b"\n"[..])).unwrap_or_else(|e| panic!("{e}"));
            Self(path)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn system_bundle() -> Vec<u8> {
        let bundle = BUNDLES
            .iter()
            .find(|path| Path::new(path).is_file())
            .unwrap_or_else(|| panic!("no system bundle in {BUNDLES:?}"));
        std::fs::read(bundle).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_system_bundle_is_found_and_its_roots_parse() {
        let bundle = RootBundle::locate().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            bundle.len() > 50,
            "{} roots in {}",
            bundle.len(),
            bundle.path().display()
        );
        assert_eq!(
            bundle.len(),
            pem_blocks(&system_bundle()).count() - bundle.skipped()
        );
    }

    #[test]
    fn the_trust_store_holds_the_bundle_and_not_the_native_store() {
        let system = system_bundle();
        let roots: Vec<&[u8]> = pem_blocks(&system).take(2).collect();
        let scratch = Scratch::new("two", &roots);
        let bundle = RootBundle::read(&scratch.0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bundle.len(), 2);
        // TrustStore keeps its fields private; its Debug output is the only view of them.
        let store = format!("{:?}", bundle.trust_store());
        assert!(store.contains("enable_native_roots: false"), "{store}");
        assert_eq!(store.matches("CertificatePEM").count(), 2, "{store}");
    }

    #[test]
    fn blocks_that_are_not_roots_are_skipped_not_fatal() {
        let system = system_bundle();
        let root = pem_blocks(&system)
            .next()
            .unwrap_or_else(|| panic!("empty bundle"));
        let garbage =
            b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----";
        let scratch = Scratch::new("garbage", &[garbage, root, b"# a comment"]);
        let bundle = RootBundle::read(&scratch.0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((bundle.len(), bundle.skipped()), (1, 1));
        let only_garbage = Scratch::new("only-garbage", &[garbage]);
        let err = RootBundle::read(&only_garbage.0)
            .err()
            .unwrap_or_else(|| panic!("a bundle without a root was accepted"));
        assert!(err.contains("no usable certificate"), "{err}");
    }

    /// Building a service client (which validates its HTTP client) must not read the bundle: that was most of a cold
    /// start, and a first request without an AWS call never needs it.
    #[test]
    fn building_a_client_does_not_load_the_roots() {
        use aws_smithy_runtime_api::client::http::HttpClient;
        use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
        use aws_smithy_types::config_bag::ConfigBag;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let loads = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&loads);
        let client = https_client_loading(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            Err("not needed".to_owned())
        });
        client
            .validate_base_client_config(&RuntimeComponentsBuilder::new("test"), &ConfigBag::base())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loads.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_missing_bundle_is_named() {
        let err = RootBundle::read(Path::new("/nonexistent/bundle.pem"))
            .err()
            .unwrap_or_else(|| panic!("a missing bundle was read"));
        assert!(err.contains("/nonexistent/bundle.pem"), "{err}");
    }
}
