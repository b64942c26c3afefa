//! A DynamoDB stream as a mapping's source: shards read in order from the starting position, records shaped as Lambda
//! delivers them, a checkpoint that only moves past records the function handled, bisection on errors, and records
//! dropped after `MaximumRetryAttempts` or `MaximumRecordAgeInSeconds`, described to the on-failure destination.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::error::DisplayErrorContext;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;

use super::on_failure::{Condition, DiscardedBatch, LastInvocation, OnFailureQueue};
use super::stream_record::lambda_record;
use super::{BatchOutcome, BatchSource, Record};
use crate::events::{Event, EventBus};
use crate::runtime::{Invocation, Outcome};

/// How often a quiet stream is polled (Lambda polls a shard four times a second).
const POLL: Duration = Duration::from_millis(250);
/// How often new shards are looked for.
const DISCOVERY: Duration = Duration::from_secs(10);
/// Pause before a failed batch is retried, so a failing function does not spin.
const RETRY_DELAY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    Latest,
    TrimHorizon,
}

/// The stream side of a mapping's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSpec {
    pub mapping: String,
    pub stream_arn: String,
    pub region: String,
    pub starting_position: StartingPosition,
    pub bisect_on_error: bool,
    /// `None`: retry until the records expire.
    pub max_retries: Option<u32>,
    pub max_record_age: Option<Duration>,
    /// The mapped function's ARN, as the on-failure record names it.
    pub function_arn: String,
    /// `DestinationConfig.OnFailure.Destination`: the SQS queue that is told
    /// which records were discarded; `None`: they are only reported.
    pub on_failure: Option<String>,
}

#[derive(Debug, Default)]
struct Shard {
    iterator: Option<String>,
    /// Read, not yet handled: (record, its creation time in epoch seconds).
    buffer: VecDeque<(Record, i64)>,
    /// When the oldest buffered record arrived (the batching window runs from it).
    waiting_since: Option<Instant>,
    /// Retries of the batch at the head of the buffer.
    attempts: u32,
    /// After a bisection: (batch size, records of the failed batch left).
    bisected: Option<(usize, usize)>,
    /// A failed batch is retried from this moment.
    retry_at: Option<Instant>,
    /// Invocations with the record at the head of the buffer, and the last of them.
    invocations: u32,
    last_invocation: Option<LastInvocation>,
}

/// Reads one table's stream for one mapping.
#[derive(Debug)]
pub struct DynamoDbStream {
    client: Client,
    spec: StreamSpec,
    events: EventBus,
    shards: BTreeMap<String, Shard>,
    discovered: Option<Instant>,
    /// The shard and size of the batch last handed out.
    in_flight: Option<(String, usize)>,
    on_failure: Option<OnFailureQueue>,
}

impl DynamoDbStream {
    /// `sqs` sends to the spec's on-failure destination, if it names one.
    pub fn new(
        client: Client,
        sqs: aws_sdk_sqs::Client,
        spec: StreamSpec,
        events: EventBus,
    ) -> Self {
        let on_failure = spec
            .on_failure
            .clone()
            .map(|arn| OnFailureQueue::new(sqs, arn));
        Self {
            client,
            spec,
            events,
            shards: BTreeMap::new(),
            discovered: None,
            in_flight: None,
            on_failure,
        }
    }

