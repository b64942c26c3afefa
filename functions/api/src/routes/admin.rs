//! The admin function's routes: per-app config, notifications, key checks, health and the OpenAPI document.

use super::{config, health, notify, openapi, verify_key};

crate::route_list::api_routes! { merge: [config, notify, verify_key, health, openapi] }
