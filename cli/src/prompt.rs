//! Confirmation prompts, only ever on a terminal: CI must say `--yes` explicitly.

use std::io::{BufRead, IsTerminal, Write};

use crate::error::{CliError, Result};

fn ask(question: &str) -> Result<String> {
    if !std::io::stdin().is_terminal() {
        return Err(
            CliError::new("confirmation needed, but standard input is not a terminal")
                .detail(format!("obctl would have asked: {question}"))
                .fix("review the changes above and pass --yes to proceed without a prompt"),
        );
    }
    eprint!("{question} ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|err| CliError::new(format!("could not read the answer: {err}")))?;
    Ok(answer.trim().to_owned())
}

/// Asks a yes/no question; only `y` or `yes` proceeds.
pub fn confirm(question: &str) -> Result<bool> {
    let answer = ask(&format!("{question} [y/N]"))?;
    Ok(matches!(answer.to_lowercase().as_str(), "y" | "yes"))
}

/// Asks the operator to type `expected` (e.g. a stack name) to proceed.
pub fn type_to_confirm(question: &str, expected: &str) -> Result<bool> {
    let answer = ask(&format!("{question}\nType {expected} to confirm:"))?;
    Ok(answer == expected)
}
