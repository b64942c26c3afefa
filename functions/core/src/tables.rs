//! Every DynamoDB table, key attribute and index of the stack, defined once.
//!
//! The CloudFormation fragments in `templates/` declare these tables; a test of
//! `obctl render` checks that the rendered key schemas match these definitions,
//! so handlers, the CLI and the template cannot drift apart. Every partition key
//! starts with the app id (or is a hash that resolves to exactly one app), so a
//! request only ever touches its own app's partitions.

/// A table of the stack, as the handlers and the CLI see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableDef {
    /// Logical id of the `AWS::DynamoDB::Table` resource in the template.
    pub logical_id: &'static str,
    /// Environment variable through which a function receives the physical name.
    pub env_var: &'static str,
    /// Stack output that carries the physical name (the CLI finds tables through it).
    pub output: &'static str,
    pub partition_key: &'static str,
    pub sort_key: Option<&'static str>,
    pub indexes: &'static [IndexDef],
    /// Attribute holding the epoch-seconds expiry, when the table expires items.
    pub ttl_attribute: Option<&'static str>,
    /// Whether the table streams new and old images (for realtime fan-out).
    pub stream: bool,
}

/// A global secondary index; every index projects all attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexDef {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: Option<&'static str>,
}

/// Registered apps. Item: `appId` → name, origins, contact, state.
pub const APPS: TableDef = TableDef {
    logical_id: "AppsTable",
    env_var: "APPS_TABLE",
    output: "AppsTableName",
    partition_key: "appId",
    sort_key: None,
    indexes: &[],
    ttl_attribute: None,
    stream: false,
};

/// Users per app. Items: `pk=APP#{appId}`, `sk=USER#{userId}` (the user) and
/// `sk=EMAIL#{lowercased e-mail}` (the uniqueness guard, written in the same
/// transaction as the user so two registrations cannot both succeed).
pub const USERS: TableDef = TableDef {
    logical_id: "UsersTable",
    env_var: "USERS_TABLE",
    output: "UsersTableName",
    partition_key: "pk",
    sort_key: Some("sk"),
    indexes: &[],
    ttl_attribute: None,
    stream: false,
};

/// Owner lookups on the data table: `ownerPk = {appId}#{resource}#{ownerId}`.
pub const DATA_BY_OWNER: IndexDef = IndexDef {
    name: "byOwner",
    partition_key: "ownerPk",
    sort_key: Some("sk"),
};

/// Generic records. Record items: `pk=R#{appId}#{resource}`, `sk={id}` (ids are
/// time-sortable, so a Query lists by creation time). Index entries for fields an
/// app declares as indexed: `pk=IX#{appId}#{resource}#{field}#{value}`, `sk={id}`,
/// written in the same transaction as the record. A record item also carries
/// `ownerPk`, `ownerId`, `resource`, `createdAt`, `updatedAt`, `version` (the
/// `If-Match` condition), `data` (a JSON string), `readers`, `writers` and
/// `ixKeys` (the index partitions it has entries in); see `data/item.rs`.
/// Resource registry: `pk=RS#{appId}`, `sk={resource}` (key only), put
/// unconditionally just before every record create (see `data/write.rs` for why
/// not inside its transaction), so the resources an app stored records of are
/// found by one Query; `obctl apps delete` walks them and removes each entry
/// after its record partition.
pub const DATA: TableDef = TableDef {
    logical_id: "DataTable",
    env_var: "DATA_TABLE",
    output: "DataTableName",
    partition_key: "pk",
    sort_key: Some("sk"),
    indexes: &[DATA_BY_OWNER],
    ttl_attribute: None,
    stream: true,
};

/// Key lookup by SHA-256 of the presented key: `keyHash`.
pub const API_KEYS_BY_HASH: IndexDef = IndexDef {
    name: "byHash",
    partition_key: "keyHash",
    sort_key: None,
};

/// API keys. Item: `appId`, `keyId` → name, scopes, `keyHash`, expiry, state.
pub const API_KEYS: TableDef = TableDef {
    logical_id: "ApiKeysTable",
    env_var: "API_KEYS_TABLE",
    output: "ApiKeysTableName",
    partition_key: "appId",
    sort_key: Some("keyId"),
    indexes: &[API_KEYS_BY_HASH],
    ttl_attribute: None,
    stream: false,
};

