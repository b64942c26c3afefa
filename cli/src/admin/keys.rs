//! `obctl keys create|list|revoke|rotate`: an app's API keys; a key is shown once, never listed.

use std::fmt;

use ob_core::api_keys::{self, ApiKey};
use ob_core::clock;
use ob_core::realtime::revocation::Holder;
use ob_core::scopes::Scope;
use serde::Serialize;

use super::args::{KeyCreateArgs, KeysArgs, KeysCommand};
use super::{AdminContext, date_or_dash, when};
use crate::args::{GlobalArgs, OutputFormat};
use crate::error::{CliError, Result, exit};
use crate::output;
use crate::project::Project;

/// A key without its secret, as listed.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub key_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    /// `active`, `expired` or `revoked`.
    pub state: &'static str,
}

impl KeyView {
    fn new(key: &ApiKey, now: i64) -> Self {
        let state = if !key.active {
            "revoked"
        } else if key.is_usable(now) {
            "active"
        } else {
            "expired"
        };
        Self {
            key_id: key.key_id.clone(),
            name: key.name.clone(),
            scopes: key.scopes.clone(),
            created_at: key.created_at.clone(),
            expires_at: key.expires_at,
            last_used_at: key.last_used_at,
            state,
        }
    }
}

/// A newly issued key: the only time its secret is shown.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedKey {
    pub app_id: String,
    /// The secret: store it now, it cannot be shown again.
    pub key: String,
    #[serde(flatten)]
    pub info: KeyView,
    /// For rotations: the key replaced and when it stops working.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaces: Option<KeyView>,
}

impl fmt::Display for IssuedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "API key for app {} (shown once; store it now):",
            self.app_id
        )?;
        writeln!(f, "  {}", self.key)?;
        writeln!(f, "  id:       {}", self.info.key_id)?;
        writeln!(f, "  name:     {}", self.info.name)?;
        writeln!(f, "  scopes:   {}", self.info.scopes.join(" "))?;
        write!(f, "  expires:  {}", date_or_dash(self.info.expires_at))?;
        if let Some(old) = &self.replaces {
            match old.state {
                "revoked" => write!(f, "\n  replaces {} (revoked now)", old.key_id)?,
                _ => write!(
                    f,
                    "\n  replaces {} (works until {})",
                    old.key_id,
                    date_or_dash(old.expires_at)
                )?,
            }
        }
        Ok(())
    }
}

/// An app's keys.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyList {
    pub app_id: String,
    pub keys: Vec<KeyView>,
}

impl fmt::Display for KeyList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.keys.is_empty() {
            return write!(f, "app {} has no API keys", self.app_id);
        }
        write!(
            f,
            "{:<36} {:<8} {:<16} {:<22} {:<24} {:<20} {:<20}",
            "ID", "STATE", "NAME", "SCOPES", "CREATED", "EXPIRES", "LAST USED"
        )?;
        for k in &self.keys {
            write!(
                f,
                "\n{:<36} {:<8} {:<16} {:<22} {:<24} {:<20} {:<20}",
                k.key_id,
                k.state,
                k.name,
                k.scopes.join(","),
                k.created_at,
                date_or_dash(k.expires_at),
                date_or_dash(k.last_used_at)
            )?;
        }
        Ok(())
    }
}

/// A revoked key.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Revoked {
    pub app_id: String,
    #[serde(flatten)]
    pub key: KeyView,
    /// The key's open WebSocket connections, closed by the revocation.
    pub connections_closed: usize,
}

impl fmt::Display for Revoked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "revoked key {} ({}) of app {}; it is refused from now on ({} open connection(s) closed)",
            self.key.key_id, self.key.name, self.app_id, self.connections_closed
        )
    }
}

