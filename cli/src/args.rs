//! The command line: global options and one subcommand per operation.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "obctl",
    version,
    about = "Provision and run One Backend in your AWS account",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Where AWS calls go; flattened into every command that calls AWS (the standard
/// AWS_* variables and profiles work too).
#[derive(Debug, Clone, Default, Args)]
pub struct AwsArgs {
    /// AWS named profile to use
    #[arg(long, env = "AWS_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// AWS region (defaults to the stage's region)
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Send AWS calls to this endpoint (e.g. the local emulator)
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Result format: readable text or JSON for scripts
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Show every AWS call on stderr: service, operation, status, time, request id (-vv: each attempt and endpoint)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Do not colour the output (a non-empty NO_COLOR does the same)
    #[arg(long, global = true)]
    pub no_color: bool,
    /// The One Backend checkout (default: the nearest folder with stacks/ and templates/)
    #[arg(long, global = true, env = "OBCTL_PROJECT_DIR", value_name = "DIR")]
    pub project_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the CloudFormation template a stage deploys
    Render(RenderArgs),
    /// Build every Lambda handler into a reproducible zip named by its SHA-256
    Build(BuildArgs),
    /// Create what deploys need before the stack exists (idempotent)
    Bootstrap(StageArgs),
    /// Build, upload and deploy a stage through a change set
    Deploy(DeployArgs),
    /// Show what a deploy would change (exit 0 none, 2 changes, 3 data loss)
    Diff(DiffArgs),
    /// Show the stack's state and last events
    Status(StageArgs),
    /// Print the stack's outputs (URLs, table and bucket names)
    Outputs(StageArgs),
    /// Delete a stage's stack (tables and buckets are retained)
    Destroy(DestroyArgs),
    /// Run the stage's functions locally behind a local API Gateway, against its deployed stack
    Dev(DevArgs),
    /// Create, list, show and update a stage's apps
    Apps(crate::admin::args::AppsArgs),
    /// Issue, list, revoke and rotate an app's API keys
    Keys(crate::admin::args::KeysArgs),
    /// List an app's users, set roles, disable, enable, end sessions
    Users(crate::admin::args::UsersArgs),
    /// Read and write an app's config (versioned, validated like the API)
    Config(crate::admin::args::ConfigArgs),
    /// Show an app's audit log, newest first
    Audit(crate::admin::args::AuditArgs),
    /// Send a test message; list and clear an app's suppressed addresses
    Notify(crate::admin::notify::NotifyArgs),
    /// Subscribe an app's endpoints to data and auth events, signed per Standard Webhooks
    Webhooks(crate::admin::webhooks::args::WebhooksArgs),
    /// Show the functions' log lines, merged in time order (--follow keeps printing)
    Logs(LogsArgs),
    /// Summarise requests, errors and latency per route and per app, from CloudWatch
    Metrics(MetricsArgs),
}

#[derive(Debug, Args)]
pub struct MetricsArgs {
    #[command(flatten)]
    pub target: StageArgs,
    /// One app: its totals, and per route with `metrics.perAppRoutes`
    #[arg(long, value_name = "APP_ID")]
    pub app: Option<String>,
    /// Over this long until now (1h, 7d) or since this date (2027-01-01)
    #[arg(long, default_value = "1h", value_name = "WHEN")]
    pub since: String,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub target: StageArgs,
    /// Only this function's lines (repeatable; default: every function)
    #[arg(long = "function", value_name = "NAME")]
    pub functions: Vec<String>,
    /// From this long ago (10m, 2h, 1d) or from this date (2027-01-01)
    #[arg(long, default_value = "10m", value_name = "WHEN")]
    pub since: String,
    /// Only lines matching this CloudWatch Logs filter pattern (words: lines holding all of them; "a phrase"; { $.level = "ERROR" })
    #[arg(long, value_name = "PATTERN")]
    pub filter: Option<String>,
    /// Keep printing new lines as they arrive, until Ctrl-C
    #[arg(long)]
    pub follow: bool,
    /// Show at most this many lines before following (the newest ones)
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct DevArgs {
    /// Stage whose template and deployed stack to run (deploy it first)
    #[arg(long, env = "OBCTL_STAGE", default_value = "local")]
    pub stage: String,
    /// Port on 127.0.0.1
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// Serve the API from this process (one axum router) instead of the function processes
    #[arg(long)]
    pub in_process: bool,
    /// Cargo profile of the function binaries (release: optimised, slower to build)
    #[arg(long, value_enum, default_value_t = BuildProfile::Dev)]
    pub build_profile: BuildProfile,
    /// Most instances of one function running at once
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub max_instances: usize,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// A stage and where its AWS account is.
#[derive(Debug, Args)]
pub struct StageArgs {
    /// Stage (a file in stacks/)
    #[arg(long, env = "OBCTL_STAGE")]
    pub stage: String,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildProfile {
    Release,
    Dev,
}

impl BuildProfile {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Release => "release",
            Self::Dev => "dev",
        }
    }
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Take the architecture and build profile from this stage
    #[arg(long, env = "OBCTL_STAGE")]
    pub stage: Option<String>,
    /// Target architecture (default: the stage's, else arm64)
    #[arg(long, value_enum)]
    pub arch: Option<ArchArg>,
    /// Cargo profile (default: the stage's lambda.buildProfile, else release)
    #[arg(long, value_enum)]
    pub profile: Option<BuildProfile>,
    /// Write the zips here (default: target/lambda/<arch>/<profile>)
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ArchArg {
    Arm64,
    #[value(name = "x86_64")]
    X86_64,
}

/// How a deploy or diff gets the function zips.
#[derive(Debug, Args)]
pub struct ArtifactArgs {
    /// Cargo profile for the build (default: the stage's lambda.buildProfile)
    #[arg(long, value_enum, conflicts_with = "artifacts")]
    pub build_profile: Option<BuildProfile>,
    /// Deploy the zips `obctl build --out-dir DIR` wrote instead of building
    #[arg(long, value_name = "DIR")]
    pub artifacts: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub target: StageArgs,
    #[command(flatten)]
    pub build: ArtifactArgs,
    /// Do not ask for confirmation (required without a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Allow replacing or removing this stateful resource (logical id; repeatable)
    #[arg(long, value_name = "LOGICAL_ID")]
    pub allow_replace: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub target: StageArgs,
    #[command(flatten)]
    pub build: ArtifactArgs,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub target: StageArgs,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Acknowledge destroying a stage whose tables are deletion-protected (with --yes)
    #[arg(long)]
    pub i_understand_data_loss: bool,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Stage to render (a file in stacks/)
    #[arg(long, env = "OBCTL_STAGE")]
    pub stage: String,
    /// Template format
    #[arg(long, value_enum, default_value_t = TemplateFormat::Yaml)]
    pub format: TemplateFormat,
    /// Write the template to FILE instead of standard output
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TemplateFormat {
    Yaml,
    Json,
}
