//! `obctl apps create|list|get|update|delete`: the tenants of a stage.

use std::fmt;

use ob_core::apps::{self, App, AppState, AppUpdate, NewApp};
use ob_core::realtime::revocation::Holder;
use serde::Serialize;

use super::AdminContext;
use super::args::{AppCreateArgs, AppUpdateArgs, AppsArgs, AppsCommand, StateArg};
use crate::args::GlobalArgs;
use crate::error::{CliError, Result, exit};
use crate::output;
use crate::project::Project;

/// One app, as `apps create|get|update` print it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppView {
    pub stage: String,
    #[serde(flatten)]
    pub app: App,
}

impl fmt::Display for AppView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = &self.app;
        writeln!(f, "app {} (stage {})", a.app_id, self.stage)?;
        writeln!(f, "  name:     {}", a.name)?;
        writeln!(f, "  state:    {}", a.state.as_str())?;
        let origins = dash_if_empty(&a.origins);
        writeln!(f, "  origins:  {origins}")?;
        writeln!(f, "  domains:  {}", dash_if_empty(&a.domains))?;
        writeln!(f, "  contact:  {}", a.contact.as_deref().unwrap_or("-"))?;
        writeln!(f, "  created:  {}", a.created_at)?;
        write!(f, "  version:  {}", a.version)
    }
}

/// Every app of a stage.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppList {
    pub stage: String,
    pub apps: Vec<App>,
}

impl fmt::Display for AppList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.apps.is_empty() {
            return write!(
                f,
                "no apps on stage {} (create one: obctl apps create --stage {} --name NAME)",
                self.stage, self.stage
            );
        }
        write!(
            f,
            "{:<24} {:<10} {:<24} {:<32} NAME",
            "ID", "STATE", "CREATED", "DOMAINS"
        )?;
        for a in &self.apps {
            write!(
                f,
                "\n{:<24} {:<10} {:<24} {:<32} {}",
                a.app_id,
                a.state.as_str(),
                a.created_at,
                dash_if_empty(&a.domains),
                a.name
            )?;
        }
        Ok(())
    }
}

pub async fn run(global: &GlobalArgs, args: &AppsArgs, project: &Project) -> Result<u8> {
    match &args.command {
        AppsCommand::Create(a) => create(global, a, project).await,
        AppsCommand::List { target } => {
            let ctx = AdminContext::connect(project, &target.stage, &target.aws).await?;
            let apps = apps::list(&ctx.store)
                .await
                .map_err(|e| ctx.core_error("list apps", "-", e))?;
            let stage = ctx.stage.name.clone();
            output::emit(global.output, &AppList { stage, apps });
            Ok(exit::OK)
        }
        AppsCommand::Get { target, id } => {
            let ctx = AdminContext::connect(project, &target.stage, &target.aws).await?;
            let app = ctx.app(id).await?;
            emit_app(global, &ctx, app);
            Ok(exit::OK)
        }
        AppsCommand::Update(a) => update(global, a, project).await,
        AppsCommand::Delete(a) => super::app_delete::run(global, a, project).await,
    }
}

fn dash_if_empty(values: &[String]) -> String {
    if values.is_empty() {
        "-".to_owned()
    } else {
        values.join(", ")
    }
}

/// An invalid field named by the flag the operator typed it with.
fn flag_error(
    ctx: &AdminContext,
    action: &str,
    app_id: &str,
    err: ob_core::Error,
    domain_flag: &str,
) -> CliError {
    let ob_core::Error::Invalid { field, message } = err else {
        return ctx.core_error(action, app_id, err);
    };
    let flag = match field.as_str() {
        "domains" => domain_flag,
        "origins" => "--origin",
        "name" => "--name",
        "appId" => "--id",
        _ => field.as_str(),
    };
    CliError::new(format!("could not {action}: {flag} ({field}) {message}"))
        .fix(format!("correct {flag} and run the command again"))
}