/// Per-app config. Item: `appId` → version, feature flags, origins, declarations.
pub const CONFIG: TableDef = TableDef {
    logical_id: "ConfigTable",
    env_var: "CONFIG_TABLE",
    output: "ConfigTableName",
    partition_key: "appId",
    sort_key: None,
    indexes: &[],
    ttl_attribute: None,
    stream: false,
};

/// Audit lookups per actor: `actorPk = {appId}#{actor}`.
pub const AUDIT_BY_ACTOR: IndexDef = IndexDef {
    name: "byActor",
    partition_key: "actorPk",
    sort_key: Some("sk"),
};

/// Audit log. Item: `appId`, `sk={RFC 3339 time}#{event id}` (newest-first by
/// reverse Query), expired by TTL after the stage's retention.
pub const AUDIT: TableDef = TableDef {
    logical_id: "AuditTable",
    env_var: "AUDIT_TABLE",
    output: "AuditTableName",
    partition_key: "appId",
    sort_key: Some("sk"),
    indexes: &[AUDIT_BY_ACTOR],
    ttl_attribute: Some("expiresAt"),
    stream: false,
};

/// Sessions of one user: `userPk = {appId}#{userId}` (for revoking them all).
pub const SESSIONS_BY_USER: IndexDef = IndexDef {
    name: "byUser",
    partition_key: "userPk",
    sort_key: None,
};

/// Refresh sessions and one-time tokens, expired by TTL. Items:
/// `pk=T#{refresh token hash}` (one per issued token), `pk=F#{family id}` (the
/// session family, revoked as a whole on token reuse), `pk=OT#{token hash}` (a
/// password-reset or e-mail-verification token: purpose, app, user, e-mail,
/// used once; see `auth_tokens.rs`). (Failed-login counters of older versions,
/// `pk=L#{appId}#{subject}`, expire by TTL; counters now live in `LIMITS`.)
pub const SESSIONS: TableDef = TableDef {
    logical_id: "SessionsTable",
    env_var: "SESSIONS_TABLE",
    output: "SessionsTableName",
    partition_key: "pk",
    sort_key: None,
    indexes: &[SESSIONS_BY_USER],
    ttl_attribute: Some("expiresAt"),
    stream: false,
};

/// Abuse counters, one item per subject and fixed window, expired by TTL when
/// the window ends: `pk=L#{appId}#{subject}#{windowStart}` with `n` (the count).
/// Subjects: `login:{email}|{address}` and `login:{email}` (login attempts),
/// `register:{address}` (registrations), `req:app` and `req:ip:{address}`
/// (requests; see `limits.rs` and ob-api's `limits.rs`).
pub const LIMITS: TableDef = TableDef {
    logical_id: "LimitsTable",
    env_var: "LIMITS_TABLE",
    output: "LimitsTableName",
    partition_key: "pk",
    sort_key: None,
    indexes: &[],
    ttl_attribute: Some("expiresAt"),
    stream: false,
};

/// An app's open connections, by user: `appId`, `userId`. Only a
/// connection's own item (`sk=META`) carries both attributes, so the index
/// holds nothing else. Revocation finds what to close through it: a user's
/// connections (`userId = :user`), an app's (the whole partition), a key's
/// (the partition, filtered on `keyId`: keys are revoked rarely and an app
/// has few). One index, not one per question: CloudFormation adds one GSI per
/// table update.
pub const CONNECTIONS_BY_APP: IndexDef = IndexDef {
    name: "byApp",
    partition_key: "appId",
    sort_key: Some("userId"),
};

/// WebSocket connections and subscriptions, expired by TTL. Items:
/// `pk=C#{connectionId}`, `sk=META` (the connection: app, user, role, the API
/// key it connected with and the management endpoint that reaches it);
/// `pk=CH#{appId}#{channel}`, `sk={connectionId}` (lookup per app and channel);
/// `pk=C#{connectionId}`, `sk=SUB#{channel}` (cleanup on disconnect).
pub const CONNECTIONS: TableDef = TableDef {
    logical_id: "ConnectionsTable",
    env_var: "CONNECTIONS_TABLE",
    output: "ConnectionsTableName",
    partition_key: "pk",
    sort_key: Some("sk"),
    indexes: &[CONNECTIONS_BY_APP],
    ttl_attribute: Some("expiresAt"),
    stream: false,
};

/// Files of one uploader: `ownerPk = {appId}#{ownerId}`.
pub const FILES_BY_OWNER: IndexDef = IndexDef {
    name: "byOwner",
    partition_key: "ownerPk",
    sort_key: Some("sk"),
};

