//! App webhooks: subscriptions, the events they filter, Standard Webhooks signing, target safety and the retry schedule.
//!
//! An app subscribes an endpoint to event types (and, for data events, to
//! resources); every matching event is delivered as a signed HTTP POST by a
//! worker, never on the request path, retried with the same `webhook-id`
//! along [`backoff`], and the subscription is disabled after failing for
//! [`DISABLE_AFTER_SECS`]. Subscriptions live in `tables::WEBHOOKS` (see
//! `store.rs` for the items).

pub mod backoff;
pub mod claim;
pub mod deliveries;
pub mod events;
pub mod lanes;
pub mod queue;
pub mod send;
pub mod signing;
pub mod store;
pub mod target;
pub mod worker;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use signing::SigningSecret;
pub use target::{TargetPolicy, TargetUrl};

/// A subscription that has failed every attempt for this long is disabled
/// (and the app's contact told): three days.
pub const DISABLE_AFTER_SECS: i64 = 3 * 24 * 3600;
/// Largest event body delivered; bigger records are sent without their data
/// (`"truncated": true`) so the receiver can fetch them.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// Default grace period of `rotate-secret`: the old secret signs too until then.
pub const DEFAULT_ROTATION_GRACE_SECS: i64 = 24 * 3600;
/// Subscriptions an app may have.
pub const MAX_SUBSCRIPTIONS_PER_APP: usize = 20;

/// Every event type a subscription can receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "data.created")]
    DataCreated,
    #[serde(rename = "data.updated")]
    DataUpdated,
    #[serde(rename = "data.deleted")]
    DataDeleted,
    #[serde(rename = "auth.user.created")]
    UserCreated,
    #[serde(rename = "auth.user.disabled")]
    UserDisabled,
    #[serde(rename = "auth.user.deleted")]
    UserDeleted,
    #[serde(rename = "auth.password.reset")]
    PasswordReset,
}

impl EventType {
    pub const EVERY: [Self; 7] = [
        Self::DataCreated,
        Self::DataUpdated,
        Self::DataDeleted,
        Self::UserCreated,
        Self::UserDisabled,
        Self::UserDeleted,
        Self::PasswordReset,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::DataCreated => "data.created",
            Self::DataUpdated => "data.updated",
            Self::DataDeleted => "data.deleted",
            Self::UserCreated => "auth.user.created",
            Self::UserDisabled => "auth.user.disabled",
            Self::UserDeleted => "auth.user.deleted",
            Self::PasswordReset => "auth.password.reset",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::EVERY.into_iter().find(|t| t.as_str() == text)
    }

    /// Data events carry a resource, which a subscription can filter on.
    pub fn is_data(self) -> bool {
        matches!(
            self,
            Self::DataCreated | Self::DataUpdated | Self::DataDeleted
        )
    }

    /// `data.created, data.updated, …` for error messages.
    pub fn known_names() -> String {
        Self::EVERY.map(Self::as_str).join(", ")
    }
}

/// Parses a comma list of event types (`data.*` and `auth.*` select a family;
/// `*` every type), each once, in a stable order.
pub fn parse_event_types(names: &[String]) -> Result<Vec<EventType>> {
    let mut types = Vec::new();
    for name in names.iter().flat_map(|n| n.split(',')).map(str::trim) {
        let selected: Vec<EventType> = match name {
            "*" => EventType::EVERY.to_vec(),
            "data.*" => EventType::EVERY
                .into_iter()
                .filter(|t| t.is_data())
                .collect(),
            "auth.*" => EventType::EVERY
                .into_iter()
                .filter(|t| !t.is_data())
                .collect(),
            _ => vec![EventType::parse(name).ok_or_else(|| {
                Error::invalid(
                    "events",
                    format!(
                        "unknown event type {name:?}; types are {} (or data.*, auth.*, *)",
                        EventType::known_names()
                    ),
                )
            })?],
        };
        types.extend(selected);
    }
    types.sort_unstable();
    types.dedup();
    if types.is_empty() {
        return Err(Error::invalid("events", "give at least one event type"));
    }
    Ok(types)
}

/// Whether a subscription receives events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SubscriptionState {
    Active,
    Disabled,
}

impl SubscriptionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }
}

/// One endpoint of an app and what it receives. The signing secrets are kept
/// apart ([`store::Secrets`]) so nothing that lists subscriptions carries them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub app_id: String,
    pub subscription_id: String,
    pub url: String,
    pub events: Vec<EventType>,
    /// Data events of these resources only; empty means every resource.
    pub resources: Vec<String>,
    pub state: SubscriptionState,
    /// Why it was disabled (`operator` or `failing since …`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub created_at: String,
    /// Epoch seconds of the first failed attempt since the last success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<i64>,
    /// Fingerprint of the current secret (the secret itself is shown once).
    pub secret_fingerprint: String,
    /// Epoch seconds until which the previous secret also signs, after a rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_until: Option<i64>,
}

impl Subscription {
    /// Whether an event of `event_type` (on `resource`, for data events) goes to it.
    pub fn matches(&self, event_type: EventType, resource: Option<&str>) -> bool {
        self.state == SubscriptionState::Active
            && self.events.contains(&event_type)
            && (!event_type.is_data()
                || self.resources.is_empty()
                || resource.is_some_and(|r| self.resources.iter().any(|s| s == r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(events: &[EventType], resources: &[&str]) -> Subscription {
        Subscription {
            app_id: "shop".into(),
            subscription_id: "s1".into(),
            url: "https://hooks.example.com/".into(),
            events: events.to_vec(),
            resources: resources.iter().map(|r| (*r).to_owned()).collect(),
            state: SubscriptionState::Active,
            disabled_reason: None,
            created_at: "2027-01-01T00:00:00Z".into(),
            failing_since: None,
            secret_fingerprint: "00000000".into(),
            previous_secret_until: None,
        }
    }

    #[test]
    fn event_lists_parse_families_once_and_refuse_unknown_names() {
        let parsed =
            parse_event_types(&["data.created,auth.*".into(), "data.created".into()]).unwrap();
        assert_eq!(
            parsed,
            vec![
                EventType::DataCreated,
                EventType::UserCreated,
                EventType::UserDisabled,
                EventType::UserDeleted,
                EventType::PasswordReset
            ]
        );
        assert_eq!(parse_event_types(&["*".into()]).unwrap().len(), 7);
        let err = parse_event_types(&["data.create".into()]).unwrap_err();
        assert!(err.to_string().contains("data.created"), "{err}");
    }

    #[test]
    fn filters_select_by_type_resource_and_state() {
        let sub = subscription(
            &[EventType::DataCreated, EventType::UserCreated],
            &["orders"],
        );
        assert!(sub.matches(EventType::DataCreated, Some("orders")));
        assert!(!sub.matches(EventType::DataCreated, Some("notes")));
        assert!(!sub.matches(EventType::DataUpdated, Some("orders")));
        // Auth events carry no resource; the resource filter is for data only.
        assert!(sub.matches(EventType::UserCreated, None));
        let every = subscription(&[EventType::DataDeleted], &[]);
        assert!(every.matches(EventType::DataDeleted, Some("anything")));
        let mut off = every;
        off.state = SubscriptionState::Disabled;
        assert!(!off.matches(EventType::DataDeleted, Some("anything")));
    }
}
