//! One Backend's domain and storage layout, shared by the Lambda handlers and `obctl`.

pub mod tables;