pub async fn run(global: &GlobalArgs, args: &KeysArgs, project: &Project) -> Result<u8> {
    match &args.command {
        KeysCommand::Create(a) => create(global, a, project).await,
        KeysCommand::List { target, app } => {
            let ctx = AdminContext::connect(project, &target.stage, &target.aws).await?;
            ctx.app(app).await?;
            let keys = api_keys::list(&ctx.store, app)
                .await
                .map_err(|e| ctx.core_error("list keys", app, e))?;
            let now = clock::now_epoch();
            let keys = keys.iter().map(|k| KeyView::new(k, now)).collect();
            let app_id = app.clone();
            output::emit(global.output, &KeyList { app_id, keys });
            Ok(exit::OK)
        }
        KeysCommand::Revoke {
            target,
            app,
            key_id,
        } => {
            let ctx = AdminContext::connect(project, &target.stage, &target.aws).await?;
            ctx.app(app).await?;
            let key = api_keys::revoke(&ctx.store, app, key_id)
                .await
                .map_err(|e| ctx.core_error("revoke the key", app, e))?;
            ctx.audit(app, "apikey.revoke", &format!("key:{key_id}"), vec![])
                .await?;
            let closed = ctx.close_connections(key_holder(app, key_id)).await?;
            let key = KeyView::new(&key, clock::now_epoch());
            let app_id = app.clone();
            output::emit(
                global.output,
                &Revoked {
                    app_id,
                    key,
                    connections_closed: closed.closed + closed.gone,
                },
            );
            Ok(exit::OK)
        }
        KeysCommand::Rotate {
            target,
            app,
            key_id,
            grace,
            quiet,
        } => {
            let grace_secs = match grace {
                Some(text) => when::parse_duration(text).map_err(|msg| {
                    CliError::new(format!("--grace: {msg}")).fix("e.g. --grace 24h")
                })?,
                None => 0,
            };
            let ctx = AdminContext::connect(project, &target.stage, &target.aws).await?;
            ctx.app(app).await?;
            let (created, old) = api_keys::rotate_with_grace(&ctx.store, app, key_id, grace_secs)
                .await
                .map_err(|e| ctx.core_error("rotate the key", app, e))?;
            let target_name = format!("key:{key_id}");
            ctx.audit(app, "apikey.rotate", &target_name, vec![])
                .await?;
            if grace_secs <= 0 {
                // Revoked at once: so are its connections.
                ctx.close_connections(key_holder(app, key_id)).await?;
            }
            let now = clock::now_epoch();
            let issued = IssuedKey {
                app_id: app.clone(),
                key: created.secret,
                info: KeyView::new(&created.key, now),
                replaces: Some(KeyView::new(&old, now)),
            };
            print_issued(global.output, *quiet, &issued);
            Ok(exit::OK)
        }
    }
}

async fn create(global: &GlobalArgs, args: &KeyCreateArgs, project: &Project) -> Result<u8> {
    let now = clock::now_epoch();
    let expires_at = args
        .expires
        .as_deref()
        .map(|text| when::parse_expiry(text, now))
        .transpose()
        .map_err(|msg| {
            CliError::new(format!("--expires: {msg}"))
                .fix("e.g. --expires 90d or --expires 2027-01-01")
        })?;
    if expires_at.is_some_and(|at| at <= now) {
        return Err(
            CliError::new("--expires is in the past").fix("give a future date or a duration")
        );
    }
    let scopes: Vec<String> = if args.scopes.is_empty() {
        Scope::default_names()
    } else {
        args.scopes.clone()
    };
    api_keys::validate_scopes(&scopes).map_err(|e| {
        CliError::new(format!("--scopes: {e}")).fix(format!(
            "give known scopes separated by commas: {}",
            Scope::known_names()
        ))
    })?;
    let ctx = AdminContext::connect(project, &args.target.stage, &args.target.aws).await?;
    ctx.app(&args.app).await?;
    let created = api_keys::create(&ctx.store, &args.app, &args.name, &scopes, expires_at)
        .await
        .map_err(|e| ctx.core_error("create the key", &args.app, e))?;
    let target = format!("key:{}", created.key.key_id);
    ctx.audit(
        &args.app,
        "apikey.create",
        &target,
        vec!["name".into(), "scopes".into()],
    )
    .await?;
    if args.replace {
        revoke_same_name(&ctx, &args.app, &args.name, &created.key.key_id).await?;
    }
    let issued = IssuedKey {
        app_id: args.app.clone(),
        key: created.secret,
        info: KeyView::new(&created.key, now),
        replaces: None,
    };
    print_issued(global.output, args.quiet, &issued);
    Ok(exit::OK)
}

/// `keys create --replace`: revokes the app's other active keys named `name`,
/// after the new key exists (so the app is never without one).
async fn revoke_same_name(ctx: &AdminContext, app: &str, name: &str, keep: &str) -> Result<()> {
    let keys = api_keys::list(&ctx.store, app)
        .await
        .map_err(|e| ctx.core_error("list keys", app, e))?;
    for key in keys {
        if key.name == name && key.active && key.key_id != keep {
            api_keys::revoke(&ctx.store, app, &key.key_id)
                .await
                .map_err(|e| ctx.core_error("revoke the replaced key", app, e))?;
            let target = format!("key:{}", key.key_id);
            ctx.audit(app, "apikey.revoke", &target, vec![]).await?;
            ctx.close_connections(key_holder(app, &key.key_id)).await?;
        }
    }
    Ok(())
}

fn key_holder<'a>(app_id: &'a str, key_id: &'a str) -> Holder<'a> {
    Holder::Key { app_id, key_id }
}

/// `-q` prints only the secret, for scripts; otherwise the usual text or JSON.
fn print_issued(format: OutputFormat, quiet: bool, issued: &IssuedKey) {
    if quiet {
        println!("{}", issued.key);
    } else {
        output::emit(format, issued);
    }
}
