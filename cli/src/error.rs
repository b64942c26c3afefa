//! The one error type of `obctl`: what went wrong, how to fix it, and the exit code.

use std::fmt;
use std::path::PathBuf;

/// Exit codes are part of the CLI's contract (CI branches on them): each means
/// one thing, and the README's table lists them all (`ALL` keeps it honest).
pub mod exit {
    pub const OK: u8 = 0;
    /// Any failure that is not one of the codes below.
    pub const ERROR: u8 = 1;
    /// `obctl diff`: changes are pending.
    pub const CHANGES: u8 = 2;
    /// `obctl diff`/`deploy`: a stateful resource would be replaced or removed.
    pub const STATEFUL_CHANGE: u8 = 3;
    /// The command line itself was wrong: an unknown flag, a missing or
    /// malformed argument (BSD's EX_USAGE, so it never reads as "changes").
    pub const USAGE: u8 = 64;
    /// Interrupted by Ctrl-C (128 + SIGINT, as shells report it).
    pub const INTERRUPTED: u8 = 130;
    /// Every code, with what it means (the README's table).
    pub const ALL: [(u8, &str); 6] = [
        (OK, "success; for `diff`, no changes"),
        (ERROR, "failure (the message says what and how to fix it)"),
        (CHANGES, "`diff`: changes are pending"),
        (
            STATEFUL_CHANGE,
            "`diff`/`deploy`: a table or bucket would be replaced or removed (refused)",
        ),
        (
            USAGE,
            "usage error: unknown flag, missing or malformed argument",
        ),
        (INTERRUPTED, "interrupted (Ctrl-C)"),
    ];
}

/// An error shown to the user: a one-line problem, optional detail lines, and the fix.
#[derive(Debug, thiserror::Error)]
pub struct CliError {
    /// What went wrong, in one line, naming the file, key or flag.
    pub problem: String,
    /// Further facts (e.g. where in a file, what is allowed).
    pub details: Vec<String>,
    /// What the user should do about it.
    pub fix: Option<String>,
    pub exit_code: u8,
}

impl CliError {
    pub fn new(problem: impl Into<String>) -> Self {
        Self {
            problem: problem.into(),
            details: Vec::new(),
            fix: None,
            exit_code: exit::ERROR,
        }
    }

    pub fn detail(mut self, line: impl Into<String>) -> Self {
        self.details.push(line.into());
        self
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    pub fn exit_code(mut self, code: u8) -> Self {
        self.exit_code = code;
        self
    }

    /// An I/O failure on a named file.
    pub fn io(action: &str, path: &std::path::Path, err: &std::io::Error) -> Self {
        Self::new(format!("could not {action} {}: {err}", display_path(path)))
    }
}

impl CliError {
    /// The message as printed on a terminal: `error:` in red, the fix in green.
    pub fn render(&self, color: bool) -> String {
        use crate::terminal::Style;
        let mut text = format!("{} {}", Style::BoldRed.paint(color, "error:"), self.problem);
        for line in &self.details {
            text.push_str(&format!("\n  {line}"));
        }
        if let Some(fix) = &self.fix {
            text.push_str(&format!("\n  {} {fix}", Style::Green.paint(color, "fix:")));
        }
        text
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

/// Shows a path relative to the current directory when it is below it, so
/// messages stay short and name the file the way the user would type it.
pub fn display_path(path: &std::path::Path) -> String {
    let relative: Option<PathBuf> = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(PathBuf::from));
    relative.as_deref().unwrap_or(path).display().to_string()
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;
