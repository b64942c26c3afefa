//! Follows the data table's DynamoDB stream (the emulator's, for `obctl dev`) and feeds the shared fan-out, as the Lambda event source mapping does deployed.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue as Ddb;
use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::error::DisplayErrorContext;
use aws_sdk_dynamodbstreams::types::{AttributeValue as Streams, OperationType, ShardIteratorType};
use ob_core::attr::Item;
use ob_core::realtime::{ChangeKind, StreamChange};

use super::LocalRealtime;

/// Pause between polls of a quiet stream.
const IDLE: Duration = Duration::from_millis(200);
/// How often new shards are looked for: shards roll over every few hours, so
/// polling records must not pay a DescribeStream each time.
const DISCOVERY: Duration = Duration::from_secs(10);

/// A reader of one table's stream, positioned at its end when created.
#[derive(Debug)]
pub struct StreamFollower {
    client: Client,
    stream_arn: String,
    shards: BTreeMap<String, Shard>,
}

impl StreamFollower {
    /// The latest stream of `table`, or an error naming the table.
    pub async fn for_table(
        dynamodb: &aws_sdk_dynamodb::Client,
        client: Client,
        table: &str,
    ) -> Result<Self, String> {
        let out = dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "describe table {table}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(e)
                )
            })?;
        let stream_arn = out
            .table()
            .and_then(|t| t.latest_stream_arn())
            .ok_or_else(|| {
                format!("table {table} has no stream; realtime needs NEW_AND_OLD_IMAGES")
            })?
            .to_owned();
        let mut follower = Self {
            client,
            stream_arn,
            shards: BTreeMap::new(),
        };
        // Positioned now, so every change after this call is delivered.
        let mut shards = BTreeMap::new();
        discover(&follower, &mut shards, true).await?;
        follower.shards = shards;
        Ok(follower)
    }
}

/// Where one shard is read next.
#[derive(Debug)]
struct Shard {
    iterator: Option<String>,
}

/// Reads the stream until the task is dropped. Shards open when the follower
/// was created are read from that moment (like `StartingPosition: LATEST`),
/// shards that appear later from their start.
pub async fn follow(mut follower: StreamFollower, realtime: LocalRealtime) {
    let mut shards = std::mem::take(&mut follower.shards);
    let mut discovered = tokio::time::Instant::now();
    loop {
        if discovered.elapsed() >= DISCOVERY {
            match discover(&follower, &mut shards, false).await {
                Ok(()) => discovered = tokio::time::Instant::now(),
                Err(err) => {
                    eprintln!("realtime: {err}");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    continue;
                }
            }
        }
        let mut busy = false;
        for (shard_id, shard) in &mut shards {
            busy |= poll(&follower, &realtime, shard_id, shard).await;
        }
        if !busy {
            tokio::time::sleep(IDLE).await;
        }
    }
}

async fn discover(
    follower: &StreamFollower,
    shards: &mut BTreeMap<String, Shard>,
    at_end: bool,
) -> Result<(), String> {
    let out = follower
        .client
        .describe_stream()
        .stream_arn(&follower.stream_arn)
        .send()
        .await
        .map_err(|e| format!("describe stream: {}", DisplayErrorContext(e)))?;
    let found = out
        .stream_description()
        .map(|d| d.shards())
        .unwrap_or_default();
    for shard in found {
        let Some(id) = shard.shard_id() else { continue };
        if shards.contains_key(id) {
            continue;
        }
        let kind = if at_end {
            ShardIteratorType::Latest
        } else {
            ShardIteratorType::TrimHorizon
        };
        let iterator = follower
            .client
            .get_shard_iterator()
            .stream_arn(&follower.stream_arn)
            .shard_id(id)
            .shard_iterator_type(kind)
            .send()
            .await
            .map_err(|e| format!("open shard {id}: {}", DisplayErrorContext(e)))?
            .shard_iterator()
            .map(str::to_owned);
        shards.insert(id.to_owned(), Shard { iterator });
    }
    Ok(())
}

