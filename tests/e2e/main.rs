//! End-to-end tests of One Backend, in one test binary.

mod admin;
mod admin_apps;
mod admin_config;
mod admin_delete;
mod admin_users;
mod api_auth;
mod api_config;
mod api_data;
mod api_data_query;
mod api_files;
mod api_isolation;
mod api_keys;
mod api_meta;
mod api_sessions;
mod api_settings;
mod deploy;
mod deploy_replay;
mod emulator;
mod functions;
mod local_backend;
mod realtime;
mod realtime_after_cancel;
mod realtime_lambda;
mod render;
mod stack_notify;
mod stack_structure;
