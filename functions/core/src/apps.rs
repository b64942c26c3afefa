//! Registered apps: the tenants. Every other record is scoped by an app's id.

use serde::{Deserialize, Serialize};

use crate::attr::{self, Item};
use crate::clock;
use crate::error::{Error, Result};
use crate::store::Store;
use crate::tables;

/// Whether an app may be used. A suspended app's keys and tokens stop working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppState {
    Active,
    Suspended,
}

impl AppState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }

    fn parse(text: &str) -> Self {
        // Anything unknown counts as suspended: fail closed.
        if text == "active" {
            Self::Active
        } else {
            Self::Suspended
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct App {
    pub app_id: String,
    pub name: String,
    /// Browser origins registered for the app by the operator.
    pub origins: Vec<String>,
    pub contact: Option<String>,
    pub state: AppState,
    pub created_at: String,
}

/// App ids appear inside composite keys (`APP#{appId}`, `{appId}#…`), so they
/// are restricted to characters that can never contain a separator.
pub fn validate_app_id(app_id: &str) -> Result<()> {
    let ok = (2..=64).contains(&app_id.len())
        && app_id
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && app_id
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "appId",
            "must be 2 to 64 characters of a-z, 0-9 and '-', starting with a letter or digit",
        ))
    }
}

/// Validates a browser origin: `scheme://host[:port]`, http or https, no path.
pub fn validate_origin(field: &str, origin: &str) -> Result<()> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    let ok = rest.is_some_and(|host| {
        !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b':' | b'[' | b']'))
    });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            "origins are scheme://host[:port] with http or https and no path",
        ))
    }
}

/// Registers a new app; fails with `Conflict` when the id is taken.
pub async fn create(store: &Store, app_id: &str, name: &str, origins: &[String]) -> Result<App> {
    validate_app_id(app_id)?;
    if name.trim().is_empty() || name.len() > 200 {
        return Err(Error::invalid("name", "must be 1 to 200 characters"));
    }
    for origin in origins {
        validate_origin("origins", origin)?;
    }
    let app = App {
        app_id: app_id.to_owned(),
        name: name.trim().to_owned(),
        origins: origins.to_vec(),
        contact: None,
        state: AppState::Active,
        created_at: clock::now_rfc3339(),
    };
    let result = store
        .client
        .put_item()
        .table_name(store.apps_table()?)
        .set_item(Some(to_item(&app)))
        .condition_expression("attribute_not_exists(#id)")
        .expression_attribute_names("#id", tables::APPS.partition_key)
        .send()
        .await;
    match result {
        Ok(_) => Ok(app),
        Err(err) if is_conditional_failure(&err) => {
            Err(Error::Conflict(format!("app {app_id} already exists")))
        }
        Err(err) => Err(Error::sdk("create app", err)),
    }
}

/// Reads one app; `None` when it does not exist.
pub async fn get(store: &Store, app_id: &str) -> Result<Option<App>> {
    let out = store
        .client
        .get_item()
        .table_name(store.apps_table()?)
        .key(tables::APPS.partition_key, attr::s(app_id))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| Error::sdk("get app", e))?;
    out.item.as_ref().map(from_item).transpose()
}

/// Activates or suspends an app (operator action).
pub async fn set_state(store: &Store, app_id: &str, state: AppState) -> Result<()> {
    let result = store
        .client
        .update_item()
        .table_name(store.apps_table()?)
        .key(tables::APPS.partition_key, attr::s(app_id))
        .update_expression("SET #state = :state")
        .condition_expression("attribute_exists(#id)")
        .expression_attribute_names("#state", "state")
        .expression_attribute_names("#id", tables::APPS.partition_key)
        .expression_attribute_values(":state", attr::s(state.as_str()))
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(err) if is_conditional_failure(&err) => Err(Error::NotFound(format!("app {app_id}"))),
        Err(err) => Err(Error::sdk("set app state", err)),
    }
}

