//! One Backend's domain and storage layout, shared by the Lambda handlers and `obctl`.

// Tests may panic on unexpected values; production code may not (workspace lint).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod api_keys;
pub mod apps;
pub mod attr;
pub mod audit;
pub mod auth_tokens;
pub mod cache;
pub mod clock;
pub mod condition;
pub mod config;
pub mod data;
pub mod deferred;
pub mod env;
pub mod error;
pub mod files;
pub mod functions;
pub mod keys;
pub mod limits;
pub mod notify;
pub mod passwords;
pub mod queues;
pub mod realtime;
pub mod route_key;
pub mod scopes;
pub mod secret;
pub mod sessions;
pub mod signing;
pub mod sqs;
pub mod standing;
pub mod store;
pub mod tables;
pub mod throttle;
pub mod tokens;
pub mod users;
pub mod webhooks;

pub use error::{Error, Result};
pub use store::{Store, Tables};
