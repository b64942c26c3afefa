//! Where an object lives (the bucket's URL, the key percent-encoded as the SDK does) and its SigV4 signatures.
//!
//! The settings are the ones aws-sdk-s3 hands the same signer (`aws-sigv4`): S3 takes the path as sent (no second
//! encoding, no normalisation), a presigned URL's payload is `UNSIGNED-PAYLOAD`, and a header-signed request (HEAD,
//! DELETE: no body) carries `x-amz-content-sha256` of its empty body. `tests` holds presigned URLs to the SDK presigner's, byte for byte.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use crate::error::{Error, Result};

/// What S3's SDK percent-encodes in a key (smithy's label set, greedy: `/` stays); every non-ASCII byte is encoded too.
const KEY_SET: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b':')
    .add(b',')
    .add(b'?')
    .add(b'#')
    .add(b'[')
    .add(b']')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'@')
    .add(b'!')
    .add(b'$')
    .add(b'&')
    .add(b'\'')
    .add(b'(')
    .add(b')')
    .add(b'*')
    .add(b'+')
    .add(b';')
    .add(b'=')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'"')
    .add(b'^')
    .add(b'`')
    .add(b'\\');

/// The bucket's address: the origin requests go to and the path every key is appended to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketUrl {
    /// `https://{bucket}.s3.{region}.amazonaws.com`, or the endpoint override (the emulator).
    pub origin: String,
    /// Empty when virtual-hosted; `/{bucket}` when path-style.
    prefix: String,
}

impl BucketUrl {
    /// Virtual-hosted on AWS; path-style under an endpoint override, as an emulator serves buckets (the SDK would
    /// pick path style for an IP address too, which is what `obctl dev` and the tests use).
    pub fn new(bucket: &str, region: &str, endpoint: Option<&str>) -> Result<Self> {
        if region.is_empty() {
            return Err(Error::Internal(
                "files bucket: no AWS region (AWS_REGION) to address it in".into(),
            ));
        }
        let (origin, prefix) = match endpoint {
            Some(endpoint) => (
                endpoint.trim_end_matches('/').to_owned(),
                format!("/{}", utf8_percent_encode(bucket, KEY_SET)),
            ),
            None => (
                format!("https://{bucket}.s3.{region}.{}", dns_suffix(region)),
                String::new(),
            ),
        };
        Ok(Self { origin, prefix })
    }

    /// The object's URL, `?x-id={operation}` as the SDK sends it when the operation has one.
    pub fn object(&self, key: &str, operation: Option<&str>) -> String {
        let key = utf8_percent_encode(key, KEY_SET);
        match operation {
            Some(operation) => format!("{}{}/{key}?x-id={operation}", self.origin, self.prefix),
            None => format!("{}{}/{key}", self.origin, self.prefix),
        }
    }
}

/// The partition's domain: China's regions have their own.
fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

/// Signs for S3 in `region` with `credentials` at `time`.
#[derive(Debug)]
pub struct Signer<'a> {
    pub credentials: Credentials,
    pub region: &'a str,
    pub time: SystemTime,
}

impl Signer<'_> {
    /// `request` with the signature in its query string, valid for `expires_in`: what a presigned URL is.
    pub fn presign<B>(&self, request: &mut http::Request<B>, expires_in: Duration) -> Result<()> {
        let mut settings = s3_settings();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires_in);
        self.apply(request, settings, SignableBody::UnsignedPayload)
    }

    /// `request`, which has no body, with the signature in its headers (`authorization`, `x-amz-date`,
    /// `x-amz-content-sha256` of the empty body and, with temporary credentials, `x-amz-security-token`).
    pub fn sign<B>(&self, request: &mut http::Request<B>) -> Result<()> {
        self.apply(request, s3_settings(), SignableBody::Bytes(&[]))
    }

    fn apply<B>(
        &self,
        request: &mut http::Request<B>,
        settings: SigningSettings,
        body: SignableBody<'_>,
    ) -> Result<()> {
        let identity = Identity::from(self.credentials.clone());
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(self.region)
            .name("s3")
            .time(self.time)
            .settings(settings)
            .build()
            .map_err(|err| Error::internal("signing parameters", err))?
            .into();
        let uri = request.uri().to_string();
        let headers: Vec<(&str, &str)> = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
            .collect();
        let signable = SignableRequest::new(
            request.method().as_str(),
            Cow::Borrowed(uri.as_str()),
            headers.into_iter(),
            body,
        )
        .map_err(|err| Error::internal("signable request", err))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|err| Error::internal("sign request", err))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

/// aws-sdk-s3's signing options: the key is encoded once and not normalised, and `x-amz-content-sha256` is sent.
fn s3_settings() -> SigningSettings {
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    settings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_per_segment_and_keep_their_slashes() {
        let bucket = BucketUrl::new("files-bucket", "eu-west-1", None).unwrap();
        assert_eq!(
            bucket.object("shop/u1/a b+c/é.txt", Some("GetObject")),
            "https://files-bucket.s3.eu-west-1.amazonaws.com/shop/u1/a%20b%2Bc/%C3%A9.txt?x-id=GetObject"
        );
        let emulator =
            BucketUrl::new("t-files", "us-east-1", Some("http://127.0.0.1:4566/")).unwrap();
        assert_eq!(
            emulator.object("a/b~c_d-e.f", None),
            "http://127.0.0.1:4566/t-files/a/b~c_d-e.f"
        );
        let china = BucketUrl::new("b", "cn-north-1", None).unwrap();
        assert_eq!(china.origin, "https://b.s3.cn-north-1.amazonaws.com.cn");
        assert!(BucketUrl::new("b", "", None).is_err());
    }

    /// AWS's published example of a header-signed S3 request ("GET Object" in the SigV4 documentation for S3):
    /// the signer reproduces its signature exactly.
    #[test]
    fn header_signatures_match_the_published_s3_example() {
        let credentials = Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        );
        let signer = Signer {
            credentials,
            region: "us-east-1",
            // 2013-05-24T00:00:00Z
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600),
        };
        let mut request = http::Request::get("https://examplebucket.s3.amazonaws.com/test.txt")
            .header("range", "bytes=0-9")
            .body(())
            .unwrap();
        signer.sign(&mut request).unwrap();
        assert_eq!(
            request.headers()["x-amz-content-sha256"],
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let authorization = request.headers()["authorization"].to_str().unwrap();
        assert!(
            authorization.ends_with(
                "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
                 Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
            ),
            "{authorization}"
        );
    }
}
