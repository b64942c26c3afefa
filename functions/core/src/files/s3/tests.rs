//! The seam with aws-sdk-s3: presigned URLs and headers byte for byte the SDK presigner's; S3's answers to HEAD and
//! DELETE (recorded shapes through the SDK's replay client) and the retries of throttling and 5xx.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_smithy_async::time::{SharedTimeSource, StaticTimeSource};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::RetryConfig;
use aws_types::SdkConfig;
use aws_types::region::Region;

use super::*;

/// 2026-11-24T08:00:00Z.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_507_200)
}

const KEYS: &[&str] = &[
    "shop/u1/docs/a b.pdf",
    "shop/u1/日本語/ü ñ.txt",
    "shop/u1/a+b=c&d/(1)!*'~,;:@$.txt",
    "shop/u1/100%/x#y?z[0]{1}|^`\\\"<>.bin",
];

fn sdk_config(endpoint: Option<&str>, session_token: Option<&str>) -> SdkConfig {
    let mut config = SdkConfig::builder()
        .behavior_version(
            aws_smithy_runtime_api::client::behavior_version::BehaviorVersion::latest(),
        )
        .region(Region::new("eu-west-3"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            session_token.map(str::to_owned),
            None,
            "test",
        )))
        .time_source(SharedTimeSource::new(StaticTimeSource::new(now())));
    if let Some(endpoint) = endpoint {
        config = config.endpoint_url(endpoint);
    }
    config.build()
}

fn sorted(mut headers: Vec<(String, String)>) -> Vec<(String, String)> {
    headers.sort();
    headers
}

fn sdk_signed(request: &aws_sdk_s3::presigning::PresignedRequest) -> Signed {
    Signed {
        method: request.method().to_owned(),
        url: request.uri().to_owned(),
        headers: sorted(
            request
                .headers()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
        ),
    }
}

fn presigning(expires_in: Duration) -> PresigningConfig {
    PresigningConfig::builder()
        .start_time(now())
        .expires_in(expires_in)
        .build()
        .unwrap()
}

/// On AWS (virtual-hosted) and on the emulator (path-style), with and without a session token, for keys with
/// spaces, unicode, `/` and every character S3's SDK encodes: the same method, URL and headers as the SDK's.
#[tokio::test]
async fn presigned_urls_are_the_sdk_presigners_byte_for_byte() {
    for endpoint in [None, Some("http://127.0.0.1:4566")] {
        for token in [
            None,
            Some("IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ=="),
        ] {
            let sdk = sdk_config(endpoint, token);
            let client = aws_sdk_s3::Client::new(&sdk);
            let store = FileStore::new(&sdk, "files-bucket").unwrap();
            for key in KEYS {
                let theirs = client
                    .put_object()
                    .bucket("files-bucket")
                    .key(*key)
                    .content_type("application/pdf")
                    .content_length(1234)
                    .presigned(presigning(Duration::from_secs(300)))
                    .await
                    .unwrap();
                let mut ours = store
                    .presign_put(key, "application/pdf", 1234, Duration::from_secs(300))
                    .await
                    .unwrap();
                ours.headers = sorted(ours.headers);
                assert_eq!(ours, sdk_signed(&theirs), "PUT {key} at {endpoint:?}");

                let theirs = client
                    .get_object()
                    .bucket("files-bucket")
                    .key(*key)
                    .presigned(presigning(Duration::from_secs(60)))
                    .await
                    .unwrap();
                let ours = store
                    .presign_get(key, Duration::from_secs(60))
                    .await
                    .unwrap();
                assert_eq!(ours, sdk_signed(&theirs), "GET {key} at {endpoint:?}");
            }
        }
    }
}

fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let (_, query) = url.split_once('?')?;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

#[tokio::test]
async fn upload_urls_bind_type_length_and_expiry() {
    let store = FileStore::new(&sdk_config(None, None), "files-bucket").unwrap();
    let signed = store
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
        signed.url.starts_with(
            "https://files-bucket.s3.eu-west-3.amazonaws.com/shop/u1/docs/a%20b.pdf?x-id=PutObject&"
        ),
        "{}",
        signed.url
    );
    assert_eq!(query_param(&signed.url, "X-Amz-Expires"), Some("300"));
    assert_eq!(
        query_param(&signed.url, "X-Amz-SignedHeaders"),
        Some("content-length%3Bcontent-type%3Bhost")
    );
    assert!(!signed.url.contains("checksum"), "{}", signed.url);
    assert_eq!(
        sorted(signed.headers),
        [
            ("content-length".to_owned(), "1234".to_owned()),
            ("content-type".to_owned(), "application/pdf".to_owned()),
        ]
    );
}

#[tokio::test]
async fn urls_cannot_outlive_what_s3_accepts() {
    let store = FileStore::new(&sdk_config(None, None), "b").unwrap();
    assert!(store.presign_get("k", MAX_EXPIRY).await.is_ok());
    assert!(
        store
            .presign_get("k", MAX_EXPIRY + Duration::from_secs(1))
            .await
            .is_err()
    );
    let bad_type = store
        .presign_put("k", "text/plain\n", 1, Duration::from_secs(1))
        .await;
    assert!(
        matches!(bad_type, Err(Error::Invalid { .. })),
        "{bad_type:?}"
    );
}