/// Every app, sorted by id. A Scan: fine on this operator path (`obctl apps
/// list`) because the apps table is tiny; request paths never call it.
pub async fn list(store: &Store) -> Result<Vec<App>> {
    let mut apps = Vec::new();
    let mut start = None;
    loop {
        let out = store
            .client
            .scan()
            .table_name(store.apps_table()?)
            .set_exclusive_start_key(start)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::sdk("list apps", e))?;
        for item in out.items() {
            apps.push(from_item(item)?);
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    apps.sort_by(|a, b| a.app_id.cmp(&b.app_id));
    Ok(apps)
}

/// What an operator may change on an app; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppUpdate {
    pub name: Option<String>,
    pub origins: Option<Vec<String>>,
    /// `Some("")` removes the contact.
    pub contact: Option<String>,
    pub state: Option<AppState>,
}

impl AppUpdate {
    /// Names of the fields this update sets (for the audit log).
    pub fn fields(&self) -> Vec<String> {
        [
            ("name", self.name.is_some()),
            ("origins", self.origins.is_some()),
            ("contact", self.contact.is_some()),
            ("state", self.state.is_some()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(f, _)| f.to_owned())
        .collect()
    }
}

/// Applies an operator's update to an existing app and returns the result.
pub async fn update(store: &Store, app_id: &str, change: &AppUpdate) -> Result<App> {
    let mut app = get(store, app_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("app {app_id}")))?;
    if let Some(name) = &change.name {
        if name.trim().is_empty() || name.len() > 200 {
            return Err(Error::invalid("name", "must be 1 to 200 characters"));
        }
        app.name = name.trim().to_owned();
    }
    if let Some(origins) = &change.origins {
        for origin in origins {
            validate_origin("origins", origin)?;
        }
        app.origins.clone_from(origins);
    }
    if let Some(contact) = &change.contact {
        app.contact = Some(contact.trim().to_owned()).filter(|c| !c.is_empty());
    }
    if let Some(state) = change.state {
        app.state = state;
    }
    let result = store
        .client
        .put_item()
        .table_name(store.apps_table()?)
        .set_item(Some(to_item(&app)))
        .condition_expression("attribute_exists(#id)")
        .expression_attribute_names("#id", tables::APPS.partition_key)
        .send()
        .await;
    match result {
        Ok(_) => Ok(app),
        Err(err) if is_conditional_failure(&err) => Err(Error::NotFound(format!("app {app_id}"))),
        Err(err) => Err(Error::sdk("update app", err)),
    }
}

pub(crate) fn is_conditional_failure<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

fn to_item(app: &App) -> Item {
    let mut item = Item::new();
    item.insert(tables::APPS.partition_key.into(), attr::s(&app.app_id));
    item.insert("name".into(), attr::s(&app.name));
    item.insert("origins".into(), attr::list_s(&app.origins));
    if let Some(contact) = &app.contact {
        item.insert("contact".into(), attr::s(contact));
    }
    item.insert("state".into(), attr::s(app.state.as_str()));
    item.insert("createdAt".into(), attr::s(&app.created_at));
    item
}

fn from_item(item: &Item) -> Result<App> {
    Ok(App {
        app_id: attr::get_s(item, tables::APPS.partition_key)?,
        name: attr::opt_s(item, "name").unwrap_or_default(),
        origins: attr::get_list_s(item, "origins"),
        contact: attr::opt_s(item, "contact"),
        state: AppState::parse(&attr::opt_s(item, "state").unwrap_or_default()),
        created_at: attr::opt_s(item, "createdAt").unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_ids_cannot_hold_separators() {
        assert!(validate_app_id("shop-1").is_ok());
        for bad in ["a", "Shop", "a#b", "-ab", "a b", "a/b", ""] {
            assert!(validate_app_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn origins_have_no_path() {
        assert!(validate_origin("o", "https://app.example.com").is_ok());
        assert!(validate_origin("o", "http://localhost:5173").is_ok());
        for bad in [
            "ftp://x",
            "https://x/",
            "https://x/path",
            "x.com",
            "https://",
            "*",
        ] {
            assert!(validate_origin("o", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn items_round_trip() {
        let app = App {
            app_id: "shop".into(),
            name: "Shop".into(),
            origins: vec!["https://shop.example".into()],
            contact: Some("ops@shop.example".into()),
            state: AppState::Active,
            created_at: "2024-01-01T00:00:00.000Z".into(),
        };
        assert_eq!(from_item(&to_item(&app)).unwrap(), app);
    }
}
