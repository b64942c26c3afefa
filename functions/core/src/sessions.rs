//! Refresh-token sessions: families of single-use opaque tokens with rotation, reuse detection and TTL.
//!
//! Each login starts a family (`F#{familyId}`); each issued refresh token is an
//! item `T#{sha256(token)}` pointing at its family. Refreshing marks the
//! presented token rotated and issues the next one in one transaction. A token
//! presented again within a short grace window gets the same successor (two
//! tabs refreshing at once); after that it means it was copied: the whole
//! family is revoked, so neither the thief nor the victim can continue that
//! session. A session ends for good at its absolute lifetime.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};

use crate::attr::{self, Item};
use crate::clock;
use crate::condition::OnConditionFailed;
use crate::error::{Error, Result};
use crate::keys;
use crate::secret;
use crate::store::Store;
use crate::tables::{SESSIONS, SESSIONS_BY_USER};

/// Random characters of a refresh token (~256 bits).
const TOKEN_LEN: usize = 43;

/// Whose session a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub family_id: String,
    pub app_id: String,
    pub user_id: String,
}

/// A refresh token to hand out once; only its hash is stored.
#[derive(Debug, Clone)]
pub struct IssuedRefresh {
    pub session: Session,
    pub token: String,
    /// Epoch seconds.
    pub expires_at: i64,
    /// When the token was issued, epoch milliseconds: the access token that
    /// goes with it is issued as of this instant, so a refresh answered again
    /// within its grace returns the same access token too.
    pub issued_ms: i64,
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone)]
pub enum Refresh {
    /// The token was current: here is its successor.
    Rotated(IssuedRefresh),
    /// The token had already been rotated: the family is now revoked.
    ReuseDetected(Session),
}

/// Starts a new session family for a user and issues its first token.
pub async fn start(
    store: &Store,
    app_id: &str,
    user_id: &str,
    ttl_secs: i64,
) -> Result<IssuedRefresh> {
    start_with(
        store,
        app_id,
        user_id,
        ttl_secs,
        |_| Ok(Vec::new()),
        |_| None,
    )
    .await
}

/// Starts a session as `start` does, in one transaction that begins with the
/// items `lead` makes for it (a login's standing checks and its audit entry
/// naming the session): all land or none. A cancelled transaction is the
/// error `refusal` finds in its per-item cancellation codes, if any.
pub async fn start_with(
    store: &Store,
    app_id: &str,
    user_id: &str,
    ttl_secs: i64,
    lead: impl FnOnce(&Session) -> Result<Vec<TransactWriteItem>>,
    refusal: impl FnOnce(&[String]) -> Option<Error>,
) -> Result<IssuedRefresh> {
    let table = store.sessions_table()?;
    let session = Session {
        family_id: uuid::Uuid::new_v4().to_string(),
        app_id: app_id.to_owned(),
        user_id: user_id.to_owned(),
    };
    let issued_ms = clock::now_millis();
    let now = issued_ms.div_euclid(1000);
    let expires_at = now + ttl_secs;
    let token = secret::random_base62(TOKEN_LEN)?;
    let mut family = Item::new();
    family.insert(
        SESSIONS.partition_key.into(),
        attr::s(keys::family_pk(&session.family_id)),
    );
    family.insert("familyId".into(), attr::s(&session.family_id));
    family.insert("appId".into(), attr::s(app_id));
    family.insert("userId".into(), attr::s(user_id));
    family.insert(
        SESSIONS_BY_USER.partition_key.into(),
        attr::s(keys::session_user_pk(app_id, user_id)),
    );
    family.insert("revoked".into(), attr::b(false));
    family.insert("createdAt".into(), attr::n(now));
    family.insert(ttl_attr().into(), attr::n(expires_at));
    let mut items = lead(&session)?;
    items.push(put(table, family)?);
    items.push(put(
        table,
        token_item(&session, &token, expires_at, issued_ms),
    )?);
    store
        .client
        .transact_write_items()
        .set_transact_items(Some(items))
        .send()
        .await
        .map_err(|err| {
            refusal(&cancellation_codes(&err)).unwrap_or_else(|| Error::sdk("start session", err))
        })?;
    Ok(IssuedRefresh {
        session,
        token,
        expires_at,
        issued_ms,
    })
}

/// How long after a rotation presenting the same token again returns the same
/// successor instead of counting as reuse: two tabs refreshing at once.
pub const REFRESH_GRACE_SECS: i64 = 30;
/// How often a refresh retries after a transaction conflict.
const REFRESH_ATTEMPTS: u32 = 4;

/// What a refresh needs besides the token: lifetimes and the key successors
/// are derived with.
#[derive(Debug, Clone, Copy)]
pub struct RefreshPolicy<'a> {
    /// Lifetime of each refresh token (sliding).
    pub ttl_secs: i64,
    /// Absolute lifetime of a session from its login: no refresh after it.
    pub max_session_secs: i64,
    /// Secret key of the successor derivation (see `successor_of`).
    pub successor_key: &'a [u8],
}

