//! The caller's standing, checked inside every write's own transaction: the app active, the API key usable, the user enabled and their token issued after the user's `tokensValidAfter`.
//!
//! Reads may trust a verified key and app state for a moment (an instance
//! caches them, see `ob_api::state`) and an access token until it expires;
//! writes may not. Rather than reading the user, the key and the app before
//! each write (three more round trips), a write puts one `ConditionCheck` per
//! fact into the `TransactWriteItems` it sends anyway: a revoked key, a
//! suspended or deleted app, a disabled user or a token older than the user's
//! last demotion cancels the write, and the write stays one round trip.

use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem};

use crate::attr;
use crate::clock;
use crate::error::{Error, Result};
use crate::keys;
use crate::store::Store;
use crate::tables::{API_KEYS, APPS, USERS};

/// The user attribute a role change or a disabling sets (epoch milliseconds):
/// access tokens issued before it no longer write.
pub const TOKENS_VALID_AFTER: &str = "tokensValidAfter";

/// Who is writing: the app and key of the request, and the signed-in user
/// with the issue time of their access token in epoch milliseconds
/// (`Claims::issued_ms`; operators and key-only routes have no user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub app_id: String,
    pub key_id: String,
    pub user: Option<(String, i64)>,
}

/// Which fact a cancelled write failed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lapse {
    App,
    Key,
    User,
}

impl Lapse {
    /// The refusal the caller sees: 401, as when the key or token is refused at the door.
    pub fn error(self) -> Error {
        Error::Unauthorized(
            match self {
                Self::App | Self::Key => "invalid API key",
                Self::User => {
                    "the session is no longer valid (user disabled or role changed); sign in again"
                }
            }
            .into(),
        )
    }
}

impl Standing {
    /// The condition checks, in the order `lapse` reads them.
    pub fn checks(&self, store: &Store) -> Result<Vec<TransactWriteItem>> {
        let build = |check: aws_sdk_dynamodb::types::builders::ConditionCheckBuilder| {
            check
                .build()
                .map(|c| TransactWriteItem::builder().condition_check(c).build())
                .map_err(|e| Error::internal("build condition check", e))
        };
        let mut items = vec![
            build(
                ConditionCheck::builder()
                    .table_name(store.apps_table()?)
                    .key(APPS.partition_key, attr::s(&self.app_id))
                    .condition_expression("#state = :active")
                    .expression_attribute_names("#state", "state")
                    .expression_attribute_values(":active", attr::s("active")),
            )?,
            build(
                ConditionCheck::builder()
                    .table_name(store.api_keys_table()?)
                    .key(API_KEYS.partition_key, attr::s(&self.app_id))
                    .key(API_KEYS.sort_key.unwrap_or("keyId"), attr::s(&self.key_id))
                    .condition_expression(
                        "active = :true AND (attribute_not_exists(expiresAt) OR expiresAt > :now)",
                    )
                    .expression_attribute_values(":true", attr::b(true))
                    .expression_attribute_values(":now", attr::n(clock::now_epoch())),
            )?,
        ];
        if let Some((user_id, issued_at)) = &self.user {
            items.push(build(
                ConditionCheck::builder()
                    .table_name(store.users_table()?)
                    .key(USERS.partition_key, attr::s(keys::users_pk(&self.app_id)))
                    .key(USERS.sort_key.unwrap_or("sk"), attr::s(keys::user_sk(user_id)))
                    .condition_expression(
                        "attribute_exists(#pk) AND (attribute_not_exists(disabled) OR disabled = :false) \
                         AND (attribute_not_exists(#valid) OR #valid < :iat)",
                    )
                    .expression_attribute_names("#pk", USERS.partition_key)
                    .expression_attribute_names("#valid", TOKENS_VALID_AFTER)
                    .expression_attribute_values(":false", attr::b(false))
                    .expression_attribute_values(":iat", attr::n(*issued_at)),
            )?);
        }
        Ok(items)
    }

    /// The fact that cancelled a transaction whose items began with `checks()`,
    /// from its per-item cancellation codes.
    pub fn lapse(&self, codes: &[String]) -> Option<Lapse> {
        let failed = |i: usize| codes.get(i).is_some_and(|c| c == "ConditionalCheckFailed");
        if failed(0) {
            Some(Lapse::App)
        } else if failed(1) {
            Some(Lapse::Key)
        } else if self.user.is_some() && failed(2) {
            Some(Lapse::User)
        } else {
            None
        }
    }

    /// How many items `checks()` adds.
    pub fn check_count(&self) -> usize {
        2 + usize::from(self.user.is_some())
    }

    /// Sends a transaction whose items begin with `checks()`: a failed check
    /// is the caller's refusal (401), any other failure an error of `action`.
    pub async fn transact(
        &self,
        store: &Store,
        items: Vec<TransactWriteItem>,
        action: &str,
    ) -> Result<()> {
        match store
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => Err(self
                .lapse(&crate::sessions::cancellation_codes(&err))
                .map_or_else(|| Error::sdk(action, err), Lapse::error)),
        }
    }
}

/// A write's context: the caller's standing, checked in the write's
/// transaction, and what its audit entry (written in the same transaction)
/// records about the request.
#[derive(Debug, Clone)]
pub struct Writer {
    pub standing: Standing,
    pub origin: crate::audit::Origin,
    pub audit_retention_days: u32,
}

impl Writer {
    /// The items every write transaction starts with: the checks, then the
    /// audit entry of `action` on `target`.
    pub fn items(
        &self,
        store: &Store,
        action: &str,
        target: String,
        changed_fields: Vec<String>,
    ) -> Result<Vec<TransactWriteItem>> {
        let actor = match &self.standing.user {
            Some((user_id, _)) => crate::audit::Actor::User(user_id.clone()),
            None => crate::audit::Actor::ApiKey(self.standing.key_id.clone()),
        };
        let mut items = self.standing.checks(store)?;
        items.push(crate::audit::transact_item(
            store,
            crate::audit::NewEntry {
                app_id: self.standing.app_id.clone(),
                actor,
                action: action.to_owned(),
                target,
                changed_fields,
                origin: self.origin.clone(),
            },
            self.audit_retention_days,
        )?);
        Ok(items)
    }

    /// How many items `items()` puts before the write's own.
    pub fn lead(&self) -> usize {
        self.standing.check_count() + 1
    }

    /// The refusal when a cancelled transaction of `items()` + the write's own
    /// failed on the caller's standing.
    pub fn refusal(&self, codes: &[String]) -> Option<Error> {
        self.standing.lapse(codes).map(Lapse::error)
    }
}
