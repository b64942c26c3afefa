//! One module per subcommand; each turns validated arguments into a result and an exit code.

pub mod bootstrap;
pub mod build;
pub mod deploy;
pub mod destroy;
pub mod diff;
pub mod render;
pub mod status;