/// The successor of a refresh token is derived from it with a server key, so
/// a second presentation within the grace window gets the very same successor
/// without its plaintext ever being stored.
fn successor_of(key: &[u8], presented: &str) -> String {
    secret::derived_base62(key, presented, TOKEN_LEN)
}

/// Exchanges a refresh token of `app_id` for its successor. Unknown, expired,
/// revoked or other-app tokens, and sessions past their absolute lifetime, are
/// `Unauthorized`. The same token presented again within `REFRESH_GRACE_SECS`
/// of its rotation returns the same successor (concurrent refreshes of two
/// tabs); later, or once that successor was itself used, it revokes its family.
pub async fn refresh(
    store: &Store,
    app_id: &str,
    presented: &str,
    policy: RefreshPolicy<'_>,
) -> Result<Refresh> {
    for attempt in 0..REFRESH_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(15 << attempt)).await;
        }
        match refresh_once(store, app_id, presented, policy).await? {
            Some(outcome) => return Ok(outcome),
            // Lost a race with a concurrent refresh or write: read again.
            None => continue,
        }
    }
    Err(Error::Conflict(
        "the session is being refreshed concurrently; retry".into(),
    ))
}

/// One try; `None` when a concurrent request interfered and a re-read decides.
async fn refresh_once(
    store: &Store,
    app_id: &str,
    presented: &str,
    policy: RefreshPolicy<'_>,
) -> Result<Option<Refresh>> {
    let table = store.sessions_table()?;
    let unauthorized = || Error::Unauthorized("invalid refresh token".into());
    let now_ms = clock::now_millis();
    let now = now_ms.div_euclid(1000);
    let old_hash = secret::sha256_hex(presented);
    let old = get(store, &keys::refresh_token_pk(&old_hash))
        .await?
        .ok_or_else(unauthorized)?;
    let session = session_of(&old)?;
    // TTL deletion lags by up to days, so expiry is checked here as well.
    if session.app_id != app_id || attr::opt_i64(&old, ttl_attr()).is_none_or(|at| at <= now) {
        return Err(unauthorized());
    }
    let family_pk = keys::family_pk(&session.family_id);
    let family = get(store, &family_pk).await?.ok_or_else(unauthorized)?;
    if attr::get_bool(&family, "revoked") {
        return Err(unauthorized());
    }
    let session_ends = attr::opt_i64(&family, "createdAt").unwrap_or(0) + policy.max_session_secs;
    if session_ends <= now {
        return Err(Error::Unauthorized(
            "the session reached its maximum lifetime; sign in again".into(),
        ));
    }
    let token = successor_of(policy.successor_key, presented);
    let token_hash = secret::sha256_hex(&token);
    if attr::get_bool(&old, "rotated") {
        let rotated_at = attr::opt_i64(&old, "rotatedAt").unwrap_or(0);
        let same_successor = attr::opt_s(&old, "successorHash").as_deref() == Some(&token_hash);
        if same_successor && now - rotated_at <= REFRESH_GRACE_SECS {
            let successor = get(store, &keys::refresh_token_pk(&token_hash)).await?;
            if let Some(successor) = successor.filter(|s| !attr::get_bool(s, "rotated")) {
                return Ok(Some(Refresh::Rotated(IssuedRefresh {
                    session,
                    token,
                    expires_at: attr::opt_i64(&successor, ttl_attr()).unwrap_or(now),
                    issued_ms: attr::opt_i64(&successor, ISSUED_MS).unwrap_or(now_ms),
                })));
            }
        }
        revoke_family(store, &session.family_id).await?;
        return Ok(Some(Refresh::ReuseDetected(session)));
    }
    let expires_at = (now + policy.ttl_secs).min(session_ends);
    let mark_rotated = Update::builder()
        .table_name(table)
        .key(
            SESSIONS.partition_key,
            attr::s(keys::refresh_token_pk(&old_hash)),
        )
        .update_expression("SET rotated = :true, rotatedAt = :now, successorHash = :next")
        .condition_expression("attribute_exists(#pk) AND attribute_not_exists(rotated)")
        .expression_attribute_names("#pk", SESSIONS.partition_key)
        .expression_attribute_values(":true", attr::b(true))
        .expression_attribute_values(":now", attr::n(now))
        .expression_attribute_values(":next", attr::s(&token_hash))
        .build()
        .map_err(|e| Error::internal("build update", e))?;
    let extend_family = Update::builder()
        .table_name(table)
        .key(SESSIONS.partition_key, attr::s(&family_pk))
        .update_expression("SET #ttl = :exp")
        .condition_expression("revoked = :false")
        .expression_attribute_names("#ttl", ttl_attr())
        .expression_attribute_values(":exp", attr::n(expires_at))
        .expression_attribute_values(":false", attr::b(false))
        .build()
        .map_err(|e| Error::internal("build update", e))?;
    let items = vec![
        TransactWriteItem::builder().update(mark_rotated).build(),
        put(table, token_item(&session, &token, expires_at, now_ms))?,
        TransactWriteItem::builder().update(extend_family).build(),
    ];
    let result = store
        .client
        .transact_write_items()
        .set_transact_items(Some(items))
        .send()
        .await;
    match result {
        Ok(_) => Ok(Some(Refresh::Rotated(IssuedRefresh {
            session,
            token,
            expires_at,
            issued_ms: now_ms,
        }))),
        Err(err) => {
            let reasons = cancellation_codes(&err);
            let failed =
                |i: usize| reasons.get(i).map(String::as_str) == Some("ConditionalCheckFailed");
            if failed(2) {
                Err(unauthorized())
            } else if failed(0)
                || failed(1)
                || reasons.iter().any(|r| r == "TransactionConflict")
                || is_transaction_conflict(&err)
            {
                // Another request rotated this token (or held its items):
                // the re-read sees the rotation and answers within the grace.
                Ok(None)
            } else {
                Err(Error::sdk("rotate refresh token", err))
            }
        }
    }
}

