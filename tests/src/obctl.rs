//! Runs the real `obctl` binary against the emulator, as an operator or CI would.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::emulator::{Emulator, workspace_root};

/// What one `obctl` run printed and returned.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Standard output parsed as JSON (for `--output json` runs).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|err| {
            panic!(
                "stdout is not JSON ({err}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// The `obctl` binary next to the test binary (`cargo build --workspace` builds it).
pub fn obctl_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let bin = dir.join("obctl");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build --workspace` first (`make test` does)",
        bin.display()
    );
    bin
}

/// Runs `obctl ARGS` in the workspace, pointed at `emulator`, with no terminal.
pub fn obctl(emulator: &Emulator, args: &[&str]) -> Run {
    obctl_with_env(emulator, args, &[])
}

/// `obctl` pointed at `emulator`, without the caller's colour settings, plus `env`.
pub fn obctl_with_env(emulator: &Emulator, args: &[&str], env: &[(&str, &str)]) -> Run {
    let output = command(emulator)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("obctl runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The `obctl` command as the tests run it: in the workspace, against `emulator`,
/// fast polling, no profile, and colour left to each test.
pub fn command(emulator: &Emulator) -> Command {
    let mut command = Command::new(obctl_bin());
    command
        .current_dir(workspace_root())
        .envs(emulator.env_vars())
        .env("OBCTL_POLL_MS", "50")
        .env_remove("AWS_PROFILE")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE");
    command
}
