//! The DynamoDB client and the resolved physical table names, built once per cold start.

use aws_sdk_dynamodb::Client;

use crate::error::{Error, Result};
use crate::tables::{self, TableDef};

/// Physical names of the tables this crate reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    pub apps: String,
    pub users: String,
    pub api_keys: String,
    pub config: String,
    pub audit: String,
    pub sessions: String,
    pub data: String,
    pub connections: String,
    pub files: String,
    pub notifications: String,
    pub limits: String,
    pub webhooks: String,
}

impl Tables {
    /// The tables a function declares, by the names its environment carries
    /// (`TableDef::env_var`). Tables it does not declare stay unnamed and fail
    /// on first use, naming the table.
    pub fn from_function_env(env: &crate::env::FunctionEnv) -> Self {
        Self::from_lookup(|def| env.table(def))
    }

    /// Resolves each table through `lookup` (obctl passes the stack outputs,
    /// keyed by `TableDef::output`; the tests pass the names they created).
    pub fn from_lookup(lookup: impl Fn(&TableDef) -> Option<String>) -> Self {
        let name = |def: &TableDef| lookup(def).unwrap_or_default();
        Self {
            apps: name(&tables::APPS),
            users: name(&tables::USERS),
            api_keys: name(&tables::API_KEYS),
            config: name(&tables::CONFIG),
            audit: name(&tables::AUDIT),
            sessions: name(&tables::SESSIONS),
            data: name(&tables::DATA),
            connections: name(&tables::CONNECTIONS),
            files: name(&tables::FILES),
            notifications: name(&tables::NOTIFICATIONS),
            limits: name(&tables::LIMITS),
            webhooks: name(&tables::WEBHOOKS),
        }
    }

    /// Names every table `{prefix}{logical id}`: what the test fixtures create.
    pub fn from_prefix(prefix: &str) -> Self {
        Self::from_lookup(|def| Some(format!("{prefix}{}", def.logical_id)))
    }

    /// Fails when a table needed by an operation was not configured.
    pub(crate) fn require<'a>(name: &'a str, def: &TableDef) -> Result<&'a str> {
        if name.is_empty() {
            Err(Error::Internal(format!(
                "table {} is not configured ({} unset: is it among the function's tables in functions.rs?)",
                def.logical_id, def.env_var
            )))
        } else {
            Ok(name)
        }
    }
}

/// What every storage operation needs: one client, one set of table names.
#[derive(Debug, Clone)]
pub struct Store {
    pub client: Client,
    pub tables: Tables,
}

impl Store {
    pub fn new(client: Client, tables: Tables) -> Self {
        Self { client, tables }
    }

    pub(crate) fn apps_table(&self) -> Result<&str> {
        Tables::require(&self.tables.apps, &tables::APPS)
    }
    pub(crate) fn users_table(&self) -> Result<&str> {
        Tables::require(&self.tables.users, &tables::USERS)
    }
    pub(crate) fn api_keys_table(&self) -> Result<&str> {
        Tables::require(&self.tables.api_keys, &tables::API_KEYS)
    }
    pub(crate) fn config_table(&self) -> Result<&str> {
        Tables::require(&self.tables.config, &tables::CONFIG)
    }
    pub(crate) fn audit_table(&self) -> Result<&str> {
        Tables::require(&self.tables.audit, &tables::AUDIT)
    }
    pub(crate) fn sessions_table(&self) -> Result<&str> {
        Tables::require(&self.tables.sessions, &tables::SESSIONS)
    }
    pub(crate) fn data_table(&self) -> Result<&str> {
        Tables::require(&self.tables.data, &tables::DATA)
    }
    pub(crate) fn connections_table(&self) -> Result<&str> {
        Tables::require(&self.tables.connections, &tables::CONNECTIONS)
    }
    pub(crate) fn files_table(&self) -> Result<&str> {
        Tables::require(&self.tables.files, &tables::FILES)
    }
    pub(crate) fn notifications_table(&self) -> Result<&str> {
        Tables::require(&self.tables.notifications, &tables::NOTIFICATIONS)
    }
    pub(crate) fn limits_table(&self) -> Result<&str> {
        Tables::require(&self.tables.limits, &tables::LIMITS)
    }
    pub(crate) fn webhooks_table(&self) -> Result<&str> {
        Tables::require(&self.tables.webhooks, &tables::WEBHOOKS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_uses_table_defs() {
        let tables = Tables::from_lookup(|def| Some(def.output.to_owned()));
        assert_eq!(tables.users, "UsersTableName");
        assert_eq!(Tables::from_prefix("t1-").audit, "t1-AuditTable");
        assert!(Tables::require("", &tables::USERS).is_err());
    }
}
