//! The `obctl` binary: all logic lives in the library so tests can drive it in-process.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(obctl::run(std::env::args_os()))
}
