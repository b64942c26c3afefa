//! Test support for One Backend's end-to-end tests: the local AWS emulator harness.

pub mod calls;
pub mod emulator;
pub mod fixtures;
pub mod http;
pub mod obctl;
pub mod webdriver;

pub use emulator::{Emulator, EmulatorError, EmulatorGuard, emulator};

/// A port nobody listens on now, for a server a test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
