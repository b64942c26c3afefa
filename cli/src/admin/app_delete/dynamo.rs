//! DynamoDB building blocks of `apps delete`: page through one partition,
//! count it, and delete items by key in batches.
//!
//! Every partition here is named by a key built from the app id (see
//! `ob_core::keys`), so these helpers can only ever reach that app's items.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{DeleteRequest, Select, WriteRequest};
use ob_core::attr::{self, Item};

use crate::aws::aws_error;
use crate::error::{CliError, Result};

/// How many pages a count reads before it settles for "at least N".
pub const MAX_COUNT_PAGES: usize = 10;
/// DynamoDB's limit of requests per BatchWriteItem.
const BATCH: usize = 25;
/// How often unprocessed deletes are retried (with growing pauses) before giving up.
const MAX_RETRIES: u32 = 8;

/// A number of items, exact or a lower bound (counting stopped early).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    pub count: u64,
    pub at_least: bool,
}

/// One partition of a table or index: `pk_attr = pk`, optionally `begins_with(sk_attr, prefix)`.
#[derive(Debug, Clone)]
pub struct Partition<'a> {
    pub table: &'a str,
    pub index: Option<&'a str>,
    pub pk_attr: &'a str,
    pub pk: String,
    pub sk_prefix: Option<(&'a str, String)>,
}

impl<'a> Partition<'a> {
    pub fn new(table: &'a str, pk_attr: &'a str, pk: String) -> Self {
        Self {
            table,
            index: None,
            pk_attr,
            pk,
            sk_prefix: None,
        }
    }

    pub fn index(mut self, name: &'a str) -> Self {
        self.index = Some(name);
        self
    }

    pub fn sk_prefix(mut self, sk_attr: &'a str, prefix: String) -> Self {
        self.sk_prefix = Some((sk_attr, prefix));
        self
    }

    fn query(
        &self,
        client: &Client,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        let mut q = client
            .query()
            .table_name(self.table)
            .set_index_name(self.index.map(str::to_owned))
            // Indexes cannot be read consistently; the table itself is.
            .consistent_read(self.index.is_none())
            .expression_attribute_names("#pk", self.pk_attr)
            .expression_attribute_values(":pk", attr::s(&self.pk));
        q = match &self.sk_prefix {
            None => q.key_condition_expression("#pk = :pk"),
            Some((sk_attr, prefix)) => q
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#sk", *sk_attr)
                .expression_attribute_values(":prefix", attr::s(prefix)),
        };
        q
    }

    /// Counts the partition's items, reading at most [`MAX_COUNT_PAGES`] pages.
    pub async fn count(&self, client: &Client) -> Result<Count> {
        let mut total = Count::default();
        let mut start = None;
        for _ in 0..MAX_COUNT_PAGES {
            let out = self
                .query(client)
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| aws_error(&format!("count items in {}", self.table), &e))?;
            total.count += u64::try_from(out.count).unwrap_or(0);
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(total);
            }
        }
        total.at_least = true;
        Ok(total)
    }

    /// One page of the partition's items with only `attrs`, and where to continue.
    pub async fn page(
        &self,
        client: &Client,
        attrs: &[&str],
        start: Option<Item>,
    ) -> Result<(Vec<Item>, Option<Item>)> {
        let mut q = self.query(client).set_exclusive_start_key(start);
        let mut names = Vec::new();
        for (i, name) in attrs.iter().enumerate() {
            let alias = format!("#a{i}");
            q = q.expression_attribute_names(&alias, *name);
            names.push(alias);
        }
        if !names.is_empty() {
            q = q.projection_expression(names.join(", "));
        }
        let out = q
            .send()
            .await
            .map_err(|e| aws_error(&format!("read items of {}", self.table), &e))?;
        Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
    }

    /// Every item of the partition with only `attrs` (for small partitions).
    pub async fn all(&self, client: &Client, attrs: &[&str]) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let (page, next) = self.page(client, attrs, start).await?;
            items.extend(page);
            start = next;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// Deletes every item of the partition (a table partition, not an index),
    /// page by page; returns how many were deleted.
    pub async fn delete_all(&self, client: &Client, key_attrs: &[&str]) -> Result<u64> {
        let mut deleted = 0;
        loop {
            // Deleted items drop out of the partition, so each round starts over.
            let (page, _) = self.page(client, key_attrs, None).await?;
            if page.is_empty() {
                return Ok(deleted);
            }
            let keys: Vec<Item> = page.into_iter().map(|i| key_of(&i, key_attrs)).collect();
            deleted += delete_keys(client, self.table, keys).await?;
        }
    }
}

/// Only the named attributes of an item (its key).
pub fn key_of(item: &Item, key_attrs: &[&str]) -> Item {
    key_attrs
        .iter()
        .filter_map(|a| item.get(*a).map(|v| ((*a).to_owned(), v.clone())))
        .collect()
}

/// Deletes items by key, 25 per BatchWriteItem, retrying what DynamoDB left
/// unprocessed (throttling). Deleting a missing item succeeds, which is what
/// makes `apps delete` resumable.
pub async fn delete_keys(client: &Client, table: &str, keys: Vec<Item>) -> Result<u64> {
    let total = keys.len() as u64;
    for chunk in keys.chunks(BATCH) {
        let mut requests = chunk
            .iter()
            .map(|key| {
                let delete = DeleteRequest::builder()
                    .set_key(Some(key.clone()))
                    .build()
                    .map_err(|e| CliError::new(format!("could not build a delete request: {e}")))?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<Result<Vec<_>>>()?;
        let mut attempt = 0;
        while !requests.is_empty() {
            let out = client
                .batch_write_item()
                .request_items(table, requests)
                .send()
                .await
                .map_err(|e| aws_error(&format!("delete items from {table}"), &e))?;
            requests = out
                .unprocessed_items
                .and_then(|mut left| left.remove(table))
                .unwrap_or_default();
            if requests.is_empty() {
                break;
            }
            attempt += 1;
            if attempt > MAX_RETRIES {
                return Err(CliError::new(format!(
                    "could not delete items from {table}: DynamoDB kept them unprocessed (throttled)"
                ))
                .fix("run the same `obctl apps delete` again: it continues where it stopped"));
            }
            tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
        }
    }
    Ok(total)
}
