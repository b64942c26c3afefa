//! Subscriptions in the webhooks table: `pk=W#{appId}`, `sk=S#{subscriptionId}`, one Query per app.
//!
//! The item holds the signing secret in clear (`secret`, and `previousSecret`
//! until `previousSecretUntil` after a rotation): HMAC signing needs the key
//! itself, so it cannot be a hash like API keys. It is protected by the table's
//! encryption at rest, by IAM (only the webhooks worker and operators read the
//! table) and by never leaving this module except to sign and, once, to the
//! operator who created or rotated it.

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::ReturnValue;

use super::{
    EventType, MAX_SUBSCRIPTIONS_PER_APP, SigningSecret, Subscription, SubscriptionState, TargetUrl,
};
use crate::apps::validate_app_id;
use crate::attr::{self, Item};
use crate::clock;
use crate::condition::OnConditionFailed;
use crate::error::{Error, Result};
use crate::store::Store;
use crate::tables::WEBHOOKS;

/// Sort-key prefix of subscription items.
pub const SUBSCRIPTION_PREFIX: &str = "S#";

/// The app's partition: its subscriptions and delivery log.
pub fn partition(app_id: &str) -> String {
    format!("W#{app_id}")
}

/// A Query of the items of `app_id`'s partition whose sort key starts with `prefix`
/// (subscriptions, deliveries, a lane's held markers); callers add paging and options.
pub(crate) fn query_prefix(
    store: &Store,
    app_id: &str,
    prefix: &str,
) -> Result<QueryFluentBuilder> {
    Ok(store
        .client
        .query()
        .table_name(store.webhooks_table()?)
        .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
        .expression_attribute_names("#pk", WEBHOOKS.partition_key)
        .expression_attribute_names("#sk", sort_key_name())
        .expression_attribute_values(":pk", attr::s(partition(app_id)))
        .expression_attribute_values(":prefix", attr::s(prefix)))
}

fn key(app_id: &str, subscription_id: &str) -> Item {
    Item::from([
        (
            WEBHOOKS.partition_key.to_owned(),
            attr::s(partition(app_id)),
        ),
        (
            sort_key_name(),
            attr::s(format!("{SUBSCRIPTION_PREFIX}{subscription_id}")),
        ),
    ])
}

pub(crate) fn sort_key_name() -> String {
    WEBHOOKS.sort_key.unwrap_or("sk").to_owned()
}

/// The item a write returned (`ReturnValues`).
fn returned(attributes: Option<&Item>) -> Result<&Item> {
    attributes.ok_or_else(|| Error::Internal("the write returned no item".into()))
}

/// The keys a subscription signs with at a given time.
#[derive(Debug, Clone)]
pub struct Secrets {
    pub current: SigningSecret,
    /// The secret replaced by the last rotation and the end of its grace period.
    pub previous: Option<(SigningSecret, i64)>,
}

impl Secrets {
    /// The current secret, plus the previous one while its grace lasts.
    pub fn signing_at(&self, now: i64) -> Vec<&SigningSecret> {
        let mut keys = vec![&self.current];
        if let Some((previous, until)) = &self.previous
            && now < *until
        {
            keys.push(previous);
        }
        keys
    }
}

/// Checks an app's resource filter: data API resource names, each once.
fn validate_resources(resources: &[String]) -> Result<()> {
    for (i, resource) in resources.iter().enumerate() {
        crate::data::validate_resource(resource)
            .map_err(|e| Error::invalid("resource", e.to_string()))?;
        if resources[..i].contains(resource) {
            return Err(Error::invalid(
                "resource",
                format!("{resource:?} is given twice"),
            ));
        }
    }
    Ok(())
}

