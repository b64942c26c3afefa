//! The route groups of the HTTP API, each declared once with `api_routes!`: a router and its OpenAPI operations.

pub mod account;
pub mod admin;
pub mod auth;
pub mod config;
pub(crate) mod config_schema;
pub mod data;
pub mod files;
pub mod health;
pub mod notify;
pub(crate) mod notify_schema;
pub mod openapi;
pub mod verify_key;

use crate::error::ApiError;

/// A page size from `?limit=`: 1 to `max`, with the default named in the error.
pub(crate) fn parse_limit(value: &str, max: usize, default: usize) -> Result<usize, ApiError> {
    value
        .parse()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            ApiError::invalid(
                "limit",
                &format!("must be a number from 1 to {max} (the default is {default})"),
            )
        })
}
