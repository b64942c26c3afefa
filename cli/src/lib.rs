//! `obctl`: renders, deploys and administers One Backend stacks.

pub mod args;
pub mod commands;
pub mod error;
pub mod output;
pub mod project;
pub mod render;
pub mod stage;

use std::ffi::OsString;

use clap::Parser;

use args::{Cli, Command};
use error::{CliError, exit};
use project::Project;

/// Runs `obctl` with these arguments and returns the process exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> u8 {
    let cli = match Cli::try_parse_from(args) {
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
    match execute(&cli) {
        Ok(()) => exit::OK,
        Err(err) => {
            eprintln!("{err}");
            err.exit_code
        }
    }
}

fn execute(cli: &Cli) -> Result<(), CliError> {
    let cwd = std::env::current_dir()
        .map_err(|err| CliError::new(format!("cannot read the current directory: {err}")))?;
    let project = Project::locate(cli.global.project_dir.as_deref(), &cwd)?;
    match &cli.command {
        Command::Render(args) => commands::render::run(&cli.global, args, &project),
    }
}