fn is_transaction_conflict<R>(
    err: &aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError, R>,
) -> bool {
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "TransactionConflictException")
}

/// Revokes the session a refresh token of `app_id` belongs to (logout).
/// Returns the session, or `Unauthorized` for an unknown or other-app token.
pub async fn revoke_by_token(store: &Store, app_id: &str, presented: &str) -> Result<Session> {
    let pk = keys::refresh_token_pk(&secret::sha256_hex(presented));
    let item = get(store, &pk).await?;
    match item.as_ref().map(session_of).transpose()? {
        Some(session) if session.app_id == app_id => {
            revoke_family(store, &session.family_id).await?;
            Ok(session)
        }
        _ => Err(Error::Unauthorized("invalid refresh token".into())),
    }
}

/// Marks a family revoked; every token of it stops working.
pub async fn revoke_family(store: &Store, family_id: &str) -> Result<()> {
    store
        .client
        .update_item()
        .table_name(store.sessions_table()?)
        .key(SESSIONS.partition_key, attr::s(keys::family_pk(family_id)))
        .update_expression("SET revoked = :true")
        .condition_expression("attribute_exists(#pk)")
        .expression_attribute_names("#pk", SESSIONS.partition_key)
        .expression_attribute_values(":true", attr::b(true))
        .send()
        .await
        // Already gone: nothing left to revoke.
        .ok_if_condition_failed("revoke session")
        .map(|_| ())
}

/// Revokes every session of a user (e.g. after disabling the account).
pub async fn revoke_all_for_user(store: &Store, app_id: &str, user_id: &str) -> Result<usize> {
    let mut count = 0;
    let mut start = None;
    loop {
        let out = store
            .client
            .query()
            .table_name(store.sessions_table()?)
            .index_name(SESSIONS_BY_USER.name)
            .key_condition_expression("#u = :u")
            .expression_attribute_names("#u", SESSIONS_BY_USER.partition_key)
            .expression_attribute_values(":u", attr::s(keys::session_user_pk(app_id, user_id)))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| Error::sdk("list sessions", e))?;
        for item in out.items() {
            revoke_family(store, &attr::get_s(item, "familyId")?).await?;
            count += 1;
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            return Ok(count);
        }
    }
}

/// Attribute of a token item: when it was issued, epoch milliseconds.
const ISSUED_MS: &str = "issuedMs";

fn token_item(session: &Session, token: &str, expires_at: i64, issued_ms: i64) -> Item {
    let mut item = Item::new();
    item.insert(
        SESSIONS.partition_key.into(),
        attr::s(keys::refresh_token_pk(&secret::sha256_hex(token))),
    );
    item.insert("familyId".into(), attr::s(&session.family_id));
    item.insert("appId".into(), attr::s(&session.app_id));
    item.insert("userId".into(), attr::s(&session.user_id));
    item.insert(ttl_attr().into(), attr::n(expires_at));
    item.insert(ISSUED_MS.into(), attr::n(issued_ms));
    item
}

fn session_of(item: &Item) -> Result<Session> {
    Ok(Session {
        family_id: attr::get_s(item, "familyId")?,
        app_id: attr::get_s(item, "appId")?,
        user_id: attr::get_s(item, "userId")?,
    })
}

fn put(table: &str, item: Item) -> Result<TransactWriteItem> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#pk)")
        .expression_attribute_names("#pk", SESSIONS.partition_key)
        .build()
        .map_err(|e| Error::internal("build put", e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

async fn get(store: &Store, pk: &str) -> Result<Option<Item>> {
    let out = store
        .client
        .get_item()
        .table_name(store.sessions_table()?)
        .key(SESSIONS.partition_key, attr::s(pk))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| Error::sdk("get session", e))?;
    Ok(out.item)
}

fn ttl_attr() -> &'static str {
    SESSIONS.ttl_attribute.unwrap_or("expiresAt")
}

/// The per-item cancellation codes of a cancelled transaction, in item order.
pub(crate) fn cancellation_codes<R>(
    err: &aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError, R>,
) -> Vec<String> {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => e
            .cancellation_reasons()
            .iter()
            .map(|r| r.code().unwrap_or("None").to_owned())
            .collect(),
        _ => Vec::new(),
    }
}