/// Adds a subscription; its secret is returned here and never again.
pub async fn create(
    store: &Store,
    app_id: &str,
    url: &TargetUrl,
    events: &[EventType],
    resources: &[String],
) -> Result<(Subscription, SigningSecret)> {
    validate_app_id(app_id)?;
    validate_resources(resources)?;
    if events.is_empty() {
        return Err(Error::invalid("events", "give at least one event type"));
    }
    if list(store, app_id).await?.len() >= MAX_SUBSCRIPTIONS_PER_APP {
        return Err(Error::Conflict(format!(
            "app {app_id} has {MAX_SUBSCRIPTIONS_PER_APP} subscriptions, the most it may have; remove one first"
        )));
    }
    let secret = SigningSecret::generate()?;
    let subscription = Subscription {
        app_id: app_id.to_owned(),
        subscription_id: format!("wh_{}", uuid::Uuid::now_v7().simple()),
        url: url.as_str().to_owned(),
        events: events.to_vec(),
        resources: resources.to_vec(),
        state: SubscriptionState::Active,
        disabled_reason: None,
        created_at: clock::now_rfc3339(),
        failing_since: None,
        secret_fingerprint: secret.fingerprint(),
        previous_secret_until: None,
    };
    let mut item = key(app_id, &subscription.subscription_id);
    item.insert("url".into(), attr::s(&subscription.url));
    let events: Vec<String> = events.iter().map(|e| e.as_str().to_owned()).collect();
    item.insert("events".into(), attr::list_s(&events));
    item.insert("resources".into(), attr::list_s(resources));
    item.insert("state".into(), attr::s(subscription.state.as_str()));
    item.insert("createdAt".into(), attr::s(&subscription.created_at));
    item.insert("secret".into(), attr::s(secret.expose()));
    store
        .client
        .put_item()
        .table_name(store.webhooks_table()?)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#sk)")
        .expression_attribute_names("#sk", sort_key_name())
        .send()
        .await
        .map_err(|e| Error::sdk("create webhook subscription", e))?;
    Ok((subscription, secret))
}

/// Every subscription of an app, oldest first (ids are time-ordered).
pub async fn list(store: &Store, app_id: &str) -> Result<Vec<Subscription>> {
    Ok(list_with_secrets(store, app_id)
        .await?
        .into_iter()
        .map(|(sub, _)| sub)
        .collect())
}

/// Every subscription of an app with its secrets: what the worker signs with.
pub async fn list_with_secrets(
    store: &Store,
    app_id: &str,
) -> Result<Vec<(Subscription, Secrets)>> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = query_prefix(store, app_id, SUBSCRIPTION_PREFIX)?
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| Error::sdk("list webhook subscriptions", e))?;
        for item in page.items() {
            out.push(from_item(item)?);
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return Ok(out);
        }
    }
}

