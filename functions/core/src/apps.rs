//! Registered apps: the tenants. Every other record is scoped by an app's id.

mod validate;

use serde::{Deserialize, Serialize};

use crate::attr::{self, Item};
use crate::clock;
use crate::condition::OnConditionFailed;
use crate::error::{Error, Result};
use crate::store::Store;
use crate::tables;

pub use validate::{ORIGIN_PATTERN, validate_app_id, validate_domain, validate_origin};

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
    /// Domains the app is served on (lowercase DNS names, no scheme, port or path).
    pub domains: Vec<String>,
    pub contact: Option<String>,
    pub state: AppState,
    pub created_at: String,
    /// Incremented by every write; an update only lands over the version it read.
    pub version: u64,
}

/// What an operator registers a new app with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewApp {
    pub app_id: String,
    pub name: String,
    pub origins: Vec<String>,
    pub domains: Vec<String>,
    pub contact: Option<String>,
}

fn validate_name(name: &str) -> Result<String> {
    if name.trim().is_empty() || name.len() > 200 {
        return Err(Error::invalid("name", "must be 1 to 200 characters"));
    }
    Ok(name.trim().to_owned())
}

/// Validated domains, each once, in the order given.
fn checked_domains<'a>(domains: impl IntoIterator<Item = &'a String>) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for domain in domains {
        validate_domain("domains", domain)?;
        if !out.contains(domain) {
            out.push(domain.clone());
        }
    }
    Ok(out)
}

fn contact_of(contact: &str) -> Option<String> {
    Some(contact.trim().to_owned()).filter(|c| !c.is_empty())
}

/// Registers a new app with a name and origins; fails with `Conflict` when the id is taken.
pub async fn create(store: &Store, app_id: &str, name: &str, origins: &[String]) -> Result<App> {
    let new = NewApp {
        app_id: app_id.to_owned(),
        name: name.to_owned(),
        origins: origins.to_vec(),
        ..NewApp::default()
    };
    create_app(store, &new).await
}

