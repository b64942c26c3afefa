//! The app's WebSocket subscriptions: `pk=CH#{appId}#{channel}`, `sk={connectionId}`.
//!
//! The one Scan of `apps delete`, and why: channels are named by the app's
//! clients, so unlike records there is no per-app partition to Query, and the
//! connections table only holds live connections (everything in it expires by
//! TTL within hours), so it stays small. The filter is on the app-id-built
//! prefix `CH#{appId}#`, so only this app's subscription items are returned.
//! The open connections themselves (`C#{connectionId}`) are closed and removed
//! before the purge, found through the `byApp` index (`super::super::hangup`);
//! this sweeps subscription items that index cannot reach (connections recorded
//! before it, or left by a lost `$disconnect`).

use std::collections::BTreeSet;

use aws_sdk_dynamodb::Client;
use ob_core::attr::{self, Item};
use ob_core::tables::CONNECTIONS;

use super::dynamo::{Count, MAX_COUNT_PAGES, delete_keys, key_of};
use crate::aws::aws_error;
use crate::error::Result;

/// `CONNECTIONS.pk` prefix of one app's channel subscriptions: `CH#{appId}#`.
fn channels_prefix(app_id: &str) -> String {
    ob_core::keys::channel_pk(app_id, "")
}

fn key_attrs() -> [&'static str; 2] {
    [
        CONNECTIONS.partition_key,
        CONNECTIONS.sort_key.unwrap_or("sk"),
    ]
}

/// One page of the app's subscription items (keys only).
async fn page(
    client: &Client,
    table: &str,
    app_id: &str,
    start: Option<Item>,
) -> Result<(Vec<Item>, Option<Item>)> {
    let [pk, sk] = key_attrs();
    let out = client
        .scan()
        .table_name(table)
        .filter_expression("begins_with(#pk, :prefix)")
        .projection_expression("#pk, #sk")
        .expression_attribute_names("#pk", pk)
        .expression_attribute_names("#sk", sk)
        .expression_attribute_values(":prefix", attr::s(channels_prefix(app_id)))
        .set_exclusive_start_key(start)
        .send()
        .await
        .map_err(|e| aws_error(&format!("look for the app's connections in {table}"), &e))?;
    Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
}

/// Distinct connections subscribed to the app's channels.
pub async fn count(client: &Client, table: &str, app_id: &str) -> Result<Count> {
    let sk = key_attrs()[1];
    let mut ids = BTreeSet::new();
    let mut start = None;
    for _ in 0..MAX_COUNT_PAGES {
        let (items, next) = page(client, table, app_id, start).await?;
        ids.extend(items.iter().filter_map(|i| attr::opt_s(i, sk)));
        start = next;
        if start.is_none() {
            return Ok(Count {
                count: ids.len() as u64,
                at_least: false,
            });
        }
    }
    Ok(Count {
        count: ids.len() as u64,
        at_least: true,
    })
}

/// Deletes every subscription item of the app; returns how many.
pub async fn delete_all(client: &Client, table: &str, app_id: &str) -> Result<u64> {
    let attrs = key_attrs();
    let mut found = Vec::new();
    let mut start = None;
    loop {
        let (items, next) = page(client, table, app_id, start).await?;
        found.extend(items.iter().map(|i| key_of(i, &attrs)));
        start = next;
        if start.is_none() {
            break;
        }
    }
    delete_keys(client, table, found).await
}
