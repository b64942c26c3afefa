//! One-time tokens of account e-mails (password reset, e-mail verification): random, stored only as SHA-256, used once, expired.
//!
//! The notify function issues a token when it sends the e-mail (so the
//! request path never learns whether an address has an account); auth
//! consumes it with one conditional write, which is what makes it single-use
//! even when the link is opened twice at once.

use aws_sdk_dynamodb::types::ReturnValue;

use crate::attr::{self, Item};
use crate::clock;
use crate::condition::OnConditionFailed;
use crate::error::{Error, Result};
use crate::keys;
use crate::secret;
use crate::store::Store;
use crate::tables::SESSIONS;

/// Random characters of a token (~256 bits).
const TOKEN_LEN: usize = 43;

/// What a token may be used for; a token of one purpose never works for the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    PasswordReset,
    EmailVerification,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "passwordReset",
            Self::EmailVerification => "emailVerification",
        }
    }
}

/// A token to put in a link; only its hash is stored.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    /// Epoch seconds.
    pub expires_at: i64,
}

/// Whose token it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub user_id: String,
    /// The address the e-mail went to.
    pub email: String,
}

/// Issues a token for a user of `app_id`, valid for `ttl_secs`.
pub async fn issue(
    store: &Store,
    purpose: Purpose,
    app_id: &str,
    owner: &Owner,
    ttl_secs: i64,
) -> Result<Issued> {
    let token = secret::random_base62(TOKEN_LEN)?;
    let now = clock::now_epoch();
    let expires_at = now + ttl_secs;
    let mut item = Item::new();
    item.insert(
        SESSIONS.partition_key.into(),
        attr::s(keys::one_time_token_pk(&secret::sha256_hex(&token))),
    );
    item.insert("purpose".into(), attr::s(purpose.as_str()));
    item.insert("appId".into(), attr::s(app_id));
    item.insert("userId".into(), attr::s(&owner.user_id));
    item.insert("email".into(), attr::s(&owner.email));
    item.insert("createdAt".into(), attr::n(now));
    item.insert(
        SESSIONS.ttl_attribute.unwrap_or("expiresAt").into(),
        attr::n(expires_at),
    );
    store
        .client
        .put_item()
        .table_name(store.sessions_table()?)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#pk)")
        .expression_attribute_names("#pk", SESSIONS.partition_key)
        .send()
        .await
        .map_err(|e| Error::sdk("issue one-time token", e))?;
    Ok(Issued { token, expires_at })
}

/// The refusal of a token that is unknown, expired, used, or of another purpose
/// or app: 403, as a credential that does not grant what it is shown for (the
/// request itself is well-formed, so not a 400).
pub fn unusable() -> Error {
    Error::Forbidden("this link is invalid, expired or already used; ask for a new link".into())
}

/// Uses a token of `purpose` and `app_id` up, atomically, and returns whose it
/// was. Unknown, expired, used, other-purpose and other-app tokens are all the
/// same `unusable` refusal.
pub async fn consume(store: &Store, purpose: Purpose, app_id: &str, token: &str) -> Result<Owner> {
    let invalid = unusable;
    if token.is_empty() || token.len() > 128 {
        return Err(invalid());
    }
    let now = clock::now_epoch();
    let result = store
        .client
        .update_item()
        .table_name(store.sessions_table()?)
        .key(
            SESSIONS.partition_key,
            attr::s(keys::one_time_token_pk(&secret::sha256_hex(token))),
        )
        .update_expression("SET usedAt = :now")
        .condition_expression(
            "attribute_exists(#pk) AND purpose = :purpose AND appId = :app \
             AND #ttl > :now AND attribute_not_exists(usedAt)",
        )
        .expression_attribute_names("#pk", SESSIONS.partition_key)
        .expression_attribute_names("#ttl", SESSIONS.ttl_attribute.unwrap_or("expiresAt"))
        .expression_attribute_values(":purpose", attr::s(purpose.as_str()))
        .expression_attribute_values(":app", attr::s(app_id))
        .expression_attribute_values(":now", attr::n(now))
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    let item = result
        .on_condition_failed("use one-time token", invalid)?
        .attributes
        .unwrap_or_default();
    Ok(Owner {
        user_id: attr::get_s(&item, "userId")?,
        email: attr::get_s(&item, "email")?,
    })
}
