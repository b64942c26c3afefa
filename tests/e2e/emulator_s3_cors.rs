//! The emulator answers bucket CORS as S3 does (tests/emulator/s3_cors.py): the configuration
//! comes from CloudFormation, a preflight needs a rule matching origin, method and every
//! requested header, and nothing is open by default. What a browser's presigned upload relies on.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use ob_tests::emulator;
use ob_tests::http::{self, Reply};

const BUCKET: &str = "cors-test";
const APP: &str = "https://app.example";

fn template(origin: &str) -> String {
    serde_json::json!({"Resources": {"Files": {"Type": "AWS::S3::Bucket", "Properties": {
        "BucketName": BUCKET,
        "CorsConfiguration": {"CorsRules": [{
            "AllowedOrigins": [origin],
            "AllowedMethods": ["GET", "PUT", "HEAD"],
            "AllowedHeaders": ["Content-Type", "Content-Length"],
            "ExposedHeaders": ["ETag"],
            "MaxAge": 3000
        }]}
    }}}})
    .to_string()
}

async fn preflight(url: &str, origin: &str, method: Option<&str>, headers: &str) -> Reply {
    let mut sent = vec![("Origin".to_owned(), origin.to_owned())];
    if let Some(method) = method {
        sent.push(("Access-Control-Request-Method".into(), method.into()));
    }
    if !headers.is_empty() {
        sent.push(("Access-Control-Request-Headers".into(), headers.into()));
    }
    http::exchange("OPTIONS", url, &sent, &[]).await
}

#[tokio::test]
async fn bucket_cors_is_evaluated_like_s3() {
    let emu = emulator().await;
    let sdk = emu.sdk_config().await;
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    cfn.create_stack()
        .stack_name("cors")
        .template_body(template(APP))
        .send()
        .await
        .expect("stack");
    let object = format!("{}/{BUCKET}/a.txt", emu.endpoint_url());

    let allowed = preflight(&object, APP, Some("PUT"), "content-type").await;
    assert_eq!(allowed.status, 200, "{allowed:?}");
    assert_eq!(allowed.header("access-control-allow-origin"), [APP]);
    assert_eq!(
        allowed.header("access-control-allow-headers"),
        ["content-type"]
    );
    assert_eq!(allowed.header("access-control-expose-headers"), ["ETag"]);
    assert_eq!(allowed.header("access-control-max-age"), ["3000"]);
    let refusals = [
        ("https://evil.example", Some("PUT"), "content-type"),
        (APP, Some("DELETE"), ""),
        (APP, Some("PUT"), "content-type, x-amz-meta-owner"),
    ];
    for (origin, method, headers) in refusals {
        let refused = preflight(&object, origin, method, headers).await;
        assert_eq!(refused.status, 403, "{origin} {method:?} {headers}");
        assert!(refused.header("access-control-allow-origin").is_empty());
    }
    assert_eq!(preflight(&object, APP, None, "").await.status, 400);

    // Actual requests carry CORS headers only for an allowed origin: nothing is open to all.
    let s3 = ob_tests::fixtures::s3_client(&sdk);
    s3.put_object()
        .bucket(BUCKET)
        .key("a.txt")
        .body(ByteStream::from_static(b"hi"))
        .send()
        .await
        .expect("put");
    let presigned = s3
        .get_object()
        .bucket(BUCKET)
        .key("a.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).expect("expiry"))
        .await
        .expect("presigned GET");
    for (origin, expected) in [(APP, vec![APP]), ("https://evil.example", vec![])] {
        let got = http::exchange(
            "GET",
            presigned.uri(),
            &[("Origin".into(), origin.into())],
            &[],
        )
        .await;
        assert_eq!(got.status, 200);
        assert_eq!(
            got.header("access-control-allow-origin"),
            expected,
            "{origin}"
        );
    }
    // Re-uploading over an existing (private) object: its preflight is answered all the same.
    let again = preflight(&object, APP, Some("PUT"), "content-type").await;
    assert_eq!(again.status, 200, "{again:?}");

    // A stack update replaces the rules; a bucket without CORS refuses every preflight.
    cfn.update_stack()
        .stack_name("cors")
        .template_body(template("https://new.example"))
        .send()
        .await
        .expect("update");
    assert_eq!(preflight(&object, APP, Some("PUT"), "").await.status, 403);
    let moved = preflight(&object, "https://new.example", Some("PUT"), "").await;
    assert_eq!(moved.status, 200, "{moved:?}");
    s3.create_bucket()
        .bucket("no-cors")
        .send()
        .await
        .expect("bucket");
    let bare = format!("{}/no-cors/a.txt", emu.endpoint_url());
    assert_eq!(preflight(&bare, APP, Some("GET"), "").await.status, 403);
}
