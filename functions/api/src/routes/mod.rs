//! The route groups of the HTTP API, each a router with its OpenAPI operations.

pub mod auth;
pub mod config;
pub mod data;
pub mod files;
pub mod health;
pub mod openapi;
pub mod verify_key;
