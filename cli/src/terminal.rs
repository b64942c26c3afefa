//! How obctl writes to the terminal: verbosity and colour, decided once from the flags and the environment.
//!
//! Colour follows each stream: on when it is a terminal, off when it is a
//! pipe or a file, off everywhere with `--no-color`, a non-empty `NO_COLOR`
//! (<https://no-color.org>) or `TERM=dumb`; `CLICOLOR_FORCE` turns it on
//! without a terminal (for `less -R`). Output for scripts (`--output json`)
//! is never coloured.

use std::io::IsTerminal;
use std::sync::OnceLock;

/// The decisions of this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Terminal {
    /// 0 quiet, 1 (`-v`) every AWS call, 2+ (`-vv`) every attempt and endpoint too.
    pub verbosity: u8,
    pub color_stdout: bool,
    pub color_stderr: bool,
}

static CURRENT: OnceLock<Terminal> = OnceLock::new();

impl Terminal {
    /// Decides from the flags, the environment (`var`) and whether each stream is a terminal.
    pub fn decide(
        no_color: bool,
        verbosity: u8,
        var: impl Fn(&str) -> Option<String>,
        stdout_is_terminal: bool,
        stderr_is_terminal: bool,
    ) -> Self {
        let set = |name: &str| var(name).is_some_and(|v| !v.is_empty());
        let never = no_color || set("NO_COLOR") || var("TERM").as_deref() == Some("dumb");
        let forced = set("CLICOLOR_FORCE") && var("CLICOLOR_FORCE").as_deref() != Some("0");
        let color = |is_terminal: bool| !never && (forced || is_terminal);
        Self {
            verbosity,
            color_stdout: color(stdout_is_terminal),
            color_stderr: color(stderr_is_terminal),
        }
    }

    /// Decides for this process and remembers it (the first call wins).
    pub fn init(no_color: bool, verbosity: u8) -> Self {
        let decided = Self::decide(
            no_color,
            verbosity,
            |name| std::env::var(name).ok(),
            std::io::stdout().is_terminal(),
            std::io::stderr().is_terminal(),
        );
        *CURRENT.get_or_init(|| decided)
    }

    /// This run's decisions (quiet and colourless before `init`).
    pub fn current() -> Self {
        CURRENT.get().copied().unwrap_or_default()
    }
}

/// A text style, as ANSI SGR codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Bold,
    Dim,
    Red,
    BoldRed,
    Green,
    Yellow,
    Cyan,
    Magenta,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Self::Bold => "1",
            Self::Dim => "2",
            Self::Red => "31",
            Self::BoldRed => "1;31",
            Self::Green => "32",
            Self::Yellow => "33",
            Self::Cyan => "36",
            Self::Magenta => "35",
        }
    }

    /// `text` in this style when `color`, else unchanged.
    pub fn paint(self, color: bool, text: &str) -> String {
        if color && !text.is_empty() {
            format!("\x1b[{}m{text}\x1b[0m", self.code())
        } else {
            text.to_owned()
        }
    }

    /// For standard error.
    pub fn err(self, text: &str) -> String {
        self.paint(Terminal::current().color_stderr, text)
    }

    /// For standard output.
    pub fn out(self, text: &str) -> String {
        self.paint(Terminal::current().color_stdout, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(no_color: bool, env: &[(&str, &str)], tty: bool) -> bool {
        let lookup = |name: &str| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        Terminal::decide(no_color, 0, lookup, tty, tty).color_stderr
    }

    #[test]
    fn colour_follows_the_terminal_and_no_color_wins() {
        assert!(decide(false, &[], true));
        assert!(!decide(false, &[], false), "pipes get no escape codes");
        assert!(!decide(true, &[], true), "--no-color");
        assert!(!decide(false, &[("NO_COLOR", "1")], true));
        assert!(
            !decide(false, &[("NO_COLOR", "0")], true),
            "any non-empty value"
        );
        assert!(
            decide(false, &[("NO_COLOR", "")], true),
            "empty means unset"
        );
        assert!(!decide(false, &[("TERM", "dumb")], true));
        assert!(decide(false, &[("CLICOLOR_FORCE", "1")], false));
        assert!(!decide(
            false,
            &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")],
            false
        ));
        assert_eq!(Style::Red.paint(true, "x"), "\x1b[31mx\x1b[0m");
        assert_eq!(Style::Red.paint(false, "x"), "x");
    }
}
