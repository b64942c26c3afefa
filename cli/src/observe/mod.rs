//! Reading what a deployed stage's functions wrote: `obctl logs` (CloudWatch Logs) and `obctl metrics` (CloudWatch metrics).

pub mod log_line;
pub mod logs;
pub mod metrics;
pub mod summary;
