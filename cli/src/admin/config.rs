//! `obctl config get|set|unset|import|export`: an app's config, versioned and
//! validated exactly like `PUT /config/{appId}` (each write is one new version).

use std::fmt;

use ob_core::config::{self, AppConfig, ConfigBody};
use serde::Serialize;
use serde_json::Value;

use super::AdminContext;
use super::args::{ConfigApp, ConfigArgs, ConfigCommand};
use crate::args::{GlobalArgs, TemplateFormat};
use crate::error::{CliError, Result, display_path, exit};
use crate::output;
use crate::project::Project;

/// The config (or one key of it) as stored.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigView {
    pub app_id: String,
    pub version: u64,
    /// The key asked for, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The whole config body, or the key's value (`null` when unset).
    pub value: Value,
    /// For writes: top-level fields that changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed: Option<Vec<String>>,
}

impl fmt::Display for ConfigView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(changed) = &self.changed {
            let what = if changed.is_empty() {
                "nothing".to_owned()
            } else {
                changed.join(", ")
            };
            writeln!(
                f,
                "app {} config is now version {} (changed: {what})",
                self.app_id, self.version
            )?;
        } else {
            writeln!(f, "app {} config version {}", self.app_id, self.version)?;
        }
        let text = serde_json::to_string_pretty(&self.value).unwrap_or_default();
        match &self.key {
            Some(key) => write!(f, "{key} = {text}"),
            None => write!(f, "{text}"),
        }
    }
}

pub async fn run(global: &GlobalArgs, args: &ConfigArgs, project: &Project) -> Result<u8> {
    let app = match &args.command {
        ConfigCommand::Get { app, .. }
        | ConfigCommand::Set { app, .. }
        | ConfigCommand::Unset { app, .. }
        | ConfigCommand::Import { app, .. }
        | ConfigCommand::Export { app, .. } => app,
    };
    let ConfigApp { target, app } = app;
    // Read the import file before any AWS call: a bad file fails fast.
    let imported = match &args.command {
        ConfigCommand::Import { file, .. } => Some(read_file(file)?),
        _ => None,
    };
    let ctx = AdminContext::connect(project, &target.stage, &target.aws).await?;
    ctx.app(app).await?;
    let current = config::get(&ctx.store, app)
        .await
        .map_err(|e| ctx.core_error("read the config", app, e))?;
    let mut body = body_json(&current)?;
    let view = match &args.command {
        ConfigCommand::Get { key, .. } => {
            let value = match key {
                Some(key) => lookup(&body, key)?,
                None => body,
            };
            ConfigView {
                app_id: app.clone(),
                version: current.version,
                key: key.clone(),
                value,
                changed: None,
            }
        }
        ConfigCommand::Export { format, .. } => {
            let text = match format {
                TemplateFormat::Json => {
                    serde_json::to_string_pretty(&current.body).map_err(encode)?
                }
                TemplateFormat::Yaml => serde_yaml::to_string(&current.body).map_err(encode)?,
            };
            println!("{}", text.trim_end());
            return Ok(exit::OK);
        }
        ConfigCommand::Set { pairs, .. } => {
            for pair in pairs {
                let (key, raw) = pair.split_once('=').ok_or_else(|| {
                    CliError::new(format!("{pair:?} is not KEY=VALUE"))
                        .fix("e.g. featureFlags.search=true")
                })?;
                let value =
                    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
                set(&mut body, key, Some(value))?;
            }
            write(&ctx, app, &current, parse_body(body, "the new config")?).await?
        }
        ConfigCommand::Unset { keys, .. } => {
            for key in keys {
                set(&mut body, key, None)?;
            }
            write(&ctx, app, &current, parse_body(body, "the new config")?).await?
        }
        ConfigCommand::Import { .. } => {
            let new = imported.ok_or_else(|| CliError::new("the import file was not read"))?;
            write(&ctx, app, &current, new).await?
        }
    };
    output::emit(global.output, &view);
    Ok(exit::OK)
}

