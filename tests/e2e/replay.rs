//! Recorded AWS answers, replayed through the SDK's own HTTP test client, for what the emulator cannot show.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudformation::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_types::body::SdkBody;

/// SDK settings that send every call to `http` (region eu-west-1, test credentials).
pub fn sdk_config(http: &StaticReplayClient) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "replay",
        )))
        .http_client(http.clone())
        .build()
}

/// One recorded answer of `uri` (the request side is not compared).
pub fn answer(
    uri: &str,
    status: u16,
    headers: &[(&str, &str)],
    body: impl Into<SdkBody>,
) -> ReplayEvent {
    let mut response = http::Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(*name, *value);
    }
    ReplayEvent::new(
        http::Request::builder()
            .uri(uri)
            .body(SdkBody::empty())
            .expect("request"),
        response.body(body.into()).expect("response"),
    )
}
