//! Deletes everything an app owns, store by store, each step idempotent: a run
//! that stopped half-way is finished by the next one.
//!
//! Order matters for that: keys go first (nothing new gets in), sessions are
//! found through the users before the users go, and a resource's registry entry
//! goes only after its records and their index entries.

use ob_core::attr::{self, Item};
use ob_core::keys;
use ob_core::tables::{API_KEYS, CONFIG, DATA, FILES, SESSIONS, SESSIONS_BY_USER, USERS, WEBHOOKS};

use super::dynamo::{Partition, delete_keys, key_of};
use super::inventory::{self, Tally, files_pk, sort_key};
use super::{Locations, bucket, connections};
use crate::admin::AdminContext;
use crate::aws::aws_error;
use crate::error::Result;

/// Deletes the app's data (not the app record, not the audit log); returns what went.
pub async fn run(ctx: &AdminContext, loc: &Locations, app_id: &str) -> Result<Vec<Tally>> {
    let client = &ctx.store.client;
    let tables = &ctx.store.tables;
    let mut deleted = Vec::new();

    let api_keys = Partition::new(&tables.api_keys, API_KEYS.partition_key, app_id.to_owned());
    let n = api_keys
        .delete_all(client, &[API_KEYS.partition_key, sort_key(&API_KEYS)])
        .await?;
    deleted.push(Tally::exact("apiKeys", &tables.api_keys, n).note("keys of any state"));

    let n = sessions(ctx, app_id).await?;
    deleted.push(Tally::exact("sessions", &tables.sessions, n).note("session families"));

    let users = Partition::new(&tables.users, USERS.partition_key, keys::users_pk(app_id));
    let n = users
        .delete_all(client, &[USERS.partition_key, sort_key(&USERS)])
        .await?;
    deleted.push(Tally::exact("users", &tables.users, n).note("users and their e-mail guards"));

    let existed = client
        .delete_item()
        .table_name(&tables.config)
        .key(CONFIG.partition_key, attr::s(app_id))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
        .send()
        .await
        .map_err(|e| aws_error("delete the app's config", &e))?
        .attributes
        .is_some();
    deleted.push(Tally::exact("config", &tables.config, u64::from(existed)));

    let (records, index_entries, resources) = records(ctx, app_id).await?;
    deleted.push(Tally::exact("records", &tables.data, records));
    deleted.push(Tally::exact("indexEntries", &tables.data, index_entries));
    deleted
        .push(Tally::exact("resources", &tables.data, resources).note("resource registry entries"));

    let files = Partition::new(&loc.files_table, FILES.partition_key, files_pk(app_id));
    let n = files
        .delete_all(client, &[FILES.partition_key, sort_key(&FILES)])
        .await?;
    deleted.push(Tally::exact("files", &loc.files_table, n).note("file metadata"));

    let n = bucket::delete_all(&ctx.aws.s3(), &loc.bucket, &bucket::prefix(app_id)).await?;
    deleted.push(Tally::exact(
        "objects",
        &bucket::location(&loc.bucket, app_id),
        n,
    ));

    let n = connections::delete_all(client, &loc.connections_table, app_id).await?;
    deleted
        .push(Tally::exact("connections", &loc.connections_table, n).note("channel subscriptions"));

    // Subscriptions and their delivery log share the app's partition. A stack
    // deployed before webhooks existed has no such table: nothing to delete.
    if !tables.webhooks.is_empty() {
        let webhooks = Partition::new(
            &tables.webhooks,
            WEBHOOKS.partition_key,
            ob_core::webhooks::store::partition(app_id),
        );
        let n = webhooks
            .delete_all(client, &[WEBHOOKS.partition_key, sort_key(&WEBHOOKS)])
            .await?;
        deleted.push(
            Tally::exact("webhooks", &tables.webhooks, n)
                .note("webhook subscriptions and delivery log entries"),
        );
    }

    deleted.retain(|t| t.count > 0);
    Ok(deleted)
}

/// Deletes the session families of every user of the app, found per user on the
/// `byUser` index (`{appId}#{userId}`). Refresh-token items point at a family
/// and stop working without it; they expire by TTL.
async fn sessions(ctx: &AdminContext, app_id: &str) -> Result<u64> {
    let client = &ctx.store.client;
    let tables = &ctx.store.tables;
    let users_sk = sort_key(&USERS);
    let users = Partition::new(&tables.users, USERS.partition_key, keys::users_pk(app_id))
        .sk_prefix(users_sk, keys::user_sk(""));
    let mut deleted = 0;
    for user in users.all(client, &[users_sk]).await? {
        let Some(user_id) = attr::opt_s(&user, users_sk)
            .and_then(|sk| sk.strip_prefix(&keys::user_sk("")).map(str::to_owned))
        else {
            continue;
        };
        let families = Partition::new(
            &tables.sessions,
            SESSIONS_BY_USER.partition_key,
            keys::session_user_pk(app_id, &user_id),
        )
        .index(SESSIONS_BY_USER.name);
        let found = families.all(client, &[SESSIONS.partition_key]).await?;
        let keys: Vec<Item> = found
            .iter()
            .map(|i| key_of(i, &[SESSIONS.partition_key]))
            .collect();
        deleted += delete_keys(client, &tables.sessions, keys).await?;
    }
    Ok(deleted)
}

/// Deletes every registered resource's records with their index entries, then
/// the registry entry; returns (records, index entries, registry entries).
async fn records(ctx: &AdminContext, app_id: &str) -> Result<(u64, u64, u64)> {
    let client = &ctx.store.client;
    let table = &ctx.store.tables.data;
    let pk = DATA.partition_key;
    let sk = sort_key(&DATA);
    let ix_prefix = format!("IX#{app_id}#");
    let (mut records, mut entries, mut registry) = (0, 0, 0);
    for resource in inventory::resources(ctx, app_id).await? {
        let part = Partition::new(table, pk, keys::records_pk(app_id, &resource));
        loop {
            // Deleted records leave the partition, so each round reads from the start.
            let (page, _) = part.page(client, &[pk, sk, "ixKeys"], None).await?;
            if page.is_empty() {
                break;
            }
            // Index entries first: a record left by an interrupted run still
            // lists its entries in `ixKeys`, so the next run finds them again.
            let mut ix = Vec::new();
            for item in &page {
                let id = attr::opt_s(item, sk).unwrap_or_default();
                // Entries are `IX#{appId}#…` by construction; checked anyway,
                // so a corrupt item can never steer a delete into another app.
                let own = attr::get_list_s(item, "ixKeys")
                    .into_iter()
                    .filter(|p| p.starts_with(&ix_prefix));
                for ix_pk in own {
                    let mut key = Item::new();
                    key.insert(pk.to_owned(), attr::s(ix_pk));
                    key.insert(sk.to_owned(), attr::s(&id));
                    ix.push(key);
                }
            }
            entries += delete_keys(client, table, ix).await?;
            let keys = page.iter().map(|i| key_of(i, &[pk, sk])).collect();
            records += delete_keys(client, table, keys).await?;
        }
        let mut entry = Item::new();
        entry.insert(pk.to_owned(), attr::s(keys::resources_pk(app_id)));
        entry.insert(sk.to_owned(), attr::s(&resource));
        registry += delete_keys(client, table, vec![entry]).await?;
    }
    Ok((records, entries, registry))
}