/// One subscription with its secrets.
pub async fn get(
    store: &Store,
    app_id: &str,
    subscription_id: &str,
) -> Result<(Subscription, Secrets)> {
    let found = store
        .client
        .get_item()
        .table_name(store.webhooks_table()?)
        .set_key(Some(key(app_id, subscription_id)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| Error::sdk("read webhook subscription", e))?;
    found
        .item()
        .map(from_item)
        .transpose()?
        .ok_or_else(|| Error::NotFound(format!("webhook subscription {subscription_id}")))
}

/// Enables or disables a subscription. Enabling clears the failure record, so
/// a revived endpoint gets its full failure allowance again.
pub async fn set_state(
    store: &Store,
    app_id: &str,
    subscription_id: &str,
    state: SubscriptionState,
    reason: Option<&str>,
) -> Result<Subscription> {
    let mut update = store
        .client
        .update_item()
        .table_name(store.webhooks_table()?)
        .set_key(Some(key(app_id, subscription_id)))
        .condition_expression("attribute_exists(#sk)")
        .expression_attribute_names("#sk", sort_key_name())
        .expression_attribute_values(":state", attr::s(state.as_str()))
        .return_values(ReturnValue::AllNew);
    update = match (state, reason) {
        (SubscriptionState::Disabled, Some(reason)) => update
            .update_expression("SET #state = :state, disabledReason = :reason")
            .expression_attribute_values(":reason", attr::s(reason)),
        _ => update.update_expression("SET #state = :state REMOVE disabledReason, failingSince"),
    };
    let out = update
        .expression_attribute_names("#state", "state")
        .send()
        .await
        .on_condition_failed("update webhook subscription", || {
            Error::NotFound(format!("webhook subscription {subscription_id}"))
        })?;
    Ok(from_item(returned(out.attributes())?)?.0)
}

/// Replaces the signing secret; the old one keeps signing for `grace_secs`.
pub async fn rotate_secret(
    store: &Store,
    app_id: &str,
    subscription_id: &str,
    grace_secs: i64,
) -> Result<(Subscription, SigningSecret)> {
    let (_, secrets) = get(store, app_id, subscription_id).await?;
    let secret = SigningSecret::generate()?;
    let until = clock::now_epoch() + grace_secs.max(0);
    let out = store
        .client
        .update_item()
        .table_name(store.webhooks_table()?)
        .set_key(Some(key(app_id, subscription_id)))
        // Only over the secret read, so two rotations cannot lose one.
        .condition_expression("#secret = :old")
        .update_expression(
            "SET #secret = :new, previousSecret = :old, previousSecretUntil = :until",
        )
        .expression_attribute_names("#secret", "secret")
        .expression_attribute_values(":old", attr::s(secrets.current.expose()))
        .expression_attribute_values(":new", attr::s(secret.expose()))
        .expression_attribute_values(":until", attr::n(until))
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .on_condition_failed("rotate webhook secret", || {
            Error::Conflict("the secret was rotated meanwhile; run rotate-secret again".into())
        })?;
    Ok((from_item(returned(out.attributes())?)?.0, secret))
}

/// Records an attempt's outcome on the subscription: a success clears
/// `failingSince`; a failure sets it if unset. Returns the subscription as now stored.
pub async fn record_outcome(
    store: &Store,
    app_id: &str,
    subscription_id: &str,
    succeeded: bool,
    now: i64,
) -> Result<Option<Subscription>> {
    let update = store
        .client
        .update_item()
        .table_name(store.webhooks_table()?)
        .set_key(Some(key(app_id, subscription_id)))
        .condition_expression("attribute_exists(#sk)")
        .expression_attribute_names("#sk", sort_key_name())
        .return_values(ReturnValue::AllNew);
    let update = if succeeded {
        update.update_expression("REMOVE failingSince")
    } else {
        update
            .update_expression("SET failingSince = if_not_exists(failingSince, :now)")
            .expression_attribute_values(":now", attr::n(now))
    };
    // Removed meanwhile (`None`): nothing to record.
    match update
        .send()
        .await
        .ok_if_condition_failed("record webhook outcome")?
    {
        Some(out) => out
            .attributes()
            .map(|i| from_item(i).map(|s| s.0))
            .transpose(),
        None => Ok(None),
    }
}

/// Removes a subscription; returns it.
pub async fn remove(store: &Store, app_id: &str, subscription_id: &str) -> Result<Subscription> {
    let out = store
        .client
        .delete_item()
        .table_name(store.webhooks_table()?)
        .set_key(Some(key(app_id, subscription_id)))
        .condition_expression("attribute_exists(#sk)")
        .expression_attribute_names("#sk", sort_key_name())
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .on_condition_failed("remove webhook subscription", || {
            Error::NotFound(format!("webhook subscription {subscription_id}"))
        })?;
    Ok(from_item(returned(out.attributes())?)?.0)
}

/// Removes every subscription of an app (`obctl apps delete`); returns how many.
pub async fn remove_all(store: &Store, app_id: &str) -> Result<usize> {
    let subscriptions = list(store, app_id).await?;
    for sub in &subscriptions {
        match remove(store, app_id, &sub.subscription_id).await {
            Ok(_) | Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(subscriptions.len())
}

fn from_item(item: &Item) -> Result<(Subscription, Secrets)> {
    let sk = attr::get_s(item, &sort_key_name())?;
    let app_id = attr::get_s(item, WEBHOOKS.partition_key)?
        .strip_prefix("W#")
        .map(str::to_owned)
        .ok_or_else(|| Error::Internal("webhook item with a foreign key".into()))?;
    let current = SigningSecret::parse(&attr::get_s(item, "secret")?)
        .map_err(|_| Error::Internal("stored webhook secret is malformed".into()))?;
    let previous = match (
        attr::opt_s(item, "previousSecret"),
        attr::opt_i64(item, "previousSecretUntil"),
    ) {
        (Some(text), Some(until)) => SigningSecret::parse(&text).ok().map(|s| (s, until)),
        _ => None,
    };
    let state = match attr::opt_s(item, "state").as_deref() {
        Some("disabled") => SubscriptionState::Disabled,
        _ => SubscriptionState::Active,
    };
    let subscription = Subscription {
        app_id,
        subscription_id: sk
            .strip_prefix(SUBSCRIPTION_PREFIX)
            .unwrap_or(&sk)
            .to_owned(),
        url: attr::get_s(item, "url")?,
        events: attr::get_list_s(item, "events")
            .iter()
            .filter_map(|name| EventType::parse(name))
            .collect(),
        resources: attr::get_list_s(item, "resources"),
        state,
        disabled_reason: attr::opt_s(item, "disabledReason"),
        created_at: attr::get_s(item, "createdAt")?,
        failing_since: attr::opt_i64(item, "failingSince"),
        secret_fingerprint: current.fingerprint(),
        previous_secret_until: previous.as_ref().map(|(_, until)| *until),
    };
    Ok((subscription, Secrets { current, previous }))
}
