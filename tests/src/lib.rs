//! Test support for One Backend's end-to-end tests: the local AWS emulator harness.

pub mod calls;
pub mod emulator;
pub mod fixtures;
pub mod http;
pub mod obctl;

pub use emulator::{Emulator, EmulatorError, EmulatorGuard, emulator};
