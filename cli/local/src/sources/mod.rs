//! Event source mappings: a source's records delivered to a function in batches, as Lambda's pollers deliver them,
//! and each batch settled by the function's answer.
//!
//! The runner here is the same for every source: it asks the source for a
//! batch (the source applies `BatchSize` and the batching window), invokes the
//! function with `{"Records": [...]}`, and turns the answer into an outcome
//! (`ReportBatchItemFailures` included). What an outcome means is the
//! source's: a stream checkpoints and retries from the first failed record, a
//! queue deletes the messages that succeeded and lets the rest reappear after
//! their visibility timeout.

pub mod dynamodb_stream;
pub mod on_failure;
pub mod sqs_queue;
mod stream_record;

use std::future::Future;
use std::time::Duration;

use serde_json::{Value, json};

use crate::events::{Event, InvocationReport};
use crate::runtime::{Invocation, Outcome, Runtime};

/// One mapping as the template declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingSpec {
    /// The mapping's logical id.
    pub name: String,
    pub function: String,
    pub batch_size: usize,
    /// `MaximumBatchingWindowInSeconds`.
    pub batching_window: Duration,
    /// `FunctionResponseTypes: [ReportBatchItemFailures]`.
    pub report_batch_item_failures: bool,
}

/// One record as the function receives it, with its `itemIdentifier`
/// (a stream's `SequenceNumber`, a queue's `messageId`).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: String,
    pub json: Value,
}

/// What the function made of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOutcome {
    Succeeded,
    /// The identifiers it reported in `batchItemFailures`, in batch order.
    ItemsFailed(Vec<String>),
    /// It failed as a whole (error, crash, timeout, or an unusable answer).
    Failed(String),
}

/// Where a mapping's records come from and what becomes of them.
pub trait BatchSource: Send + 'static {
    /// The next batch: at most `max` records, waiting for the first one, then
    /// at most `window` for more.
    fn next_batch(
        &mut self,
        max: usize,
        window: Duration,
    ) -> impl Future<Output = Vec<Record>> + Send;

    /// Applies the function's answer to the batch `next_batch` returned last
    /// (`invocation` is how the function was run: its request id, its outcome).
    fn settle(
        &mut self,
        outcome: &BatchOutcome,
        invocation: &Invocation,
    ) -> impl Future<Output = ()> + Send;
}

/// Runs a mapping until the task is dropped.
pub fn start<S: BatchSource>(
    spec: MappingSpec,
    mut source: S,
    runtime: Runtime,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let batch = source
                .next_batch(spec.batch_size, spec.batching_window)
                .await;
            if batch.is_empty() {
                continue;
            }
            let ids: Vec<String> = batch.iter().map(|r| r.id.clone()).collect();
            let records: Vec<&Value> = batch.iter().map(|r| &r.json).collect();
            let payload = json!({ "Records": records }).to_string().into_bytes();
            let invocation = runtime.invoke(&spec.function, payload).await;
            let outcome = classify(&invocation.outcome, spec.report_batch_item_failures, &ids);
            let result = match &outcome {
                BatchOutcome::Succeeded => "ok".to_owned(),
                BatchOutcome::ItemsFailed(failed) => {
                    format!("{} of {} failed", failed.len(), ids.len())
                }
                BatchOutcome::Failed(why) => format!("failed ({why})"),
            };
            runtime.events().send(Event::Invoked(InvocationReport {
                function: spec.function.clone(),
                trigger: format!(
                    "{} {} record{}",
                    spec.name,
                    ids.len(),
                    if ids.len() == 1 { "" } else { "s" }
                ),
                result,
                request_id: invocation.request_id.clone(),
                duration: invocation.duration,
                init: invocation.init,
            }));
            source.settle(&outcome, &invocation).await;
        }
    })
}

/// Reads a batch answer the way Lambda does: with `ReportBatchItemFailures`,
/// an empty or missing `batchItemFailures` is success, and an identifier that
/// is empty or not in the batch fails the whole batch.
pub fn classify(outcome: &Outcome, report_item_failures: bool, ids: &[String]) -> BatchOutcome {
    let payload = match outcome {
        Outcome::Response(payload) => payload,
        Outcome::FunctionError { error_type, .. } => {
            return BatchOutcome::Failed(error_type.clone());
        }
        Outcome::Failed(failure) => return BatchOutcome::Failed(failure.error_type().to_owned()),
    };
    if !report_item_failures {
        return BatchOutcome::Succeeded;
    }
    let answer: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    let failures = match &answer["batchItemFailures"] {
        Value::Null => return BatchOutcome::Succeeded,
        Value::Array(items) => items,
        _ => return BatchOutcome::Failed("batchItemFailures is not a list".into()),
    };
    let mut failed = Vec::new();
    for item in failures {
        match item["itemIdentifier"].as_str() {
            Some(id) if ids.iter().any(|known| known == id) => failed.push(id.to_owned()),
            _ => return BatchOutcome::Failed("invalid itemIdentifier in batchItemFailures".into()),
        }
    }
    if failed.is_empty() {
        return BatchOutcome::Succeeded;
    }
    failed.sort_by_key(|id| ids.iter().position(|known| known == id));
    failed.dedup();
    BatchOutcome::ItemsFailed(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Failure;

    fn ids() -> Vec<String> {
        ["1", "2", "3"].map(String::from).to_vec()
    }

    #[test]
    fn answers_become_outcomes_as_lambda_reads_them() {
        let respond = |body: &str| Outcome::Response(body.as_bytes().to_vec());
        assert_eq!(
            classify(&respond("null"), true, &ids()),
            BatchOutcome::Succeeded
        );
        assert_eq!(
            classify(&respond(r#"{"batchItemFailures":[]}"#), true, &ids()),
            BatchOutcome::Succeeded
        );
        assert_eq!(
            classify(
                &respond(
                    r#"{"batchItemFailures":[{"itemIdentifier":"3"},{"itemIdentifier":"2"}]}"#
                ),
                true,
                &ids()
            ),
            BatchOutcome::ItemsFailed(vec!["2".into(), "3".into()])
        );
        assert!(matches!(
            classify(
                &respond(r#"{"batchItemFailures":[{"itemIdentifier":"9"}]}"#),
                true,
                &ids()
            ),
            BatchOutcome::Failed(_)
        ));
        assert_eq!(
            classify(
                &respond(r#"{"batchItemFailures":[{"itemIdentifier":"9"}]}"#),
                false,
                &ids()
            ),
            BatchOutcome::Succeeded,
            "without ReportBatchItemFailures the answer is not read"
        );
        let crashed = Outcome::Failed(Failure::Exited {
            status: "signal: 6".into(),
            stderr: vec![],
        });
        assert_eq!(
            classify(&crashed, true, &ids()),
            BatchOutcome::Failed("Runtime.ExitError".into())
        );
    }
}
