//! Command results are both readable text (`Display`) and JSON (`Serialize`).

use std::fmt::Display;

use serde::Serialize;

use crate::args::OutputFormat;

/// Prints a command's result on standard output in the chosen format.
pub fn emit<R: Display + Serialize>(format: OutputFormat, result: &R) {
    match format {
        OutputFormat::Text => println!("{result}"),
        OutputFormat::Json => match serde_json::to_string(result) {
            Ok(json) => println!("{json}"),
            Err(err) => eprintln!("error: could not encode the result as JSON: {err}"),
        },
    }
}