    async fn discover(&mut self) {
        let events = &self.events;
        let described = self
            .client
            .describe_stream()
            .stream_arn(&self.spec.stream_arn)
            .send()
            .await;
        let out = match described {
            Ok(out) => out,
            Err(err) => {
                log(
                    events,
                    &self.spec.mapping,
                    &format!("describe stream: {}", DisplayErrorContext(err)),
                );
                return;
            }
        };
        // Shards open now start where the mapping says; shards that appear later from their start.
        let first = self.discovered.is_none();
        self.discovered = Some(Instant::now());
        let found = out
            .stream_description()
            .map(|d| d.shards())
            .unwrap_or_default();
        for shard in found {
            let Some(id) = shard.shard_id() else { continue };
            if self.shards.contains_key(id) {
                continue;
            }
            let kind = match (first, self.spec.starting_position) {
                (true, StartingPosition::Latest) => ShardIteratorType::Latest,
                _ => ShardIteratorType::TrimHorizon,
            };
            let iterator = self
                .client
                .get_shard_iterator()
                .stream_arn(&self.spec.stream_arn)
                .shard_id(id)
                .shard_iterator_type(kind)
                .send()
                .await;
            match iterator {
                Ok(out) => {
                    self.shards.insert(
                        id.to_owned(),
                        Shard {
                            iterator: out.shard_iterator().map(str::to_owned),
                            ..Shard::default()
                        },
                    );
                }
                Err(err) => log(
                    events,
                    &self.spec.mapping,
                    &format!("open shard {id}: {}", DisplayErrorContext(err)),
                ),
            }
        }
    }

    /// Reads what is new in every shard whose buffer is short of a batch.
    async fn read(&mut self, max: usize) {
        let events = &self.events;
        let region = self.spec.region.clone();
        let arn = self.spec.stream_arn.clone();
        for (id, shard) in &mut self.shards {
            let Some(iterator) = shard.iterator.clone() else {
                continue;
            };
            if shard.buffer.len() >= max {
                continue;
            }
            match self
                .client
                .get_records()
                .shard_iterator(iterator)
                .send()
                .await
            {
                Ok(out) => {
                    for record in out.records() {
                        if let Some(entry) = lambda_record(record, &region, &arn) {
                            shard.buffer.push_back(entry);
                        }
                    }
                    if !shard.buffer.is_empty() && shard.waiting_since.is_none() {
                        shard.waiting_since = Some(Instant::now());
                    }
                    shard.iterator = out.next_shard_iterator().map(str::to_owned);
                }
                Err(err) => log(
                    events,
                    &self.spec.mapping,
                    &format!("read shard {id}: {}", DisplayErrorContext(err)),
                ),
            }
        }
    }

    /// Discards the records older than `MaximumRecordAgeInSeconds` (the oldest come first).
    async fn expire(&mut self) {
        let Some(age) = self.spec.max_record_age else {
            return;
        };
        let oldest = time::OffsetDateTime::now_utc().unix_timestamp() - age.as_secs() as i64;
        let ids: Vec<String> = self.shards.keys().cloned().collect();
        for id in ids {
            let expired = self.shards.get(&id).map_or(0, |shard| {
                shard
                    .buffer
                    .iter()
                    .take_while(|(_, created)| *created < oldest)
                    .count()
            });
            if expired > 0 {
                let reason = format!("older than MaximumRecordAgeInSeconds ({} s)", age.as_secs());
                self.discard(&id, expired, Condition::RecordAgeExceeded, reason)
                    .await;
            }
        }
    }

    /// Drops the first `count` buffered records of shard `id`, reports them,
    /// and describes them to the on-failure destination, as Lambda does.
    async fn discard(&mut self, id: &str, count: usize, condition: Condition, reason: String) {
        let Some(shard) = self.shards.get_mut(id) else {
            return;
        };
        let count = count.min(shard.buffer.len());
        let (Some((first, first_at)), Some((last, last_at))) = (
            shard.buffer.front(),
            shard.buffer.get(count.wrapping_sub(1)),
        ) else {
            return;
        };
        let batch = DiscardedBatch {
            condition,
            function_arn: self.spec.function_arn.clone(),
            stream_arn: self.spec.stream_arn.clone(),
            shard_id: id.to_owned(),
            first: (first.id.clone(), *first_at),
            last: (last.id.clone(), *last_at),
            size: count,
            invocations: shard.invocations,
            last_invocation: shard.last_invocation.take(),
        };
        shard.invocations = 0;
        shard.attempts = 0;
        advance(shard, count);
        let sent_to = match &mut self.on_failure {
            Some(queue) => match queue
                .send(&batch.record(time::OffsetDateTime::now_utc()))
                .await
            {
                Ok(()) => Some(queue.arn().to_owned()),
                Err(problem) => {
                    log(&self.events, &self.spec.mapping, &problem);
                    None
                }
            },
            None => None,
        };
        self.events.send(Event::RecordsDiscarded {
            mapping: self.spec.mapping.clone(),
            count,
            reason,
            sent_to,
        });
    }
}

