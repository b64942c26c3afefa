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
    /// Print more about what is happening
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Do not colour the output
    #[arg(long, global = true, env = "NO_COLOR")]
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
    /// Serve the whole HTTP API locally against a deployed stage's tables
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
}

#[derive(Debug, Args)]
pub struct DevArgs {
    /// Stage whose tables and signing key to use (deploy it first)
    #[arg(long, env = "OBCTL_STAGE", default_value = "local")]
    pub stage: String,
    /// Port on 127.0.0.1
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
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
