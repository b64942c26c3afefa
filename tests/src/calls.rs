//! Records the DynamoDB operations a client sends, with when each started and ended, through the SDK's interceptor hooks, so tests can assert request budgets in calls and sequential round trips.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// The operations sent (`GetItem`, `TransactWriteItems`, …), in the order
/// they started; retries of one operation count once. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct CallLog(Arc<Mutex<Vec<Call>>>);

/// One operation sent: what it was, what it named, and when it ran.
#[derive(Debug, Clone)]
pub struct Call {
    /// `GetItem`, `TransactWriteItems`, … (the part of `X-Amz-Target` after the dot).
    pub operation: String,
    /// The table it named (none for transactions and batches).
    pub table: Option<String>,
    /// The string value of its `Key`'s first attribute, for single-item operations.
    pub key: Option<String>,
    /// When it was serialized, just before its first attempt went out.
    pub started: Instant,
    /// When its last attempt finished (none while it is still in flight).
    pub ended: Option<Instant>,
}

/// Where in the log the operation a `ConfigBag` belongs to was recorded.
#[derive(Debug, Clone, Copy)]
struct Position(usize);

impl Storable for Position {
    type Storer = StoreReplace<Self>;
}

impl CallLog {
    /// A DynamoDB client of `sdk` that records its operations here.
    pub fn dynamodb(&self, sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::config::Builder::from(sdk)
            .interceptor(self.clone())
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    /// An SQS client of `sdk` that records its operations here too (SQS's JSON
    /// protocol names them in `X-Amz-Target` as DynamoDB does).
    pub fn sqs(&self, sdk: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
        let config = aws_sdk_sqs::config::Builder::from(sdk)
            .interceptor(self.clone())
            .build();
        aws_sdk_sqs::Client::from_conf(config)
    }

    /// The operations recorded since the last `take`, and forgets them.
    pub fn take(&self) -> Vec<String> {
        self.take_calls().into_iter().map(|c| c.operation).collect()
    }

    /// The operations of a request's own path since the last take: without
    /// those on `background` (the request-limit counters, synced at most once
    /// a second per counter in parallel with requests, not by them).
    pub fn take_excluding(&self, background: &str) -> Vec<String> {
        self.take_calls()
            .into_iter()
            .filter(|c| c.table.as_deref() != Some(background))
            .map(|c| c.operation)
            .collect()
    }

    /// The calls of a request's own path since the last take, with their
    /// times: every call but the request-limit syncs (the `limits` table's
    /// counters whose subject is `ob_api::limits::SUBJECT_PREFIX`), so a
    /// login's own reservations, on the same table, stay in.
    pub fn take_request_path(&self, limits: &str) -> Vec<Call> {
        let sync = format!("#{}", ob_api::limits::SUBJECT_PREFIX);
        self.take_calls()
            .into_iter()
            .filter(|c| {
                c.table.as_deref() != Some(limits)
                    || !c.key.as_deref().is_some_and(|key| key.contains(&sync))
            })
            .collect()
    }

    /// Every call recorded since the last take, and forgets them.
    pub fn take_calls(&self) -> Vec<Call> {
        self.0
            .lock()
            .map(|mut calls| std::mem::take(&mut *calls))
            .unwrap_or_default()
    }
}

/// The operations of `calls`, in the order they started.
pub fn operations(calls: &[Call]) -> Vec<&str> {
    calls.iter().map(|c| c.operation.as_str()).collect()
}

/// How many sequential round trips `calls` took: the most of them that ran
/// one after another, each starting after the previous one ended. Calls that
/// overlap in time (sent in parallel) count once; a call still in flight
/// never ends, so it counts once and nothing is after it.
pub fn round_trips(calls: &[Call]) -> usize {
    // The largest set of pairwise disjoint intervals: take the one that ends
    // first, then the next that starts after it, and so on.
    let mut by_end: Vec<&Call> = calls.iter().collect();
    by_end.sort_by_key(|c| (c.ended.is_none(), c.ended));
    let mut count = 0;
    let mut free_from: Option<Instant> = None;
    for call in by_end {
        if free_from.is_none_or(|at| call.started >= at) {
            count += 1;
            match call.ended {
                Some(ended) => free_from = Some(ended),
                None => break,
            }
        }
    }
    count
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "CallLog"
    }

    /// Once per operation (not per retry): the operation is the part of
    /// DynamoDB's `X-Amz-Target` header after the dot (`DynamoDB_20120810.GetItem`).
    fn read_after_serialization(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|target| target.rsplit('.').next())
            .unwrap_or("unknown")
            .to_owned();
        let body = context
            .request()
            .body()
            .bytes()
            .and_then(|body| serde_json::from_slice::<serde_json::Value>(body).ok());
        let table = body
            .as_ref()
            .and_then(|body| body["TableName"].as_str().map(str::to_owned));
        let key = body.as_ref().and_then(|body| {
            let key = body["Key"].as_object()?;
            key.values()
                .find_map(|value| value["S"].as_str().map(str::to_owned))
        });
        if let Ok(mut calls) = self.0.lock() {
            cfg.interceptor_state().store_put(Position(calls.len()));
            calls.push(Call {
                operation,
                table,
                key,
                started: Instant::now(),
                ended: None,
            });
        }
        Ok(())
    }

    /// Once per operation, after its last attempt (answered or failed).
    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let ended = Instant::now();
        if let (Some(Position(at)), Ok(mut calls)) = (cfg.load::<Position>(), self.0.lock()) {
            // A take in between emptied the log: the call is no longer there.
            if let Some(call) = calls.get_mut(*at).filter(|c| c.ended.is_none()) {
                call.ended = Some(ended);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Calls that ran over these spans (milliseconds after one instant).
    fn calls(spans: &[(u64, u64)]) -> Vec<Call> {
        let zero = Instant::now();
        spans
            .iter()
            .map(|&(started, ended)| Call {
                operation: format!("{started}-{ended}"),
                table: None,
                key: None,
                started: zero + Duration::from_millis(started),
                ended: Some(zero + Duration::from_millis(ended)),
            })
            .collect()
    }

    #[test]
    fn parallel_calls_are_one_round_trip_and_a_chain_is_as_long_as_it_is() {
        assert_eq!(round_trips(&[]), 0);
        assert_eq!(round_trips(&calls(&[(0, 5), (1, 6), (2, 4)])), 1);
        assert_eq!(round_trips(&calls(&[(0, 5), (5, 9), (9, 12)])), 3);
        // A long call beside a chain of two hides neither of the two.
        assert_eq!(round_trips(&calls(&[(0, 8), (0, 4), (4, 9)])), 2);
        // Two parallel bursts one after the other.
        assert_eq!(round_trips(&calls(&[(0, 3), (0, 4), (5, 7), (5, 6)])), 2);
        // A call still in flight ends nothing after it.
        let mut open = calls(&[(0, 3), (4, 6)]);
        open[0].ended = None;
        assert_eq!(round_trips(&open), 1);
    }
}