impl BatchSource for DynamoDbStream {
    async fn next_batch(&mut self, max: usize, window: Duration) -> Vec<Record> {
        loop {
            if self.discovered.is_none_or(|at| at.elapsed() >= DISCOVERY) {
                self.discover().await;
            }
            self.read(max).await;
            self.expire().await;
            for (id, shard) in &mut self.shards {
                if shard.buffer.is_empty() {
                    shard.waiting_since = None;
                    continue;
                }
                if shard.retry_at.is_some_and(|at| at > Instant::now()) {
                    continue;
                }
                let cap = shard.bisected.map_or(max, |(size, _)| size.min(max));
                let waited = shard.waiting_since.is_some_and(|at| at.elapsed() >= window);
                let retrying = shard.attempts > 0 || shard.bisected.is_some();
                if shard.buffer.len() >= cap || waited || retrying {
                    shard.retry_at = None;
                    let batch: Vec<Record> = shard
                        .buffer
                        .iter()
                        .take(cap)
                        .map(|(r, _)| r.clone())
                        .collect();
                    self.in_flight = Some((id.clone(), batch.len()));
                    return batch;
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn settle(&mut self, outcome: &BatchOutcome, invocation: &Invocation) {
        let Some((id, size)) = self.in_flight.take() else {
            return;
        };
        let Some(shard) = self.shards.get_mut(&id) else {
            return;
        };
        shard.invocations += 1;
        shard.last_invocation = Some(LastInvocation {
            request_id: invocation.request_id.clone(),
            function_error: (!matches!(invocation.outcome, Outcome::Response(_)))
                .then(|| "Unhandled".to_owned()),
        });
        let retries_spent = |attempts: u32| self.spec.max_retries.is_some_and(|max| attempts > max);
        let discarded = match outcome {
            BatchOutcome::Succeeded => {
                shard.attempts = 0;
                shard.invocations = 0;
                advance(shard, size);
                None
            }
            BatchOutcome::ItemsFailed(failed) => {
                // The checkpoint moves to the first failed record; the batch is retried from there.
                let first = failed
                    .iter()
                    .filter_map(|f| shard.buffer.iter().take(size).position(|(r, _)| &r.id == f))
                    .min()
                    .unwrap_or(0);
                advance(shard, first);
                shard.attempts += 1;
                retries_spent(shard.attempts)
                    .then(|| (size - first, "MaximumRetryAttempts reached".to_owned()))
            }
            BatchOutcome::Failed(_) if self.spec.bisect_on_error && size > 1 => {
                // Split in two and retry each half; splitting is not a retry.
                let left = shard.bisected.map_or(size, |(_, left)| left.max(size));
                shard.bisected = Some((size.div_ceil(2), left));
                None
            }
            BatchOutcome::Failed(why) => {
                shard.attempts += 1;
                retries_spent(shard.attempts)
                    .then(|| (size, format!("MaximumRetryAttempts reached ({why})")))
            }
        };
        match discarded {
            Some((count, reason)) => {
                self.discard(&id, count, Condition::RetryAttemptsExhausted, reason)
                    .await;
            }
            None if shard.attempts > 0 => shard.retry_at = Some(Instant::now() + RETRY_DELAY),
            None => {}
        }
    }
}

/// Moves the checkpoint past `count` handled (or dropped) records.
fn advance(shard: &mut Shard, count: usize) {
    let count = count.min(shard.buffer.len());
    shard.buffer.drain(..count);
    shard.waiting_since = (!shard.buffer.is_empty()).then(Instant::now);
    if let Some((half, left)) = shard.bisected {
        shard.bisected = (left > count).then(|| (half, left - count));
    }
}

fn log(events: &EventBus, mapping: &str, problem: &str) {
    events.send(Event::SourceError {
        mapping: mapping.to_owned(),
        problem: problem.to_owned(),
    });
}