/// File metadata, so listing is a Query. Item: `pk=F#{appId}`, `sk={object key}`.
pub const FILES: TableDef = TableDef {
    logical_id: "FilesTable",
    env_var: "FILES_TABLE",
    output: "FilesTableName",
    partition_key: "pk",
    sort_key: Some("sk"),
    indexes: &[FILES_BY_OWNER],
    ttl_attribute: None,
    stream: false,
};

/// Notifications an app sends and what the notify function keeps for them.
/// Items: `pk=N#{appId}`, `sk=N#{notificationId}` (one delivery: channel,
/// recipient, content, status, provider message id; expires after 30 days);
/// `pk=N#{appId}`, `sk=I#{idempotency key}` (the request an `Idempotency-Key`
/// answered, 24 hours); `pk=N#{appId}`, `sk=Q#{channel}#{UTC day}` (the app's
/// daily send count, 2 days); `pk=S#{appId}`, `sk={lowercased address}` (the
/// app's suppression list: bounced or complained addresses, kept until an
/// operator clears them). See `notify/store.rs`.
pub const NOTIFICATIONS: TableDef = TableDef {
    logical_id: "NotificationsTable",
    env_var: "NOTIFICATIONS_TABLE",
    output: "NotificationsTableName",
    partition_key: "pk",
    sort_key: Some("sk"),
    indexes: &[],
    ttl_attribute: Some("expiresAt"),
    stream: false,
};

/// App webhooks, one partition per app: `pk=W#{appId}`, `sk=S#{subscriptionId}`
/// (a subscription: URL, event types, resources, state, signing secrets; see
/// `webhooks/store.rs`), `sk=D#{deliveryId}` (the delivery log, expired by
/// TTL), and the per-record order of data events (`webhooks/lanes.rs`):
/// `sk=L#{subscriptionId}#{resource}/{recordId}` (a lane: the delivery in
/// flight, the last stream sequence admitted, how many are held; expired two
/// days after it goes idle, never while busy) and
/// `sk=H#{subscriptionId}#{resource}/{recordId}#{sequence}` (a held delivery,
/// the stream sequence zero-padded to 40 digits so they sort in stream order;
/// expired with the log).
pub const WEBHOOKS: TableDef = TableDef {
    logical_id: "WebhooksTable",
    env_var: "WEBHOOKS_TABLE",
    output: "WebhooksTableName",
    partition_key: "pk",
    sort_key: Some("sk"),
    indexes: &[],
    ttl_attribute: Some("expiresAt"),
    stream: false,
};

/// Every table of the stack, in template order.
pub const ALL: &[TableDef] = &[
    APPS,
    USERS,
    DATA,
    API_KEYS,
    CONFIG,
    AUDIT,
    SESSIONS,
    CONNECTIONS,
    FILES,
    LIMITS,
    NOTIFICATIONS,
    WEBHOOKS,
];

impl TableDef {
    /// Every attribute that takes part in a key of the table or one of its indexes.
    pub fn key_attributes(&self) -> Vec<&'static str> {
        let mut names = vec![self.partition_key];
        names.extend(self.sort_key);
        for index in self.indexes {
            names.push(index.partition_key);
            names.extend(index.sort_key);
        }
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Looks a table up by its logical id.
    pub fn by_logical_id(logical_id: &str) -> Option<&'static TableDef> {
        ALL.iter().find(|table| table.logical_id == logical_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut ids: Vec<_> = ALL.iter().map(|t| t.logical_id).collect();
        let mut envs: Vec<_> = ALL.iter().map(|t| t.env_var).collect();
        let mut outputs: Vec<_> = ALL.iter().map(|t| t.output).collect();
        for list in [&mut ids, &mut envs, &mut outputs] {
            let before = list.len();
            list.sort_unstable();
            list.dedup();
            assert_eq!(list.len(), before, "duplicate name in {list:?}");
        }
    }

    #[test]
    fn key_attributes_cover_indexes_once() {
        assert_eq!(DATA.key_attributes(), vec!["ownerPk", "pk", "sk"]);
        assert_eq!(APPS.key_attributes(), vec!["appId"]);
        assert_eq!(
            TableDef::by_logical_id("ApiKeysTable").map(|t| t.indexes[0].name),
            Some("byHash")
        );
    }
}
