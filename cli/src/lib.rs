//! `obctl`: renders, deploys and administers One Backend stacks.

pub mod admin;
pub mod args;
pub mod aws;
pub mod bootstrap;
pub mod build;
pub mod commands;
pub mod deploy;
pub mod dev;
pub mod error;
pub mod live;
pub mod observe;
pub mod output;
pub mod project;
pub mod prompt;
pub mod render;
pub mod ses;
pub mod stage;
pub mod terminal;
pub mod trace;

use std::ffi::OsString;

use clap::{CommandFactory, FromArgMatches};

use args::{Cli, Command};
use error::{CliError, exit};
use project::Project;
use terminal::Terminal;

/// Runs `obctl` with these arguments and returns the process exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> u8 {
    let args: Vec<OsString> = args.into_iter().collect();
    let cli = match parse(&args) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    let terminal = Terminal::init(cli.global.no_color, cli.global.verbose);
    match execute(&cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("{}", err.render(terminal.color_stderr));
            err.exit_code
        }
    }
}

/// Parses the command line; clap's own help and errors are plain with `--no-color`
/// (it already honours `NO_COLOR` and the terminal).
fn parse(args: &[OsString]) -> Result<Cli, clap::Error> {
    let no_color = args
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--no-color");
    let mut command = Cli::command();
    if no_color {
        command = command.color(clap::ColorChoice::Never);
    }
    let matches = command.try_get_matches_from(args)?;
    Cli::from_arg_matches(&matches)
}

fn execute(cli: &Cli) -> Result<u8, CliError> {
    let cwd = std::env::current_dir()
        .map_err(|err| CliError::new(format!("cannot read the current directory: {err}")))?;
    let project = Project::locate(cli.global.project_dir.as_deref(), &cwd)?;
    let g = &cli.global;
    let p = &project;
    match &cli.command {
        Command::Render(args) => commands::render::run(g, args, p).map(|()| exit::OK),
        Command::Build(args) => commands::build::run(g, args, p),
        Command::Bootstrap(args) => block_on(commands::bootstrap::run(g, args, p)),
        Command::Deploy(args) => block_on(commands::deploy::run(g, args, p)),
        Command::Diff(args) => block_on(commands::diff::run(g, args, p)),
        Command::Status(args) => block_on(commands::status::status(g, args, p)),
        Command::Outputs(args) => block_on(commands::status::outputs(g, args, p)),
        Command::Destroy(args) => block_on(commands::destroy::run(g, args, p)),
        Command::Dev(args) => block_on(dev::run(g, args, p)),
        Command::Apps(args) => block_on(admin::apps::run(g, args, p)),
        Command::Keys(args) => block_on(admin::keys::run(g, args, p)),
        Command::Webhooks(args) => block_on(admin::webhooks::run(g, args, p)),
        Command::Users(args) => block_on(admin::users::run(g, args, p)),
        Command::Config(args) => block_on(admin::config::run(g, args, p)),
        Command::Audit(args) => block_on(admin::audit::run(g, args, p)),
        Command::Notify(args) => block_on(admin::notify::run(g, args, p)),
        Command::Logs(args) => block_on(observe::logs::run(g, args, p)),
        Command::Metrics(args) => block_on(observe::metrics::run(g, args, p)),
    }
}

/// Runs an AWS command on a runtime made for it (render and build need none).
fn block_on(
    future: impl std::future::Future<Output = Result<u8, CliError>>,
) -> Result<u8, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|err| CliError::new(format!("cannot start the async runtime: {err}")))?
        .block_on(future)
}
