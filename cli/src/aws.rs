//! AWS clients for a command: region, profile and endpoint from the flags, and
//! SDK errors turned into a cause and a fix (never a raw SDK debug dump).

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudformation::config::http::HttpResponse;
use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};

use crate::args::AwsArgs;
use crate::error::CliError;
use crate::trace::CallTrace;

/// The SDK configuration of one command, and the `-v` trace every client gets.
#[derive(Debug, Clone)]
pub struct Aws {
    pub config: SdkConfig,
    pub endpoint_url: Option<String>,
    pub trace: CallTrace,
}

/// Builds a client of one service from the shared config, with the `-v` trace.
macro_rules! client {
    ($self:ident, $sdk:ident) => {{
        let mut builder = $sdk::config::Builder::from(&$self.config);
        if $self.trace.enabled() {
            builder = builder.interceptor($self.trace.clone());
        }
        $sdk::Client::from_conf(builder.build())
    }};
}

impl Aws {
    /// Loads credentials and settings the standard way (env, profile, SSO, IMDS).
    /// The region is `--region`, else the stage's: `AWS_REGION` alone never
    /// redirects a stage to another region.
    pub async fn connect(global: &AwsArgs, stage_region: &str) -> Self {
        let region = global
            .region
            .clone()
            .unwrap_or_else(|| stage_region.to_owned());
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region.clone()));
        if let Some(profile) = &global.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &global.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let trace = CallTrace::for_terminal();
        trace.settings(
            &region,
            global.endpoint_url.as_deref(),
            global.profile.as_deref(),
        );
        Self {
            config: loader.load().await,
            endpoint_url: global.endpoint_url.clone(),
            trace,
        }
    }

    pub fn region(&self) -> String {
        self.config
            .region()
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    pub fn cloudformation(&self) -> aws_sdk_cloudformation::Client {
        client!(self, aws_sdk_cloudformation)
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        let mut builder = aws_sdk_s3::config::Builder::from(&self.config)
            // Emulators serve buckets by path, not by virtual host.
            .force_path_style(self.endpoint_url.is_some());
        if self.trace.enabled() {
            builder = builder.interceptor(self.trace.clone());
        }
        aws_sdk_s3::Client::from_conf(builder.build())
    }

    pub fn iam(&self) -> aws_sdk_iam::Client {
        client!(self, aws_sdk_iam)
    }

    pub fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        client!(self, aws_sdk_secretsmanager)
    }

    pub fn sts(&self) -> aws_sdk_sts::Client {
        client!(self, aws_sdk_sts)
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        client!(self, aws_sdk_dynamodb)
    }

    pub fn dynamodb_streams(&self) -> aws_sdk_dynamodbstreams::Client {
        client!(self, aws_sdk_dynamodbstreams)
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        client!(self, aws_sdk_sqs)
    }

    pub fn sesv2(&self) -> aws_sdk_sesv2::Client {
        client!(self, aws_sdk_sesv2)
    }

    pub fn sns(&self) -> aws_sdk_sns::Client {
        client!(self, aws_sdk_sns)
    }

    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        client!(self, aws_sdk_cloudwatchlogs)
    }

    pub fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        client!(self, aws_sdk_cloudwatch)
    }

    /// The account the credentials belong to (also proves they work).
    pub async fn account_id(&self) -> Result<String, CliError> {
        let identity = self
            .sts()
            .get_caller_identity()
            .send()
            .await
            .map_err(|err| aws_error("check the AWS credentials (sts:GetCallerIdentity)", &err))?;
        identity
            .account()
            .map(str::to_owned)
            .ok_or_else(|| CliError::new("sts:GetCallerIdentity returned no account"))
    }
}

/// The service's error code, if the error came from the service.
pub fn error_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    match err {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// The service's error message, if the error came from the service.
pub fn error_message<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    match err {
        SdkError::ServiceError(service) => service.err().message(),
        _ => None,
    }
}

/// Describes a failed AWS call: what we tried, the service's own words, and a fix.
pub fn aws_error<E>(action: &str, err: &SdkError<E, HttpResponse>) -> CliError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            // HEAD requests (and some S3 errors) carry no body: the status is all there is.
            let status = format!("HTTP {}", service.raw().status().as_u16());
            let code = e.code().unwrap_or(&status);
            let message = e.message().unwrap_or("no message from the service");
            let fix = match code {
                "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => {
                    "use credentials allowed to do this (--profile, or AWS_PROFILE)"
                }
                "ExpiredToken" | "ExpiredTokenException" | "InvalidClientTokenId" => {
                    "refresh the credentials (e.g. `aws sso login`) and run the command again"
                }
                "Throttling" | "ThrottlingException" => "wait a moment and run the command again",
                _ => {
                    "the service's own words above name the cause; correct it and run the command again"
                }
            };
            CliError::new(format!("could not {action}: {code}: {message}")).fix(fix)
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            let cause = root_cause(err);
            let mut e = CliError::new(format!("could not {action}: cannot reach AWS ({cause})"));
            if cause.to_lowercase().contains("credential") {
                e = e.fix("configure credentials: --profile NAME, AWS_PROFILE, or `aws configure`");
            } else {
                e = e.fix("check the network, --region and --endpoint-url (AWS_ENDPOINT_URL)");
            }
            e
        }
        _ => CliError::new(format!("could not {action}: {}", root_cause(err)))
            .fix("check the credentials and settings (--profile, --region, --endpoint-url)"),
    }
}

/// The innermost error's text: the part that says what actually went wrong.
pub(crate) fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}
