//! What the emulator cannot show about SES, on recorded AWS answers replayed through the SDK's test client: the sandbox, paused sending and an unverified sender make `deploy` and `diff` warn with the fix; a verified domain does not.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sesv2::config::Credentials;
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_types::body::SdkBody;
use obctl::aws::Aws;
use obctl::ses;

use crate::render::project;

/// `GetAccount` of a new account: in the sandbox, sending enabled.
const SANDBOX: &str = r#"{"DedicatedIpAutoWarmupEnabled":false,"Details":null,"EnforcementStatus":"HEALTHY",
  "ProductionAccessEnabled":false,"SendQuota":{"Max24HourSend":200.0,"MaxSendRate":1.0,"SentLast24Hours":0.0},
  "SendingEnabled":true,"SuppressionAttributes":{"SuppressedReasons":["BOUNCE","COMPLAINT"]},"VdmAttributes":null}"#;
/// `GetAccount` out of the sandbox, sending paused.
const PAUSED: &str = r#"{"DedicatedIpAutoWarmupEnabled":false,"EnforcementStatus":"PROBATION",
  "ProductionAccessEnabled":true,"SendQuota":{"Max24HourSend":50000.0,"MaxSendRate":14.0,"SentLast24Hours":12.0},
  "SendingEnabled":false}"#;
const PRODUCTION: &str = r#"{"EnforcementStatus":"HEALTHY","ProductionAccessEnabled":true,
  "SendQuota":{"Max24HourSend":50000.0,"MaxSendRate":14.0,"SentLast24Hours":12.0},"SendingEnabled":true}"#;
/// `GetEmailIdentity` of an address whose link was not opened yet.
const PENDING: &str = r#"{"ConfigurationSetName":null,"DkimAttributes":{"SigningAttributesOrigin":"AWS_SES",
  "SigningEnabled":false,"Status":"NOT_STARTED","Tokens":[]},"FeedbackForwardingStatus":true,"IdentityType":"EMAIL_ADDRESS",
  "MailFromAttributes":{"BehaviorOnMxFailure":"USE_DEFAULT_VALUE","MailFromDomain":"","MailFromDomainStatus":"PENDING"},
  "Policies":{},"Tags":[],"VerificationStatus":"PENDING","VerifiedForSendingStatus":false}"#;
/// `GetEmailIdentity` of a domain verified through DKIM.
const VERIFIED_DOMAIN: &str = r#"{"DkimAttributes":{"SigningAttributesOrigin":"AWS_SES","SigningEnabled":true,
  "Status":"SUCCESS","Tokens":["a","b","c"]},"FeedbackForwardingStatus":true,"IdentityType":"DOMAIN",
  "Policies":{},"Tags":[],"VerificationStatus":"SUCCESS","VerifiedForSendingStatus":true}"#;
const NOT_FOUND: &str = r#"{"message":"Email identity example.com does not exist."}"#;

fn answer(status: u16, body: &str) -> ReplayEvent {
    let error = (status == 404).then_some("NotFoundException");
    answer_with(status, error, body)
}

fn answer_with(status: u16, error_type: Option<&str>, body: &str) -> ReplayEvent {
    let mut response = http::Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if let Some(kind) = error_type {
        response = response.header("x-amzn-errortype", kind);
    }
    ReplayEvent::new(
        http::Request::builder()
            .uri("https://email.eu-west-1.amazonaws.com/")
            .body(SdkBody::empty())
            .expect("request"),
        response
            .body(SdkBody::from(body.to_owned()))
            .expect("response"),
    )
}

/// The prod stage's AWS, answering GetAccount then GetEmailIdentity of the address and of its domain.
fn replayed(answers: Vec<ReplayEvent>) -> (Aws, StaticReplayClient) {
    let http = StaticReplayClient::new(answers);
    let config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(aws_sdk_sesv2::config::SharedCredentialsProvider::new(
            Credentials::new("AKIDEXAMPLE", "secret", None, None, "replay"),
        ))
        .http_client(http.clone())
        .build();
    (
        Aws {
            config,
            endpoint_url: None,
            trace: obctl::trace::CallTrace::recording(0).0,
        },
        http,
    )
}

fn prod() -> obctl::stage::Stage {
    obctl::stage::load(&project(), "prod").expect("prod loads")
}

#[tokio::test]
async fn a_sandboxed_account_with_an_unverified_sender_gets_both_warnings_with_their_fixes() {
    let (aws, http) = replayed(vec![
        answer(200, SANDBOX),
        answer(200, PENDING),
        answer(404, NOT_FOUND),
    ]);
    let warnings = ses::check(&aws, &prod()).await;
    let codes: Vec<&str> = warnings.iter().map(|w| w.code).collect();
    assert_eq!(codes, ["ses_sandbox", "ses_sender_unverified"]);
    assert!(
        warnings[0].fix.contains(
            "aws sesv2 put-account-details --region eu-west-1 --production-access-enabled"
        )
    );
    assert!(
        warnings[1]
            .message
            .contains("no-reply@example.com (notifications.senderAddress) is not verified yet")
    );
    assert!(
        warnings[1]
            .fix
            .contains("verify the whole domain example.com")
    );
    let paths: Vec<String> = http
        .actual_requests()
        .map(|r| r.uri().to_string())
        .collect();
    assert!(paths[0].ends_with("/v2/email/account"), "{paths:?}");
    assert!(
        paths[1].ends_with("/v2/email/identities/no-reply%40example.com"),
        "{paths:?}"
    );
    assert!(
        paths[2].ends_with("/v2/email/identities/example.com"),
        "{paths:?}"
    );
    let text = warnings
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        text.starts_with("warning: the account is in the SES sandbox in eu-west-1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_verified_domain_needs_no_warning_but_paused_sending_does() {
    let (aws, _) = replayed(vec![
        answer(200, PRODUCTION),
        answer(404, NOT_FOUND),
        answer(200, VERIFIED_DOMAIN),
    ]);
    assert_eq!(ses::check(&aws, &prod()).await, []);
    let (aws, _) = replayed(vec![
        answer(200, PAUSED),
        answer(200, VERIFIED_DOMAIN),
        answer(200, VERIFIED_DOMAIN),
    ]);
    let warnings = ses::check(&aws, &prod()).await;
    assert_eq!(
        warnings.iter().map(|w| w.code).collect::<Vec<_>>(),
        ["ses_sending_disabled"]
    );
}

#[tokio::test]
async fn a_check_that_cannot_run_is_a_warning_not_a_failure() {
    let denied = r#"{"message":"User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ses:GetAccount"}"#;
    let forbidden = answer_with(403, Some("AccessDeniedException"), denied);
    let (aws, _) = replayed(vec![
        forbidden,
        answer(200, VERIFIED_DOMAIN),
        answer(200, VERIFIED_DOMAIN),
    ]);
    let warnings = ses::check(&aws, &prod()).await;
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].code, "ses_unchecked");
    assert!(
        warnings[0].message.contains("not authorized"),
        "{}",
        warnings[0].message
    );
}