#[test]
fn a_store_needs_a_region_and_credentials() {
    let no_region = SdkConfig::builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKID", "secret", None, None, "test",
        )))
        .build();
    assert!(FileStore::new(&no_region, "b").is_err());
    let no_credentials = SdkConfig::builder()
        .region(Region::new("eu-west-3"))
        .build();
    assert!(FileStore::new(&no_credentials, "b").is_err());
}

/// A store whose HTTP client answers `answers` in order (and records what was sent).
fn replaying(answers: Vec<http::Response<SdkBody>>) -> (FileStore, StaticReplayClient) {
    let events = answers
        .into_iter()
        .map(|response| ReplayEvent::new(http::Request::new(SdkBody::empty()), response))
        .collect();
    let client = StaticReplayClient::new(events);
    let sdk = sdk_config(None, Some("session-token"))
        .into_builder()
        .http_client(client.clone())
        .retry_config(RetryConfig::standard().with_initial_backoff(Duration::from_millis(1)))
        .build();
    (FileStore::new(&sdk, "files-bucket").unwrap(), client)
}

fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> http::Response<SdkBody> {
    let mut response = http::Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(*name, *value);
    }
    response.body(SdkBody::from(body.to_owned())).unwrap()
}

#[tokio::test]
async fn head_reads_the_object_after_retrying_throttling_and_5xx() {
    let (store, client) = replaying(vec![
        answer(503, &[], ""),
        answer(500, &[], ""),
        answer(
            200,
            &[
                ("content-length", "1234"),
                ("content-type", "application/pdf"),
                ("etag", "\"9b2cf535f27731c974343645a3985328\""),
                ("last-modified", "Tue, 24 Nov 2026 08:00:00 GMT"),
            ],
            "",
        ),
    ]);
    let head = store.head("shop/u1/a b.pdf").await.unwrap();
    assert_eq!(
        head,
        Some(ObjectHead {
            size: 1234,
            content_type: Some("application/pdf".into()),
            etag: Some("\"9b2cf535f27731c974343645a3985328\"".into()),
            last_modified: Some(1_795_507_200),
        })
    );
    let sent = client.actual_requests().collect::<Vec<_>>();
    assert_eq!(sent.len(), 3);
    let request = sent[2];
    assert_eq!(request.method(), "HEAD");
    assert_eq!(
        request.uri(),
        "https://files-bucket.s3.eu-west-3.amazonaws.com/shop/u1/a%20b.pdf"
    );
    let authorization = request.headers().get("authorization").unwrap();
    assert!(
        authorization.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261124/eu-west-3/s3/aws4_request, \
             SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature="
        ),
        "{authorization}"
    );
    assert_eq!(
        request.headers().get("x-amz-security-token"),
        Some("session-token")
    );
}

#[tokio::test]
async fn head_of_a_missing_object_is_none_and_a_refusal_is_an_error() {
    let (store, _) = replaying(vec![answer(404, &[], "")]);
    assert_eq!(store.head("k").await.unwrap(), None);
    let (store, client) = replaying(vec![answer(403, &[("x-amz-request-id", "R1")], "")]);
    let err = store.head("k").await.unwrap_err();
    assert!(
        matches!(&err, Error::Internal(m) if m.contains("403") && m.contains("R1")),
        "{err}"
    );
    assert_eq!(client.actual_requests().count(), 1, "a 403 is not retried");
}

#[tokio::test]
async fn delete_succeeds_on_204_and_reports_s3s_error_code() {
    let (store, client) = replaying(vec![answer(204, &[], "")]);
    store.delete("shop/u1/é.txt").await.unwrap();
    let request = client.actual_requests().next().unwrap();
    assert_eq!(request.method(), "DELETE");
    assert!(
        request.uri().ends_with("/shop/u1/%C3%A9.txt"),
        "{}",
        request.uri()
    );

    let denied = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>\
                  <Message>Access Denied</Message><RequestId>R2</RequestId></Error>";
    let (store, _) = replaying(vec![answer(403, &[], denied)]);
    let err = store.delete("k").await.unwrap_err();
    assert!(
        matches!(&err, Error::Internal(m) if m.contains("AccessDenied: Access Denied")),
        "{err}"
    );
    // Three attempts (the standard retry's bound), then the error.
    let (store, client) = replaying(vec![
        answer(503, &[], "<Error><Code>SlowDown</Code></Error>"),
        answer(503, &[], "<Error><Code>SlowDown</Code></Error>"),
        answer(503, &[], "<Error><Code>SlowDown</Code></Error>"),
    ]);
    let err = store.delete("k").await.unwrap_err();
    assert!(
        matches!(&err, Error::Internal(m) if m.contains("SlowDown")),
        "{err}"
    );
    assert_eq!(client.actual_requests().count(), 3);
}
