//! Every SQS queue of the stack, defined once (as `tables.rs` is for tables).
//!
//! The dashboard shows each queue's depth and the age of its oldest message,
//! and each dead-letter queue gets an alarm, because `obctl render` builds both
//! from this list; a test fails when the template declares a queue that is not
//! here, or the other way round. A new queue is added to the template and
//! here, and it is watched from then on.

/// A queue of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueDef {
    /// Logical id of the `AWS::SQS::Queue` resource in the template.
    pub logical_id: &'static str,
    /// What waits in it, for the dashboard and the alarm's description.
    pub holds: &'static str,
    /// Whether it is a dead-letter queue: any message in it is work that
    /// failed for good and needs an operator, so it raises an alarm.
    pub dead_letter: bool,
}

/// Every queue of the stack, in template order.
pub const ALL: &[QueueDef] = &[REALTIME_FAILED_BATCHES];

/// Data-stream batches realtime's fan-out could not deliver after every retry
/// (the event source mapping's on-failure destination).
pub const REALTIME_FAILED_BATCHES: QueueDef = QueueDef {
    logical_id: "RealtimeFailedBatches",
    holds: "data-stream batches realtime could not fan out after every retry (shard and sequence range)",
    dead_letter: true,
};

impl QueueDef {
    /// Looks a queue up by its logical id.
    pub fn by_logical_id(logical_id: &str) -> Option<&'static QueueDef> {
        ALL.iter().find(|queue| queue.logical_id == logical_id)
    }
}
