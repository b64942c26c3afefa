//! Every SQS queue of the stack, defined once (as `tables.rs` is for tables): its env var, output, redrive and encryption.
//!
//! `templates/queues.yaml` declares these queues and a test holds it to this
//! list (redrive target and count, encryption, retention, visibility). Each
//! queue's URL reaches the functions that send to it through `env_var` and
//! operators through `output`; each dead-letter queue gets an alarm
//! (`templates/dead-letter-alarm.yaml`) and each work queue a depth alarm
//! (`templates/queue-depth-alarm.yaml`), because `obctl render` builds them from here.

/// A queue of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueDef {
    /// Logical id of the `AWS::SQS::Queue` resource in the template.
    pub logical_id: &'static str,
    /// What waits in it, for the dashboard and the alarms' descriptions.
    pub holds: &'static str,
    /// Environment variable through which a function receives the queue URL.
    pub env_var: &'static str,
    /// Stack output that carries the queue URL (obctl finds queues through it).
    pub output: &'static str,
    /// Whether it is a dead-letter queue: any message in it is work that
    /// failed for good and needs an operator, so it raises an alarm.
    pub dead_letter: bool,
    /// Where messages go after too many failed receives.
    pub redrive: Option<Redrive>,
    /// How long a received message stays invisible before it is received
    /// again; at least six times the consumer's timeout, as Lambda advises.
    pub visibility_timeout_secs: u32,
    /// How long an unconsumed message is kept.
    pub retention_secs: u32,
    pub encryption: Encryption,
    /// A work queue alarms when more messages than this wait in it for 15 minutes.
    pub depth_alarm: Option<u32>,
}

/// A redrive policy: after `max_receive_count` receives, a message moves to `dead_letter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redrive {
    pub dead_letter: &'static QueueDef,
    pub max_receive_count: u32,
}

/// How a queue is encrypted at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    /// SSE-SQS: keys owned by SQS; producers and consumers need no KMS
    /// permission, and SNS may deliver to the queue.
    SqsManaged,
}

/// Notification jobs that failed `NOTIFY.redrive.max_receive_count` times.
pub const NOTIFY_DEAD_LETTERS: QueueDef = QueueDef {
    logical_id: "NotifyDeadLetterQueue",
    holds: "notification jobs that failed 3 times",
    env_var: "NOTIFY_DEAD_LETTER_QUEUE_URL",
    output: "NotifyDeadLetterQueueUrl",
    dead_letter: true,
    redrive: None,
    visibility_timeout_secs: 30,
    retention_secs: 14 * 86_400,
    encryption: Encryption::SqsManaged,
    depth_alarm: None,
};

/// Work of the notify function: e-mails, SMS and pushes to send, and SES's
/// bounce and complaint events (through the SES events topic). Body shapes:
/// `ob_core::notify::job`.
pub const NOTIFY: QueueDef = QueueDef {
    logical_id: "NotifyQueue",
    holds: "notifications to send and SES feedback",
    env_var: "NOTIFY_QUEUE_URL",
    output: "NotifyQueueUrl",
    dead_letter: false,
    redrive: Some(Redrive {
        dead_letter: &NOTIFY_DEAD_LETTERS,
        max_receive_count: 3,
    }),
    // Six times the notify function's 30-second timeout.
    visibility_timeout_secs: 180,
    retention_secs: 4 * 86_400,
    encryption: Encryption::SqsManaged,
    depth_alarm: Some(1000),
};

/// Every queue of the stack, in template order.
pub const ALL: &[QueueDef] = &[
    NOTIFY,
    NOTIFY_DEAD_LETTERS,
    REALTIME_FAILED_BATCHES,
    WEBHOOK_DELIVERIES,
    WEBHOOK_DEAD_LETTERS,
];

/// Work of the webhooks function: events to fan out to an app's subscriptions
/// (auth events, sent by the functions and `obctl`) and delivery attempts, each
/// retry a message delayed along the backoff (in hops of at most 900 s). Body
/// shapes: `ob_core::webhooks::queue::Work`.
pub const WEBHOOK_DELIVERIES: QueueDef = QueueDef {
    logical_id: "WebhookDeliveries",
    holds: "webhook events to fan out and delivery attempts (retries wait here, delayed)",
    env_var: "WEBHOOK_QUEUE_URL",
    output: "WebhookQueueUrl",
    dead_letter: false,
    redrive: Some(Redrive {
        dead_letter: &WEBHOOK_DEAD_LETTERS,
        // Retries of a failing endpoint are new messages (the backoff); a
        // message comes back only when the worker itself could not finish it.
        max_receive_count: 5,
    }),
    // Six times the webhooks function's 30-second timeout.
    visibility_timeout_secs: 180,
    retention_secs: 4 * 86_400,
    encryption: Encryption::SqsManaged,
    depth_alarm: Some(5000),
};

/// Webhook work the worker failed `WEBHOOK_DELIVERIES.redrive.max_receive_count` times,
/// and descriptions (shard, sequence range) of data-stream batches it could not
/// fan out after every retry (the stream mapping's on-failure destination).
pub const WEBHOOK_DEAD_LETTERS: QueueDef = QueueDef {
    logical_id: "WebhookDeadLetterQueue",
    holds: "webhook work the worker failed 5 times, and data-stream batches it could not fan out",
    env_var: "WEBHOOK_DEAD_LETTER_QUEUE_URL",
    output: "WebhookDeadLetterQueueUrl",
    dead_letter: true,
    redrive: None,
    visibility_timeout_secs: 30,
    retention_secs: 14 * 86_400,
    encryption: Encryption::SqsManaged,
    depth_alarm: None,
};

/// Data-stream batches realtime's fan-out could not deliver after every retry
/// (the event source mapping's on-failure destination, `templates/functions/realtime.yaml`).
pub const REALTIME_FAILED_BATCHES: QueueDef = QueueDef {
    logical_id: "RealtimeFailedBatches",
    holds: "data-stream batches realtime could not fan out after every retry (shard and sequence range)",
    env_var: "REALTIME_FAILED_BATCHES_URL",
    output: "RealtimeFailedBatchesUrl",
    dead_letter: true,
    redrive: None,
    visibility_timeout_secs: 30,
    retention_secs: 14 * 86_400,
    encryption: Encryption::SqsManaged,
    depth_alarm: None,
};

impl QueueDef {
    /// Looks a queue up by its logical id.
    pub fn by_logical_id(logical_id: &str) -> Option<&'static QueueDef> {
        ALL.iter().find(|queue| queue.logical_id == logical_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_redrives_end_in_dead_letter_queues() {
        for field in [
            |q: &QueueDef| q.logical_id,
            |q: &QueueDef| q.env_var,
            |q: &QueueDef| q.output,
        ] {
            let mut names: Vec<&str> = ALL.iter().map(field).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), ALL.len());
        }
        for queue in ALL {
            if let Some(redrive) = queue.redrive {
                assert!(redrive.dead_letter.dead_letter, "{}", queue.logical_id);
                assert!(ALL.contains(redrive.dead_letter));
                assert!((1..=1000).contains(&redrive.max_receive_count));
                // A dead letter must outlive the message it was.
                assert!(redrive.dead_letter.retention_secs >= queue.retention_secs);
            }
            assert_eq!(queue.dead_letter, queue.depth_alarm.is_none());
        }
        assert_eq!(QueueDef::by_logical_id("NotifyQueue"), Some(&NOTIFY));
    }
}