async fn create(global: &GlobalArgs, args: &AppCreateArgs, project: &Project) -> Result<u8> {
    let ctx = AdminContext::connect(project, &args.target.stage, &args.target.aws).await?;
    let app_id = args.id.clone().unwrap_or_else(|| slug(&args.name));
    let new = NewApp {
        app_id: app_id.clone(),
        name: args.name.clone(),
        origins: args.origins.clone(),
        domains: args.domains.clone(),
        contact: args.email.clone(),
    };
    let app = match apps::create_app(&ctx.store, &new).await {
        Ok(app) => app,
        Err(ob_core::Error::Conflict(_)) if args.if_not_exists => {
            // Idempotent create (`make dev`): the existing app is shown unchanged.
            let app = ctx.app(&app_id).await?;
            eprintln!("app {app_id} already exists; left unchanged (--if-not-exists)");
            emit_app(global, &ctx, app);
            return Ok(exit::OK);
        }
        Err(e) => {
            let err = flag_error(&ctx, "create the app", &app_id, e, "--domain");
            return Err(if err.problem.contains("already exists") {
                err.fix(format!(
                    "pick another --id, or change it: `obctl apps update {app_id} --stage {}` (or pass --if-not-exists)",
                    ctx.stage.name
                ))
            } else {
                err
            });
        }
    };
    let mut fields = vec!["name".to_owned(), "origins".to_owned()];
    if !app.domains.is_empty() {
        fields.push("domains".to_owned());
    }
    if app.contact.is_some() {
        fields.push("contact".to_owned());
    }
    ctx.audit(&app_id, "app.create", &format!("app:{app_id}"), fields)
        .await?;
    emit_app(global, &ctx, app);
    Ok(exit::OK)
}

async fn update(global: &GlobalArgs, args: &AppUpdateArgs, project: &Project) -> Result<u8> {
    let ctx = AdminContext::connect(project, &args.target.stage, &args.target.aws).await?;
    let change = AppUpdate {
        name: args.name.clone(),
        origins: (args.clear_origins || !args.origins.is_empty()).then(|| args.origins.clone()),
        add_domains: args.add_domains.clone(),
        remove_domains: args.remove_domains.clone(),
        clear_domains: args.clear_domains,
        contact: args.email.clone(),
        state: args.state.map(|s| match s {
            StateArg::Active => AppState::Active,
            StateArg::Suspended => AppState::Suspended,
        }),
    };
    if change == AppUpdate::default() {
        return Err(CliError::new("nothing to update").fix(
            "pass --name, --origin, --clear-origins, --add-domain, --remove-domain, --clear-domains, --email or --state",
        ));
    }
    let app = apps::update(&ctx.store, &args.id, &change)
        .await
        .map_err(|e| match e {
            ob_core::Error::Conflict(message) => {
                CliError::new(format!("could not update the app: {message}")).fix(format!(
                    "check the app (`obctl apps get {} --stage {}`) and run the same update again",
                    args.id, ctx.stage.name
                ))
            }
            other => flag_error(&ctx, "update the app", &args.id, other, "--add-domain"),
        })?;
    ctx.audit(
        &args.id,
        "app.update",
        &format!("app:{}", args.id),
        change.fields(),
    )
    .await?;
    if change.state == Some(AppState::Suspended) {
        // A suspended app's open connections end with it.
        let closed = ctx.close_connections(Holder::App(&args.id)).await?;
        eprintln!(
            "app {} suspended: {} open WebSocket connection(s) closed",
            args.id,
            closed.closed + closed.gone
        );
    }
    emit_app(global, &ctx, app);
    Ok(exit::OK)
}

fn emit_app(global: &GlobalArgs, ctx: &AdminContext, app: App) {
    let stage = ctx.stage.name.clone();
    output::emit(global.output, &AppView { stage, app });
}

/// An app id from a display name: lowercase letters and digits, `-` between words.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::slug;

    #[test]
    fn ids_from_names() {
        assert_eq!(slug("My Shop"), "my-shop");
        assert_eq!(slug("  Ada's  Notes 2! "), "ada-s-notes-2");
        assert_eq!(slug("---"), "");
    }
}
