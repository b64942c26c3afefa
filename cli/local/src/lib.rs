//! A stack's deployed shape, run locally: every function as real processes behind a local Lambda Runtime API, API
//! Gateway's HTTP and WebSocket APIs in front of them, and event source mappings feeding them.
//!
//! Nothing here reads a template: `obctl dev` turns the rendered template and
//! the deployed stack into specs (`FunctionSpec`, `HttpApiSpec`,
//! `WebSocketSpec`, `MappingSpec`), and this crate runs them.

// Tests may panic on unexpected values; production code may not (workspace lint).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod events;
pub mod http_api;
mod ids;
pub mod runtime;
pub mod server;
pub mod sources;
mod throttle;
pub mod websocket;

pub use events::{Event, EventBus, InvocationReport, LogLine, Stream};
pub use http_api::{HttpApi, HttpApiSpec};
pub use runtime::{Failure, FunctionSpec, Invocation, Outcome, Runtime};
pub use server::Gateway;
pub use websocket::{Limits, WebSocketApi, WebSocketRoute, WebSocketSpec};
