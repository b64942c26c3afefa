//! The functions' SDK configuration from Lambda's environment alone: credentials, region and the emulator's endpoint.
//!
//! Lambda hands a function its role's credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`)
//! and its region (`AWS_REGION`) as environment variables, and `obctl dev` does the same for its function processes
//! (plus `AWS_ENDPOINT_URL`, the emulator). aws-config's default chain would look there first too, but its loader
//! also reads the profile files and links the STS, web-identity, ECS and IMDS providers into every zip, for sources a
//! Lambda never has. The settings it would add are the SDK's defaults, set here explicitly.

use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// aws-config's default connect timeout (its `SDK_DEFAULT_CONNECT_TIMEOUT`).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// The configuration every client of a function is built from. `var` reads the environment (`std::env::var`, or a
/// table in tests); credentials are read from the process environment when a client first signs a request, and
/// cached by the SDK until they expire, as aws-config's environment provider does.
pub fn from_env(
    var: impl Fn(&str) -> Option<String>,
    http_client: Option<SharedHttpClient>,
) -> SdkConfig {
    let region = var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .filter(|region| !region.is_empty())
        .map(Region::new);
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region)
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .retry_config(RetryConfig::standard())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .build(),
        )
        .stalled_stream_protection(StalledStreamProtectionConfig::enabled().build());
    if let Some(sleep) = aws_smithy_async::rt::sleep::default_async_sleep() {
        config.set_sleep_impl(Some(sleep));
    }
    if let Some(endpoint) = var("AWS_ENDPOINT_URL").filter(|url| !url.is_empty()) {
        config = config.endpoint_url(endpoint);
    }
    config.set_http_client(http_client);
    config.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> SdkConfig {
        from_env(
            |name| {
                vars.iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            },
            None,
        )
    }

    #[test]
    fn region_and_endpoint_come_from_the_environment() {
        let config = config(&[
            ("AWS_REGION", "eu-west-3"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        ]);
        assert_eq!(config.region().map(Region::as_ref), Some("eu-west-3"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:4566"));
        assert!(config.credentials_provider().is_some());
        assert!(config.sleep_impl().is_some());
        assert_eq!(
            config
                .timeout_config()
                .and_then(TimeoutConfig::connect_timeout),
            Some(CONNECT_TIMEOUT)
        );
    }

    #[test]
    fn the_default_region_is_the_fallback_and_aws_has_no_endpoint_override() {
        let config = config(&[("AWS_DEFAULT_REGION", "ap-south-1")]);
        assert_eq!(config.region().map(Region::as_ref), Some("ap-south-1"));
        assert_eq!(config.endpoint_url(), None);
        assert_eq!(super::from_env(|_| None, None).region(), None);
    }

    /// The provider is the SDK's environment one: what it resolves is what Lambda put in the environment.
    #[tokio::test]
    async fn credentials_are_the_environment_variables() {
        use aws_credential_types::provider::ProvideCredentials;
        let provider = config(&[])
            .credentials_provider()
            .unwrap_or_else(|| panic!("no credentials provider"));
        let resolved = provider.provide_credentials().await;
        match std::env::var("AWS_ACCESS_KEY_ID") {
            Ok(key) if std::env::var("AWS_SECRET_ACCESS_KEY").is_ok() => {
                let credentials = resolved.unwrap_or_else(|err| panic!("{err}"));
                assert_eq!(credentials.access_key_id(), key);
            }
            _ => assert!(resolved.is_err(), "credentials without the variables"),
        }
    }
}
