//! One module per subcommand; each turns validated arguments into a result.

pub mod render;