/// Stores a new version, only if nobody wrote one since we read, and audits it.
async fn write(
    ctx: &AdminContext,
    app: &str,
    current: &AppConfig,
    new: ConfigBody,
) -> Result<ConfigView> {
    let (new, old) = config::put(&ctx.store, app, new, Some(current.version))
        .await
        .map_err(|e| match e {
            ob_core::Error::PreconditionFailed { current_version } => CliError::new(format!(
                "the config of app {app} changed while writing (now version {current_version})"
            ))
            .fix("run the command again"),
            other => ctx.core_error("store the config", app, other),
        })?;
    let changed = old.body.changed_fields(&new.body);
    ctx.audit(
        app,
        "config.update",
        &format!("config:v{}", new.version),
        changed.clone(),
    )
    .await?;
    Ok(ConfigView {
        app_id: app.to_owned(),
        version: new.version,
        key: None,
        value: body_json(&new)?,
        changed: Some(changed),
    })
}

fn body_json(config: &AppConfig) -> Result<Value> {
    serde_json::to_value(&config.body).map_err(encode)
}

fn encode(err: impl fmt::Display) -> CliError {
    CliError::new(format!("could not encode the config: {err}"))
}

/// Checks a whole body against the config's shape; the error names the field.
fn parse_body(value: Value, what: &str) -> Result<ConfigBody> {
    if let Some(key) = value.as_object().and_then(config::unknown_key) {
        return Err(not_a_key(key).detail(format!("in {what}")));
    }
    ConfigBody::from_json(value).map_err(|err| {
        CliError::new(format!("{what} is not a valid config: {err}")).fix("correct it and retry")
    })
}

fn read_file(path: &std::path::Path) -> Result<ConfigBody> {
    let text = std::fs::read_to_string(path).map_err(|err| CliError::io("read", path, &err))?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let value: Value = if is_json {
        serde_json::from_str(&text)
            .map_err(|err| CliError::new(format!("{} is not JSON: {err}", display_path(path))))?
    } else {
        serde_yaml::from_str(&text)
            .map_err(|err| CliError::new(format!("{} is not YAML: {err}", display_path(path))))?
    };
    parse_body(value, &display_path(path))
}

/// A key of the command line, checked before anything is read or written.
#[derive(Debug, PartialEq, Eq)]
enum Key<'a> {
    /// A system key, or one name inside it (flag names may hold dots).
    System(&'a str, Option<&'a str>),
    /// `settings` or a path into it: each dot descends into an object.
    Settings(Vec<&'a str>),
}

fn parse_key(key: &str) -> Result<Key<'_>> {
    let (top, inner) = match key.split_once('.') {
        Some((top, rest)) => (top, Some(rest)),
        None => (key, None),
    };
    if top == config::SETTINGS_KEY {
        let path: Vec<&str> = inner.map(|p| p.split('.').collect()).unwrap_or_default();
        if path.iter().any(|segment| segment.is_empty()) {
            return Err(
                CliError::new(format!("{key} has an empty name between dots"))
                    .fix("e.g. settings.theme or settings.colors.primary"),
            );
        }
        return Ok(Key::Settings(path));
    }
    if !config::SYSTEM_KEYS.contains(&top) {
        return Err(not_a_key(key));
    }
    Ok(Key::System(top, inner))
}

fn not_a_key(key: &str) -> CliError {
    CliError::new(format!("{key} is not a config key")).fix(format!(
        "keep the app's own values under settings: settings.{key}=VALUE; the system keys are \
         featureFlags[.NAME], allowedOrigins, indexedFields[.RESOURCE], uploads[.maxBytes|.allowedMimeTypes], \
         auth[.passwordResetUrl|.emailVerificationUrl|.requireVerifiedEmail], \
         limits[.requestsPerMinute|.requestsPerMinutePerClient]"
    ))
}

fn lookup(body: &Value, key: &str) -> Result<Value> {
    let found = match parse_key(key)? {
        Key::System(top, None) => body.get(top),
        Key::System(top, Some(name)) => body.get(top).and_then(|v| v.get(name)),
        Key::Settings(path) => path
            .iter()
            .try_fold(body.get(config::SETTINGS_KEY), |at, segment| {
                Some(at?.get(segment))
            })
            .flatten(),
    };
    Ok(found.cloned().unwrap_or(Value::Null))
}

