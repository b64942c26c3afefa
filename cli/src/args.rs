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

/// Options every command takes (AWS ones also come from the standard AWS_* variables).
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// AWS named profile to use
    #[arg(long, global = true, env = "AWS_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// AWS region (defaults to the stage's region)
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// Send AWS calls to this endpoint (e.g. the local emulator)
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,
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
