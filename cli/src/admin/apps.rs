//! `obctl apps create|list|get|update`: the tenants of a stage.

use std::fmt;

use ob_core::apps::{self, App, AppState, AppUpdate};
use serde::Serialize;

use super::AdminContext;
use super::args::{AppCreateArgs, AppUpdateArgs, AppsArgs, AppsCommand, StateArg};
use crate::args::GlobalArgs;
use crate::error::{Result, exit};
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
        let origins = if a.origins.is_empty() {
            "-".to_owned()
        } else {
            a.origins.join(", ")
        };
        writeln!(f, "  origins:  {origins}")?;
        writeln!(f, "  contact:  {}", a.contact.as_deref().unwrap_or("-"))?;
        write!(f, "  created:  {}", a.created_at)
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
        write!(f, "{:<24} {:<10} {:<24} NAME", "ID", "STATE", "CREATED")?;
        for a in &self.apps {
            write!(
                f,
                "\n{:<24} {:<10} {:<24} {}",
                a.app_id,
                a.state.as_str(),
                a.created_at,
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
    }
}

async fn create(global: &GlobalArgs, args: &AppCreateArgs, project: &Project) -> Result<u8> {
    let ctx = AdminContext::connect(project, &args.target.stage, &args.target.aws).await?;
    let app_id = args.id.clone().unwrap_or_else(|| slug(&args.name));
    let mut app = apps::create(&ctx.store, &app_id, &args.name, &args.origins)
        .await
        .map_err(|e| {
            let err = ctx.core_error("create the app", &app_id, e);
            if err.problem.contains("already exists") {
                err.fix(format!(
                    "pick another --id, or change it: `obctl apps update {app_id} --stage {}`",
                    ctx.stage.name
                ))
            } else {
                err
            }
        })?;
    let mut fields = vec!["name".to_owned(), "origins".to_owned()];
    if let Some(email) = &args.email {
        let change = AppUpdate {
            contact: Some(email.clone()),
            ..AppUpdate::default()
        };
        app = apps::update(&ctx.store, &app_id, &change)
            .await
            .map_err(|e| ctx.core_error("set the contact", &app_id, e))?;
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
        contact: args.email.clone(),
        state: args.state.map(|s| match s {
            StateArg::Active => AppState::Active,
            StateArg::Suspended => AppState::Suspended,
        }),
    };
    if change == AppUpdate::default() {
        return Err(crate::error::CliError::new("nothing to update")
            .fix("pass --name, --origin, --clear-origins, --email or --state"));
    }
    let app = apps::update(&ctx.store, &args.id, &change)
        .await
        .map_err(|e| ctx.core_error("update the app", &args.id, e))?;
    ctx.audit(
        &args.id,
        "app.update",
        &format!("app:{}", args.id),
        change.fields(),
    )
    .await?;
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
