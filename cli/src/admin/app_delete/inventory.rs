//! What an app still has, per store: the "data" that makes `apps delete` refuse
//! without `--force`, counted by Query (never a Scan, except connections).

use ob_core::tables::{CONFIG, DATA, FILES, USERS, WEBHOOKS};
use ob_core::{attr, keys};
use serde::Serialize;

use super::dynamo::{Count, Partition};
use super::{Locations, bucket, connections};
use crate::admin::AdminContext;
use crate::aws::aws_error;
use crate::error::{CliError, Result};

/// How much of one kind of thing exists (or was deleted, or is left) in one store.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tally {
    /// `users`, `apiKeys`, `sessions`, `config`, `records`, `indexEntries`,
    /// `resources`, `files`, `objects`, `connections`, `webhooks` or `audit`.
    pub store: &'static str,
    /// The physical table, or `s3://bucket/prefix`.
    pub location: String,
    pub count: u64,
    /// The count is a lower bound: counting stopped early because it would be expensive.
    pub at_least: bool,
    /// Why something is left, or what the count covers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Tally {
    pub fn new(store: &'static str, location: &str, count: Count) -> Self {
        Self {
            store,
            location: location.to_owned(),
            count: count.count,
            at_least: count.at_least,
            note: None,
        }
    }

    pub fn exact(store: &'static str, location: &str, count: u64) -> Self {
        Self::new(
            store,
            location,
            Count {
                count,
                at_least: false,
            },
        )
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// `3`, or `at least 1000`.
    pub fn amount(&self) -> String {
        if self.at_least {
            format!("at least {}", self.count)
        } else {
            self.count.to_string()
        }
    }
}

/// Every store's count of the app's data; stores with nothing are left out.
pub async fn take(ctx: &AdminContext, loc: &Locations, app_id: &str) -> Result<Vec<Tally>> {
    let client = &ctx.store.client;
    let tables = &ctx.store.tables;
    let mut found = Vec::new();

    let users = Partition::new(&tables.users, USERS.partition_key, keys::users_pk(app_id))
        .sk_prefix(sort_key(&USERS), keys::user_sk(""));
    found.push(Tally::new(
        "users",
        &tables.users,
        users.count(client).await?,
    ));

    // Only active keys count as data: revoked and expired ones no longer let
    // anyone in (they are deleted with the app all the same).
    let now = ob_core::clock::now_epoch();
    let active = ob_core::api_keys::list(&ctx.store, app_id)
        .await
        .map_err(|e| ctx.core_error("list the app's keys", app_id, e))?
        .iter()
        .filter(|k| k.is_usable(now))
        .count();
    found.push(Tally::exact("apiKeys", &tables.api_keys, active as u64).note("active keys"));

    found.push(Tally::exact(
        "config",
        &tables.config,
        u64::from(config_exists(ctx, app_id).await?),
    ));

    let (records, resources) = records(ctx, app_id).await?;
    let mut tally = Tally::new("records", &tables.data, records);
    if !resources.is_empty() {
        tally = tally.note(format!("resources: {}", resources.join(", ")));
    }
    found.push(tally);

    let files = Partition::new(&loc.files_table, FILES.partition_key, files_pk(app_id));
    found.push(Tally::new(
        "files",
        &loc.files_table,
        files.count(client).await?,
    ));

    let objects = bucket::count(&ctx.aws.s3(), &loc.bucket, &bucket::prefix(app_id)).await?;
    found.push(Tally::new(
        "objects",
        &bucket::location(&loc.bucket, app_id),
        objects,
    ));

    let connections = connections::count(client, &loc.connections_table, app_id).await?;
    found.push(
        Tally::new("connections", &loc.connections_table, connections)
            .note("WebSocket connections subscribed to the app's channels"),
    );

    if !tables.webhooks.is_empty() {
        let webhooks = Partition::new(
            &tables.webhooks,
            WEBHOOKS.partition_key,
            ob_core::webhooks::store::partition(app_id),
        )
        .sk_prefix(
            sort_key(&WEBHOOKS),
            ob_core::webhooks::store::SUBSCRIPTION_PREFIX.to_owned(),
        );
        found.push(
            Tally::new("webhooks", &tables.webhooks, webhooks.count(client).await?)
                .note("webhook subscriptions"),
        );
    }

    found.retain(|t| t.count > 0);
    Ok(found)
}

pub use ob_core::keys::files_pk;

pub fn sort_key(table: &ob_core::tables::TableDef) -> &'static str {
    table.sort_key.unwrap_or("sk")
}

async fn config_exists(ctx: &AdminContext, app_id: &str) -> Result<bool> {
    let out = ctx
        .store
        .client
        .get_item()
        .table_name(&ctx.store.tables.config)
        .key(CONFIG.partition_key, attr::s(app_id))
        .projection_expression("#id")
        .expression_attribute_names("#id", CONFIG.partition_key)
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| aws_error("read the app's config", &e))?;
    Ok(out.item.is_some())
}

/// The resources in the app's registry (`RS#{appId}`), in order.
pub async fn resources(ctx: &AdminContext, app_id: &str) -> Result<Vec<String>> {
    let registry = Partition::new(
        &ctx.store.tables.data,
        DATA.partition_key,
        keys::resources_pk(app_id),
    );
    let sk = sort_key(&DATA);
    let items = registry.all(&ctx.store.client, &[sk]).await?;
    items
        .iter()
        .map(|i| {
            attr::opt_s(i, sk).ok_or_else(|| {
                CliError::new(format!(
                    "a registry item of app {app_id} in {} has no {sk}",
                    ctx.store.tables.data
                ))
            })
        })
        .collect()
}

/// Records across every registered resource, and the resources holding any.
async fn records(ctx: &AdminContext, app_id: &str) -> Result<(Count, Vec<String>)> {
    let mut total = Count::default();
    let mut used = Vec::new();
    for resource in resources(ctx, app_id).await? {
        let part = Partition::new(
            &ctx.store.tables.data,
            DATA.partition_key,
            keys::records_pk(app_id, &resource),
        );
        let count = part.count(&ctx.store.client).await?;
        if count.count > 0 {
            used.push(resource);
        }
        total.count += count.count;
        total.at_least |= count.at_least;
    }
    Ok((total, used))
}