/// Registers a new app in one conditional write; `Conflict` when the id is taken.
pub async fn create_app(store: &Store, new: &NewApp) -> Result<App> {
    validate_app_id(&new.app_id)?;
    let name = validate_name(&new.name)?;
    for origin in &new.origins {
        validate_origin("origins", origin)?;
    }
    let app = App {
        app_id: new.app_id.clone(),
        name,
        origins: new.origins.clone(),
        domains: checked_domains(&new.domains)?,
        contact: new.contact.as_deref().and_then(contact_of),
        state: AppState::Active,
        created_at: clock::now_rfc3339(),
        version: 1,
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
    result.on_condition_failed("create app", || {
        Error::Conflict(format!("app {} already exists", new.app_id))
    })?;
    Ok(app)
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

/// Activates or suspends an app (operator action); counts as a new version.
pub async fn set_state(store: &Store, app_id: &str, state: AppState) -> Result<()> {
    let result = store
        .client
        .update_item()
        .table_name(store.apps_table()?)
        .key(tables::APPS.partition_key, attr::s(app_id))
        .update_expression("SET #state = :state ADD version :one")
        .condition_expression("attribute_exists(#id)")
        .expression_attribute_names("#state", "state")
        .expression_attribute_names("#id", tables::APPS.partition_key)
        .expression_attribute_values(":state", attr::s(state.as_str()))
        .expression_attribute_values(":one", attr::n(1))
        .send()
        .await;
    result.on_condition_failed("set app state", || Error::NotFound(format!("app {app_id}")))?;
    Ok(())
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

/// Removes the app record itself (the last step of `obctl apps delete`, after
/// everything it owns). Deleting an app that is already gone succeeds.
pub async fn delete(store: &Store, app_id: &str) -> Result<()> {
    store
        .client
        .delete_item()
        .table_name(store.apps_table()?)
        .key(tables::APPS.partition_key, attr::s(app_id))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| Error::sdk("delete app", e))
}

/// What an operator may change on an app; `None` or empty leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppUpdate {
    pub name: Option<String>,
    pub origins: Option<Vec<String>>,
    /// Domains added (after `clear_domains` and removals).
    pub add_domains: Vec<String>,
    /// Domains removed; removing one the app does not have changes nothing.
    pub remove_domains: Vec<String>,
    /// Remove every domain first.
    pub clear_domains: bool,
    /// `Some("")` removes the contact.
    pub contact: Option<String>,
    pub state: Option<AppState>,
}

impl AppUpdate {
    /// Names of the fields this update sets (for the audit log).
    pub fn fields(&self) -> Vec<String> {
        let domains =
            self.clear_domains || !self.add_domains.is_empty() || !self.remove_domains.is_empty();
        [
            ("name", self.name.is_some()),
            ("origins", self.origins.is_some()),
            ("domains", domains),
            ("contact", self.contact.is_some()),
            ("state", self.state.is_some()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(f, _)| f.to_owned())
        .collect()
    }

    /// The app with this change applied (validated), one version later.
    pub fn apply(&self, current: &App) -> Result<App> {
        let mut app = current.clone();
        if let Some(name) = &self.name {
            app.name = validate_name(name)?;
        }
        if let Some(origins) = &self.origins {
            for origin in origins {
                validate_origin("origins", origin)?;
            }
            app.origins.clone_from(origins);
        }
        let added = checked_domains(&self.add_domains)?;
        if self.clear_domains {
            app.domains.clear();
        }
        app.domains.retain(|d| !self.remove_domains.contains(d));
        for domain in added {
            if !app.domains.contains(&domain) {
                app.domains.push(domain);
            }
        }
        if let Some(contact) = &self.contact {
            app.contact = contact_of(contact);
        }
        if let Some(state) = self.state {
            app.state = state;
        }
        app.version = current.version + 1;
        Ok(app)
    }
}

/// Applies an operator's update to an existing app and returns the result.
pub async fn update(store: &Store, app_id: &str, change: &AppUpdate) -> Result<App> {
    let current = get(store, app_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("app {app_id}")))?;
    update_from(store, &current, change).await
}

/// Applies `change` over `current`, as read: the write is conditional on the
/// stored version still being `current.version`, so of two concurrent updates
/// one fails with `Conflict` instead of silently undoing the other.
pub async fn update_from(store: &Store, current: &App, change: &AppUpdate) -> Result<App> {
    let app = change.apply(current)?;
    let app_id = &current.app_id;
    // Apps written before versions existed have none: they count as version 0.
    let condition = if current.version == 0 {
        "attribute_exists(#id) AND attribute_not_exists(version)"
    } else {
        "attribute_exists(#id) AND version = :expected"
    };
    let mut put = store
        .client
        .put_item()
        .table_name(store.apps_table()?)
        .set_item(Some(to_item(&app)))
        .condition_expression(condition)
        .expression_attribute_names("#id", tables::APPS.partition_key);
    if current.version != 0 {
        put = put.expression_attribute_values(":expected", attr::n(current.version));
    }
    match put.send().await.ok_if_condition_failed("update app")? {
        Some(_) => Ok(app),
        None => match get(store, app_id).await? {
            None => Err(Error::NotFound(format!("app {app_id}"))),
            Some(now) => Err(Error::Conflict(format!(
                "app {app_id} was changed by someone else while this update ran (version {} is now {}); nothing was written, re-run the update",
                current.version, now.version
            ))),
        },
    }
}

fn to_item(app: &App) -> Item {
    let mut item = Item::new();
    item.insert(tables::APPS.partition_key.into(), attr::s(&app.app_id));
    item.insert("name".into(), attr::s(&app.name));
    item.insert("origins".into(), attr::list_s(&app.origins));
    item.insert("domains".into(), attr::list_s(&app.domains));
    if let Some(contact) = &app.contact {
        item.insert("contact".into(), attr::s(contact));
    }
    item.insert("state".into(), attr::s(app.state.as_str()));
    item.insert("createdAt".into(), attr::s(&app.created_at));
    item.insert("version".into(), attr::n(app.version));
    item
}

fn from_item(item: &Item) -> Result<App> {
    Ok(App {
        app_id: attr::get_s(item, tables::APPS.partition_key)?,
        name: attr::opt_s(item, "name").unwrap_or_default(),
        origins: attr::get_list_s(item, "origins"),
        domains: attr::get_list_s(item, "domains"),
        contact: attr::opt_s(item, "contact"),
        state: AppState::parse(&attr::opt_s(item, "state").unwrap_or_default()),
        created_at: attr::opt_s(item, "createdAt").unwrap_or_default(),
        version: attr::opt_i64(item, "version")
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> App {
        App {
            app_id: "shop".into(),
            name: "Shop".into(),
            origins: vec!["https://shop.example".into()],
            domains: vec!["shop.example".into()],
            contact: Some("ops@shop.example".into()),
            state: AppState::Active,
            created_at: "2024-01-01T00:00:00.000Z".into(),
            version: 3,
        }
    }

    #[test]
    fn items_round_trip() {
        assert_eq!(from_item(&to_item(&app())).unwrap(), app());
    }

    #[test]
    fn updates_add_and_remove_domains_and_bump_the_version() {
        let change = AppUpdate {
            add_domains: vec!["www.shop.example".into(), "shop.example".into()],
            remove_domains: vec!["shop.example".into(), "absent.example".into()],
            ..AppUpdate::default()
        };
        let updated = change.apply(&app()).unwrap();
        // Removals run before additions, so naming a domain in both keeps it.
        assert_eq!(updated.domains, vec!["www.shop.example", "shop.example"]);
        assert_eq!(updated.version, 4);
        assert_eq!(change.fields(), vec!["domains"]);
        let cleared = AppUpdate {
            clear_domains: true,
            ..AppUpdate::default()
        };
        assert!(cleared.apply(&app()).unwrap().domains.is_empty());
        let bad = AppUpdate {
            add_domains: vec!["https://x.example".into()],
            ..AppUpdate::default()
        };
        assert!(
            matches!(bad.apply(&app()), Err(Error::Invalid { field, .. }) if field == "domains")
        );
    }
}
