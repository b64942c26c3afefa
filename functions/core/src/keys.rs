//! Key values of the item layouts documented in `tables.rs`, built in one place.
//!
//! Every partition key starts with the app id (or is a hash resolving to one
//! app), so no request can reach another app's items by construction.

/// `USERS.pk` of every item of one app: `APP#{appId}`.
pub fn users_pk(app_id: &str) -> String {
    format!("APP#{app_id}")
}

/// `USERS.sk` of a user: `USER#{userId}`.
pub fn user_sk(user_id: &str) -> String {
    format!("USER#{user_id}")
}

/// `USERS.sk` of the e-mail uniqueness guard: `EMAIL#{lowercased e-mail}`.
pub fn email_sk(email_lower: &str) -> String {
    format!("EMAIL#{email_lower}")
}

/// `SESSIONS.pk` of one issued refresh token: `T#{token hash}`.
pub fn refresh_token_pk(token_hash: &str) -> String {
    format!("T#{token_hash}")
}

/// `SESSIONS.pk` of a session family: `F#{familyId}`.
pub fn family_pk(family_id: &str) -> String {
    format!("F#{family_id}")
}

/// `LIMITS.pk` of one subject's counter in the window starting at `window_start`.
pub fn limit_pk(app_id: &str, subject: &str, window_start: i64) -> String {
    format!("L#{app_id}#{subject}#{window_start}")
}

/// `SESSIONS.pk` of a one-time token (password reset, e-mail verification): `OT#{token hash}`.
pub fn one_time_token_pk(token_hash: &str) -> String {
    format!("OT#{token_hash}")
}

/// `NOTIFICATIONS.pk` of an app's notifications, idempotency keys and quotas: `N#{appId}`.
pub fn notifications_pk(app_id: &str) -> String {
    format!("N#{app_id}")
}

/// `NOTIFICATIONS.sk` of one notification: `N#{notificationId}`.
pub fn notification_sk(notification_id: &str) -> String {
    format!("N#{notification_id}")
}

/// `NOTIFICATIONS.sk` of an `Idempotency-Key`: `I#{key}`.
pub fn idempotency_sk(key: &str) -> String {
    format!("I#{key}")
}

/// `NOTIFICATIONS.sk` of a daily send count: `Q#{channel}#{UTC day}`.
pub fn quota_sk(channel: &str, day: &str) -> String {
    format!("Q#{channel}#{day}")
}

/// `NOTIFICATIONS.pk` of an app's suppression list: `S#{appId}` (`sk` = the address).
pub fn suppressions_pk(app_id: &str) -> String {
    format!("S#{app_id}")
}

/// `SESSIONS.userPk` (index `byUser`): `{appId}#{userId}`.
pub fn session_user_pk(app_id: &str, user_id: &str) -> String {
    format!("{app_id}#{user_id}")
}

/// `AUDIT.sk`: `{RFC 3339 time}#{event id}`, so a reverse Query is newest first.
pub fn audit_sk(at_rfc3339: &str, event_id: &str) -> String {
    format!("{at_rfc3339}#{event_id}")
}

/// `AUDIT.actorPk` (index `byActor`): `{appId}#{actor}`.
pub fn audit_actor_pk(app_id: &str, actor: &str) -> String {
    format!("{app_id}#{actor}")
}

/// `DATA.pk` of one app's records of one resource: `R#{appId}#{resource}`.
pub fn records_pk(app_id: &str, resource: &str) -> String {
    format!("R#{app_id}#{resource}")
}

/// `DATA.pk` of an app's resource registry: `RS#{appId}` (`sk` = resource name).
pub fn resources_pk(app_id: &str) -> String {
    format!("RS#{app_id}")
}

/// `DATA.pk` of the index entries of one field value: `IX#{appId}#{resource}#{field}#{value}`.
pub fn index_pk(app_id: &str, resource: &str, field: &str, value: &str) -> String {
    format!("IX#{app_id}#{resource}#{field}#{value}")
}

/// `DATA.ownerPk` (index `byOwner`): `{appId}#{resource}#{ownerId}`.
pub fn owner_pk(app_id: &str, resource: &str, owner_id: &str) -> String {
    format!("{app_id}#{resource}#{owner_id}")
}

/// `CONNECTIONS.pk` of a connection's own items: `C#{connectionId}`.
pub fn connection_pk(connection_id: &str) -> String {
    format!("C#{connection_id}")
}

/// `CONNECTIONS.pk` of a channel's members: `CH#{appId}#{channel}`.
pub fn channel_pk(app_id: &str, channel: &str) -> String {
    format!("CH#{app_id}#{channel}")
}

/// `CONNECTIONS.sk` of a connection's subscription marker: `SUB#{channel}`.
pub fn subscription_sk(channel: &str) -> String {
    format!("SUB#{channel}")
}

/// `FILES.pk` of an app's file metadata: `F#{appId}`.
pub fn files_pk(app_id: &str) -> String {
    format!("F#{app_id}")
}

/// `FILES.ownerPk` (index `byOwner`): `{appId}#{ownerId}`.
pub fn file_owner_pk(app_id: &str, owner_id: &str) -> String {
    format!("{app_id}#{owner_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_tables_doc() {
        assert_eq!(users_pk("shop"), "APP#shop");
        assert_eq!(email_sk("a@b.c"), "EMAIL#a@b.c");
        assert_eq!(limit_pk("shop", "req:app", 60), "L#shop#req:app#60");
        assert_eq!(session_user_pk("shop", "u1"), "shop#u1");
        assert_eq!(
            audit_sk("2024-01-01T00:00:00.000Z", "e"),
            "2024-01-01T00:00:00.000Z#e"
        );
        assert_eq!(records_pk("shop", "notes"), "R#shop#notes");
        assert_eq!(channel_pk("shop", "room:a"), "CH#shop#room:a");
        assert_eq!(connection_pk("c1"), "C#c1");
        assert_eq!(resources_pk("shop"), "RS#shop");
        assert_eq!(
            index_pk("shop", "notes", "tag", "a#b"),
            "IX#shop#notes#tag#a#b"
        );
        assert_eq!(owner_pk("shop", "notes", "u1"), "shop#notes#u1");
        assert_eq!(one_time_token_pk("ab"), "OT#ab");
        assert_eq!(notifications_pk("shop"), "N#shop");
        assert_eq!(quota_sk("email", "2027-01-01"), "Q#email#2027-01-01");
        assert_eq!(suppressions_pk("shop"), "S#shop");
    }
}