/// Sets (or with `None` removes) a key in the config body.
fn set(body: &mut Value, key: &str, value: Option<Value>) -> Result<()> {
    let parsed = parse_key(key)?;
    let obj = body
        .as_object_mut()
        .ok_or_else(|| CliError::new("the stored config is not an object"))?;
    let (top, path): (&str, Vec<&str>) = match parsed {
        Key::System(top, inner) => (top, inner.into_iter().collect()),
        Key::Settings(path) => (config::SETTINGS_KEY, path),
    };
    let Some((last, parents)) = path.split_last() else {
        match value {
            Some(v) => obj.insert(top.to_owned(), v),
            None => obj.remove(top),
        };
        return Ok(());
    };
    let mut at = obj
        .entry(top)
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    for (depth, segment) in parents.iter().enumerate() {
        let map = at
            .as_object_mut()
            .ok_or_else(|| not_an_object(top, &path[..depth]))?;
        at = map
            .entry(*segment)
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
    }
    let map = at
        .as_object_mut()
        .ok_or_else(|| not_an_object(top, parents))?;
    match value {
        Some(v) => map.insert((*last).to_owned(), v),
        None => map.remove(*last),
    };
    Ok(())
}

fn not_an_object(top: &str, path: &[&str]) -> CliError {
    let name = std::iter::once(top)
        .chain(path.iter().copied())
        .collect::<Vec<_>>()
        .join(".");
    CliError::new(format!("{name} is not an object, so it has no keys inside"))
        .fix(format!("set it whole: {name}=VALUE"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn empty() -> Value {
        serde_json::to_value(ConfigBody {
            settings: Some(config::Settings::new()),
            ..ConfigBody::default()
        })
        .unwrap()
    }

    #[test]
    fn keys_set_unset_and_read() {
        let mut body = empty();
        set(&mut body, "featureFlags.beta.checkout", Some(json!(true))).unwrap();
        set(&mut body, "indexedFields.orders", Some(json!(["status"]))).unwrap();
        set(&mut body, "uploads.maxBytes", Some(json!(5))).unwrap();
        assert_eq!(
            lookup(&body, "featureFlags.beta.checkout").unwrap(),
            json!(true)
        );
        let parsed = parse_body(body.clone(), "x").unwrap();
        assert_eq!(parsed.indexed_fields["orders"], vec!["status".to_owned()]);
        set(&mut body, "featureFlags.beta.checkout", None).unwrap();
        assert_eq!(
            lookup(&body, "featureFlags.beta.checkout").unwrap(),
            Value::Null
        );
        set(&mut body, "uploads", None).unwrap();
        assert_eq!(
            parse_body(body.clone(), "x").unwrap().uploads.max_bytes,
            config::DEFAULT_UPLOAD_BYTES
        );
        set(&mut body, "featureFlags.x", Some(json!("yes"))).unwrap();
        assert!(parse_body(body, "x").is_err());
    }

    #[test]
    fn settings_paths_descend_into_objects() {
        let mut body = empty();
        set(&mut body, "settings.theme", Some(json!("dark"))).unwrap();
        set(&mut body, "settings.colors.primary", Some(json!("#123"))).unwrap();
        assert_eq!(
            body["settings"],
            json!({"theme": "dark", "colors": {"primary": "#123"}})
        );
        assert_eq!(
            lookup(&body, "settings.colors.primary").unwrap(),
            json!("#123")
        );
        assert_eq!(lookup(&body, "settings.nope.deeper").unwrap(), Value::Null);
        let err = set(&mut body, "settings.theme.shade", Some(json!(1))).unwrap_err();
        assert!(
            err.problem.contains("settings.theme is not an object"),
            "{err:?}"
        );
        set(&mut body, "settings.colors", None).unwrap();
        assert_eq!(body["settings"], json!({"theme": "dark"}));
        let parsed = parse_body(body.clone(), "x").unwrap();
        assert_eq!(parsed.settings.unwrap()["theme"], "dark");
        assert!(set(&mut body, "settings..x", Some(json!(1))).is_err());
    }

    #[test]
    fn other_keys_are_refused_naming_settings() {
        let mut body = empty();
        for key in ["theme", "colour.primary"] {
            let err = set(&mut body, key, Some(json!("dark"))).unwrap_err();
            assert_eq!(err.problem, format!("{key} is not a config key"));
            let fix = err.fix.unwrap();
            assert!(fix.contains(&format!("settings.{key}=VALUE")), "{fix}");
            for system in config::SYSTEM_KEYS {
                assert!(
                    fix.contains(&format!(", {system}")) || fix.contains(&format!(" {system}[")),
                    "{system} in {fix}"
                );
            }
        }
        let err = parse_body(json!({"theme": "dark"}), "shop.yaml").unwrap_err();
        assert!(err.fix.unwrap().contains("settings.theme"));
        assert_eq!(body, empty(), "nothing was changed");
    }
}
