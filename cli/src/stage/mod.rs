//! A stage's settings (`stacks/<stage>.yaml`): typed, with unknown keys rejected.

mod load;
mod validate;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::args::BuildProfile;

pub(crate) use load::closest;
pub use load::load;

/// A validated stage: its name and settings.
#[derive(Debug, Clone)]
pub struct Stage {
    pub name: String,
    pub config: StageConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StageConfig {
    /// AWS region the stack lives in, e.g. `eu-west-1`.
    pub region: String,
    /// CloudFormation stack name; also prefixes every physical resource name.
    pub stack_name: String,
    pub cors: Cors,
    pub lambda: Lambda,
    pub database: Database,
    #[serde(default)]
    pub alarms: Alarms,
    #[serde(default)]
    pub metrics: MetricsSettings,
    #[serde(default)]
    pub webhooks: WebhookSettings,
    pub api: Api,
    pub auth: Auth,
    pub files: Files,
    pub audit: Audit,
    pub notifications: Notifications,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Cors {
    /// Browser origins allowed to call the APIs (`scheme://host[:port]`).
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum Architecture {
    #[serde(rename = "arm64")]
    Arm64,
    #[serde(rename = "x86_64")]
    X86_64,
}

impl Architecture {
    /// The value CloudFormation's `Architectures` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Arm64 => "arm64",
            Self::X86_64 => "x86_64",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Lambda {
    pub architecture: Architecture,
    pub log_retention_days: u32,
    /// Default memory for every function, in MB.
    pub memory_mb: u32,
    /// Default timeout for every function, in seconds.
    pub timeout_seconds: u32,
    #[serde(default)]
    pub functions: FunctionOverrides,
    /// Cargo profile deploys build with: `release` (small zips) or `dev` (fast builds).
    #[serde(default = "release")]
    pub build_profile: BuildProfile,
}

fn release() -> BuildProfile {
    BuildProfile::Release
}

/// Per-function overrides of the defaults, keyed by function name
/// (`ob_core::functions`); an unknown name is a validation error.
pub type FunctionOverrides = BTreeMap<String, FunctionSettings>;

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FunctionSettings {
    pub memory_mb: Option<u32>,
    pub timeout_seconds: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Database {
    pub point_in_time_recovery: bool,
    pub deletion_protection: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Alarms {
    /// Where alarm notifications go; no subscription when absent.
    pub email: Option<String>,
    /// The HTTP API's p99 latency (ms) that raises the latency alarm.
    #[serde(default = "default_latency_p99_ms")]
    pub latency_p99_ms: u32,
    /// Age (s) of the oldest data-table change realtime has not processed yet
    /// that raises the stream alarm.
    #[serde(default = "default_stream_iterator_age_seconds")]
    pub stream_iterator_age_seconds: u32,
}

fn default_latency_p99_ms() -> u32 {
    1000
}

fn default_stream_iterator_age_seconds() -> u32 {
    60
}

impl Default for Alarms {
    fn default() -> Self {
        Self {
            email: None,
            latency_p99_ms: default_latency_p99_ms(),
            stream_iterator_age_seconds: default_stream_iterator_age_seconds(),
        }
    }
}

/// Where the stage's app webhooks may deliver (see README, "Webhooks").
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebhookSettings {
    /// Also `http://` and loopback targets (127.0.0.1, ::1, localhost), for
    /// `obctl dev`; never private, link-local or metadata addresses.
    #[serde(default)]
    pub allow_local_targets: bool,
}

impl WebhookSettings {
    pub fn policy(self) -> ob_core::webhooks::TargetPolicy {
        ob_core::webhooks::TargetPolicy {
            allow_local: self.allow_local_targets,
        }
    }
}

/// What the functions publish beyond the defaults (see README, "Metrics").
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetricsSettings {
    /// Also publish every app's per-route series (apps × routes custom metrics).
    #[serde(default)]
    pub per_app_routes: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Api {
    pub throttling: Throttling,
    /// Per-minute request limits per app and per client address (each app's
    /// config may set its own).
    #[serde(default)]
    pub limits: RequestLimits,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RequestLimits {
    pub app_requests_per_minute: u32,
    pub client_requests_per_minute: u32,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            app_requests_per_minute: 6000,
            client_requests_per_minute: 600,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Throttling {
    /// Steady-state requests per second across the HTTP API stage.
    pub rate_limit: u32,
    /// Requests allowed in a burst above the rate.
    pub burst_limit: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Auth {
    pub access_token_ttl_seconds: u32,
    pub refresh_token_ttl_seconds: u32,
    /// Absolute lifetime of a session from its login; refreshes end then.
    #[serde(default = "default_session_max")]
    pub session_max_seconds: u32,
    pub bcrypt_cost: u32,
}

/// 90 days.
fn default_session_max() -> u32 {
    90 * 86_400
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Files {
    pub max_upload_bytes: u64,
    /// Lifetime of presigned upload and download URLs.
    pub url_expiry_seconds: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Audit {
    pub retention_days: u32,
}

/// E-mail (SES), SMS (SNS) and the account e-mails' links.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Notifications {
    /// Every e-mail's From address: an SES identity of the account and region
    /// (the address itself or its domain).
    pub sender_address: String,
    /// The name recipients see beside the address.
    #[serde(default = "default_sender_name")]
    pub sender_name: String,
    /// Where replies go; the sender address when absent.
    pub reply_to: Option<String>,
    /// The SES configuration set the stack creates and sends through;
    /// `<stackName>` when absent.
    pub ses_configuration_set: Option<String>,
    /// Whether apps may send SMS through SNS.
    #[serde(default)]
    pub sms: bool,
    #[serde(default)]
    pub daily_quota: DailyQuota,
    /// The page a password-reset link opens (with `?token=`), for apps whose
    /// config names none.
    pub password_reset_url: String,
    /// The page a verification link opens (with `?token=`), likewise.
    pub email_verification_url: String,
    #[serde(default = "default_reset_ttl")]
    pub password_reset_ttl_seconds: u32,
    #[serde(default = "default_verification_ttl")]
    pub email_verification_ttl_seconds: u32,
}

fn default_sender_name() -> String {
    "One Backend".to_owned()
}

fn default_reset_ttl() -> u32 {
    3600
}

fn default_verification_ttl() -> u32 {
    86_400
}

/// What one app may send per UTC day through `POST /notify`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DailyQuota {
    pub email: u32,
    pub sms: u32,
}

impl Default for DailyQuota {
    fn default() -> Self {
        Self {
            email: 1000,
            sms: 100,
        }
    }
}

impl Notifications {
    /// The configuration set's name on `stack_name`'s stage.
    pub fn configuration_set(&self, stack_name: &str) -> String {
        self.ses_configuration_set
            .clone()
            .unwrap_or_else(|| stack_name.to_owned())
    }

    /// Where replies go.
    pub fn reply_to(&self) -> &str {
        self.reply_to.as_deref().unwrap_or(&self.sender_address)
    }

    /// The sender address's domain (an SES identity may be the domain).
    pub fn sender_domain(&self) -> &str {
        self.sender_address
            .split_once('@')
            .map_or("", |(_, domain)| domain)
    }
}

/// The log group Lambda writes a function's output to (`templates/function.yaml` names it so).
pub fn log_group(stack_name: &str, function: &ob_core::functions::FunctionDef) -> String {
    format!("/aws/lambda/{stack_name}-{}", function.name)
}

/// Resolved memory and timeout of one function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionSizing {
    pub memory_mb: u32,
    pub timeout_seconds: u32,
}

impl Lambda {
    /// Memory and timeout of `function`: its override, else the stage default.
    pub fn sizing(&self, function: &str) -> FunctionSizing {
        let o = self.functions.get(function).copied().unwrap_or_default();
        FunctionSizing {
            memory_mb: o.memory_mb.unwrap_or(self.memory_mb),
            timeout_seconds: o.timeout_seconds.unwrap_or(self.timeout_seconds),
        }
    }
}