/// Reads one page of a shard and fans it out; returns whether it had records.
async fn poll(
    follower: &StreamFollower,
    realtime: &LocalRealtime,
    id: &str,
    shard: &mut Shard,
) -> bool {
    let Some(iterator) = shard.iterator.clone() else {
        return false;
    };
    let out = match follower
        .client
        .get_records()
        .shard_iterator(iterator)
        .send()
        .await
    {
        Ok(out) => out,
        Err(err) => {
            eprintln!("realtime: read shard {id}: {}", DisplayErrorContext(err));
            return false;
        }
    };
    let changes: Vec<StreamChange> = out.records().iter().filter_map(change).collect();
    if !changes.is_empty() {
        let report = realtime.fan_out(&changes).await;
        if !report.failed.is_empty() {
            // Deployed, Lambda retries a failed batch; locally the change is reported and dropped.
            eprintln!(
                "realtime: {} change(s) could not be delivered",
                report.failed.len()
            );
        }
    }
    shard.iterator = out.next_shard_iterator().map(str::to_owned);
    !out.records().is_empty()
}

fn change(record: &aws_sdk_dynamodbstreams::types::Record) -> Option<StreamChange> {
    let kind = match record.event_name()? {
        OperationType::Insert => ChangeKind::Insert,
        OperationType::Modify => ChangeKind::Modify,
        OperationType::Remove => ChangeKind::Remove,
        _ => return None,
    };
    let body = record.dynamodb()?;
    Some(StreamChange {
        sequence: body.sequence_number()?.to_owned(),
        kind,
        old: body.old_image().map(item),
        new: body.new_image().map(item),
        created_at_ms: body
            .approximate_creation_date_time()
            .and_then(|t| u64::try_from(t.to_millis().ok()?).ok()),
    })
}

fn item(image: &HashMap<String, Streams>) -> Item {
    image
        .iter()
        .filter_map(|(k, v)| attribute(v).map(|a| (k.clone(), a)))
        .collect()
}

/// The streams API has its own `AttributeValue` type; the fan-out reads the table's.
fn attribute(value: &Streams) -> Option<Ddb> {
    Some(match value {
        Streams::S(s) => Ddb::S(s.clone()),
        Streams::N(n) => Ddb::N(n.clone()),
        Streams::Bool(b) => Ddb::Bool(*b),
        Streams::Null(n) => Ddb::Null(*n),
        Streams::B(b) => Ddb::B(aws_sdk_dynamodb::primitives::Blob::new(b.as_ref().to_vec())),
        Streams::Ss(v) => Ddb::Ss(v.clone()),
        Streams::Ns(v) => Ddb::Ns(v.clone()),
        Streams::Bs(v) => Ddb::Bs(
            v.iter()
                .map(|b| aws_sdk_dynamodb::primitives::Blob::new(b.as_ref().to_vec()))
                .collect(),
        ),
        Streams::L(v) => Ddb::L(v.iter().map(attribute).collect::<Option<_>>()?),
        Streams::M(m) => Ddb::M(item(m)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_attributes_convert_to_table_attributes() {
        let nested = Streams::M(
            [
                (
                    "l".to_owned(),
                    Streams::L(vec![Streams::S("a".into()), Streams::N("1".into())]),
                ),
                ("b".to_owned(), Streams::Bool(true)),
            ]
            .into(),
        );
        let expected = Ddb::M(
            [
                (
                    "l".to_owned(),
                    Ddb::L(vec![Ddb::S("a".into()), Ddb::N("1".into())]),
                ),
                ("b".to_owned(), Ddb::Bool(true)),
            ]
            .into(),
        );
        assert_eq!(attribute(&nested), Some(expected));
        assert_eq!(
            attribute(&Streams::Ss(vec!["x".into()])),
            Some(Ddb::Ss(vec!["x".into()]))
        );
    }
}
