//! Writes of the user fields the e-mail guard copies (role, disabled, password hash, verified address): the user item and its guard change in one transaction.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use super::{Role, get_item, sort_key};
use crate::attr;
use crate::clock;
use crate::condition::ConditionFailure;
use crate::error::{Error, Result};
use crate::keys;
use crate::store::Store;
use crate::tables::USERS;

/// Grants or withdraws a role (operator action from the CLI). The user's
/// access tokens issued until now no longer write; reads end when they expire.
pub async fn set_role(store: &Store, app_id: &str, user_id: &str, role: Role) -> Result<()> {
    let change = Change::flag("role", attr::s(role.as_str()));
    found(apply(store, app_id, user_id, None, change).await?, user_id)
}

/// Disables or re-enables an account; a disabled user can neither log in nor
/// refresh, and their access tokens no longer write (reads end when they expire).
pub async fn set_disabled(
    store: &Store,
    app_id: &str,
    user_id: &str,
    disabled: bool,
) -> Result<()> {
    let change = Change::flag("disabled", attr::b(disabled));
    found(apply(store, app_id, user_id, None, change).await?, user_id)
}

/// Replaces a user's password hash (a completed password reset). The reset
/// proved the user reads mail at the address, so it also counts as verifying it.
pub async fn set_password(
    store: &Store,
    app_id: &str,
    user_id: &str,
    password_hash: &str,
) -> Result<()> {
    let change = Change {
        set: "SET passwordHash = :hash, passwordChangedAt = :now, updatedAt = :now, \
              emailVerified = :true, emailVerifiedAt = if_not_exists(emailVerifiedAt, :now)"
            .into(),
        names: Vec::new(),
        values: vec![
            (":hash", attr::s(password_hash)),
            (":true", attr::b(true)),
            (":now", attr::s(clock::now_rfc3339())),
        ],
        user_condition: None,
    };
    found(apply(store, app_id, user_id, None, change).await?, user_id)
}

/// Marks `email` verified for a user, only while it is still the user's
/// address (a link sent to an old address proves nothing about a new one).
/// Returns whether it was marked.
pub async fn mark_email_verified(
    store: &Store,
    app_id: &str,
    user_id: &str,
    email: &str,
) -> Result<bool> {
    let change = Change {
        set: "SET emailVerified = :true, updatedAt = :now, \
              emailVerifiedAt = if_not_exists(emailVerifiedAt, :now)"
            .into(),
        names: Vec::new(),
        values: vec![
            (":true", attr::b(true)),
            (":now", attr::s(clock::now_rfc3339())),
        ],
        user_condition: Some(("email = :email", ":email", attr::s(email))),
    };
    apply(store, app_id, user_id, Some(email), change).await
}

fn found(applied: bool, user_id: &str) -> Result<()> {
    if applied {
        Ok(())
    } else {
        Err(Error::NotFound(format!("user {user_id}")))
    }
}

/// One update of a user, applied alike to the user item and its guard.
struct Change {
    set: String,
    names: Vec<(&'static str, &'static str)>,
    values: Vec<(&'static str, AttributeValue)>,
    /// What the user item must also satisfy (besides existing), with the
    /// value it names.
    user_condition: Option<(&'static str, &'static str, AttributeValue)>,
}

impl Change {
    /// A role or the disabled flag: access tokens issued until now stop
    /// writing at once (see `ob_core::standing`).
    fn flag(field: &'static str, value: AttributeValue) -> Self {
        Self {
            set: "SET #f = :v, updatedAt = :now, #valid = :epoch".into(),
            names: vec![
                ("#f", field),
                ("#valid", crate::standing::TOKENS_VALID_AFTER),
            ],
            values: vec![
                (":v", value),
                (":now", attr::s(clock::now_rfc3339())),
                (":epoch", attr::n(clock::now_millis())),
            ],
            user_condition: None,
        }
    }
}

/// How often a change retries after a transaction conflict (another write of
/// the same user at the same moment).
const ATTEMPTS: u32 = 4;

/// Applies `change` to the user and its guard; `false` when the user does
/// not exist (or fails `user_condition`). The guard is found by `email`, or
/// by the user's current address (one consistent read) when not given.
async fn apply(
    store: &Store,
    app_id: &str,
    user_id: &str,
    email: Option<&str>,
    change: Change,
) -> Result<bool> {
    let email = match email {
        Some(email) => email.to_owned(),
        None => match get_item(store, app_id, &keys::user_sk(user_id)).await? {
            Some(item) => attr::get_s(&item, "email")?,
            None => return Ok(false),
        },
    };
    let user_sk = keys::user_sk(user_id);
    let user = match &change.user_condition {
        Some((extra, name, value)) => {
            let condition = format!("attribute_exists(#pk) AND {extra}");
            update(store, app_id, &user_sk, &change, &condition)
                .map(|u| u.expression_attribute_values(*name, value.clone()))
        }
        None => update(store, app_id, &user_sk, &change, "attribute_exists(#pk)"),
    }
    .map(|u| u.expression_attribute_names("#pk", USERS.partition_key));
    // The guard of this user's address, never another user's.
    let guard = update(
        store,
        app_id,
        &keys::email_sk(&email),
        &change,
        "#uid = :uid",
    )
    .map(|u| {
        u.expression_attribute_names("#uid", "userId")
            .expression_attribute_values(":uid", attr::s(user_id))
    });
    let items = [user, guard]
        .into_iter()
        .map(|u| {
            u?.build()
                .map(|u| TransactWriteItem::builder().update(u).build())
                .map_err(|e| Error::internal("build user update", e))
        })
        .collect::<Result<Vec<_>>>()?;
    transact(store, items, "update user").await
}

/// Sends one transaction of a user's items, retried after a conflict with
/// another write of them: `false` when an item failed its condition.
pub(super) async fn transact(
    store: &Store,
    items: Vec<TransactWriteItem>,
    action: &str,
) -> Result<bool> {
    for attempt in 0..ATTEMPTS {
        let result = store
            .client
            .transact_write_items()
            .set_transact_items(Some(items.clone()))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(true),
            Err(err) => err,
        };
        if err.is_condition_failure() {
            return Ok(false);
        }
        if !is_conflict(&err) || attempt + 1 == ATTEMPTS {
            return Err(Error::sdk(action, err));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
    }
    Err(Error::Internal(format!("{action}: retries exhausted")))
}

/// The update of one item of the user (`sk`), the change's expression with `condition`.
fn update(
    store: &Store,
    app_id: &str,
    sk: &str,
    change: &Change,
    condition: &str,
) -> Result<aws_sdk_dynamodb::types::builders::UpdateBuilder> {
    let mut update = Update::builder()
        .table_name(store.users_table()?)
        .key(USERS.partition_key, attr::s(keys::users_pk(app_id)))
        .key(sort_key(), attr::s(sk))
        .update_expression(&change.set)
        .condition_expression(condition);
    for (name, field) in &change.names {
        update = update.expression_attribute_names(*name, *field);
    }
    for (name, value) in &change.values {
        update = update.expression_attribute_values(*name, value.clone());
    }
    Ok(update)
}

/// Whether another write touched one of the items at the same moment: worth a retry.
fn is_conflict<R>(err: &aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError, R>) -> bool {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => e
            .cancellation_reasons()
            .iter()
            .any(|r| r.code() == Some("TransactionConflict")),
        Some(other) => other.code() == Some("TransactionConflictException"),
        None => false,
    }
}
