//! `obctl users list|set-role|disable|enable|revoke-sessions`: an app's end users.

use std::fmt;

use ob_core::realtime::revocation::Holder;
use ob_core::users::{self, Role, User};
use ob_core::{sessions, users::find_by_email};
use serde::Serialize;

use super::AdminContext;
use super::args::{RoleArg, UserRef, UsersArgs, UsersCommand};
use crate::args::GlobalArgs;
use crate::error::{CliError, Result, exit};
use crate::output;
use crate::project::Project;

/// An app's users.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserList {
    pub app_id: String,
    pub users: Vec<User>,
}

impl fmt::Display for UserList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.users.is_empty() {
            return write!(f, "app {} has no matching users", self.app_id);
        }
        write!(
            f,
            "{:<36} {:<6} {:<9} {:<9} {:<24} EMAIL",
            "ID", "ROLE", "DISABLED", "VERIFIED", "CREATED"
        )?;
        for u in &self.users {
            let yes_no = |b: bool| if b { "yes" } else { "no" };
            write!(
                f,
                "\n{:<36} {:<6} {:<9} {:<9} {:<24} {}",
                u.user_id,
                u.role.as_str(),
                yes_no(u.disabled),
                yes_no(u.email_verified),
                u.created_at,
                u.email
            )?;
        }
        Ok(())
    }
}

/// What an operator did to one user.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserChange {
    /// `set-role`, `disable`, `enable` or `revoke-sessions`.
    pub action: &'static str,
    #[serde(flatten)]
    pub user: User,
    /// Sessions ended by this action.
    pub sessions_revoked: usize,
    /// Open WebSocket connections closed by this action (a disabled user's, or
    /// any role change's: the client reconnects with a token of the new role).
    pub connections_closed: usize,
}

impl fmt::Display for UserChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = &self.user;
        write!(
            f,
            "{}: user {} ({}) of app {} is now role {}, {}; {} session(s) revoked, {} connection(s) closed",
            self.action,
            u.user_id,
            u.email,
            u.app_id,
            u.role.as_str(),
            if u.disabled { "disabled" } else { "enabled" },
            self.sessions_revoked,
            self.connections_closed
        )
    }
}

pub async fn run(global: &GlobalArgs, args: &UsersArgs, project: &Project) -> Result<u8> {
    let (user_ref, action) = match &args.command {
        UsersCommand::List { target, app, email } => {
            let ctx = AdminContext::connect(project, &target.stage, &target.aws).await?;
            ctx.app(app).await?;
            let users = match email {
                Some(email) => find_by_email(&ctx.store, app, email)
                    .await
                    .map_err(|e| ctx.core_error("find the user", app, e))?
                    .map(|r| r.user)
                    .into_iter()
                    .collect(),
                None => users::list(&ctx.store, app)
                    .await
                    .map_err(|e| ctx.core_error("list users", app, e))?,
            };
            let app_id = app.clone();
            output::emit(global.output, &UserList { app_id, users });
            return Ok(exit::OK);
        }
        UsersCommand::SetRole { user, role } => (user, Action::SetRole(*role)),
        UsersCommand::Disable { user } => (user, Action::Disable),
        UsersCommand::Enable { user } => (user, Action::Enable),
        UsersCommand::RevokeSessions { user } => (user, Action::RevokeSessions),
    };
    change(global, user_ref, action, project).await
}

#[derive(Debug, Clone, Copy)]
enum Action {
    SetRole(RoleArg),
    Disable,
    Enable,
    RevokeSessions,
}

async fn change(global: &GlobalArgs, r: &UserRef, action: Action, project: &Project) -> Result<u8> {
    let ctx = AdminContext::connect(project, &r.target.stage, &r.target.aws).await?;
    let app = &r.app;
    ctx.app(app).await?;
    let user = resolve(&ctx, app, &r.user).await?;
    let id = user.user_id.clone();
    let ctx_ref = &ctx;
    let fail = |what: &'static str| move |e| ctx_ref.core_error(what, app, e);
    let mut revoked = 0;
    let (name, audit_action, fields): (&'static str, &str, Vec<String>) = match action {
        Action::SetRole(role) => {
            let role = match role {
                RoleArg::User => Role::User,
                RoleArg::Admin => Role::Admin,
            };
            users::set_role(&ctx.store, app, &id, role)
                .await
                .map_err(fail("set the role"))?;
            ("set-role", "user.role.set", vec!["role".into()])
        }
        Action::Disable => {
            users::set_disabled(&ctx.store, app, &id, true)
                .await
                .map_err(fail("disable the user"))?;
            revoked = sessions::revoke_all_for_user(&ctx.store, app, &id)
                .await
                .map_err(fail("revoke the sessions"))?;
            user_disabled_event(&ctx, app, &id).await;
            ("disable", "user.disable", vec!["disabled".into()])
        }
        Action::Enable => {
            users::set_disabled(&ctx.store, app, &id, false)
                .await
                .map_err(fail("enable the user"))?;
            ("enable", "user.enable", vec!["disabled".into()])
        }
        Action::RevokeSessions => {
            revoked = sessions::revoke_all_for_user(&ctx.store, app, &id)
                .await
                .map_err(fail("revoke the sessions"))?;
            ("revoke-sessions", "user.sessions.revoke", vec![])
        }
    };
    ctx.audit(app, audit_action, &format!("user:{id}"), fields)
        .await?;
    // The user's tokens stopped writing with the change (`tokensValidAfter`);
    // their open connections end now too. After a role change the client
    // reconnects with a fresh token, so no connection keeps the old role's reads.
    let closed = match action {
        Action::SetRole(_) | Action::Disable => {
            let holder = Holder::User {
                app_id: app,
                user_id: &id,
            };
            let closed = ctx.close_connections(holder).await?;
            closed.closed + closed.gone
        }
        Action::Enable | Action::RevokeSessions => 0,
    };
    let user = resolve(&ctx, app, &id).await?;
    let result = UserChange {
        action: name,
        user,
        sessions_revoked: revoked,
        connections_closed: closed,
    };
    output::emit(global.output, &result);
    Ok(exit::OK)
}

/// Queues `auth.user.disabled` for the app's webhooks (the webhooks function
/// delivers it). The user is disabled either way, so a failure only warns.
async fn user_disabled_event(ctx: &AdminContext, app: &str, user_id: &str) {
    use ob_core::webhooks::queue::{WebhookQueue, Work};
    let Some(url) = ctx.outputs.get(ob_core::queues::WEBHOOK_DELIVERIES.output) else {
        eprintln!(
            "warning: stage {} has no webhook queue, so no auth.user.disabled event was sent; deploy the stage again",
            ctx.stage.name
        );
        return;
    };
    let event = ob_core::webhooks::events::auth(
        &format!("user_disabled_{}", uuid::Uuid::now_v7()),
        app,
        ob_core::webhooks::EventType::UserDisabled,
        &serde_json::json!({"userId": user_id}),
    );
    if let Err(err) = WebhookQueue::new(ctx.aws.sqs(), url)
        .send(&Work::Event(event), 0)
        .await
    {
        eprintln!(
            "warning: the auth.user.disabled event was not queued for the app's webhooks: {err}"
        );
    }
}

/// The user behind an id or an e-mail, or "not found" with the fix.
async fn resolve(ctx: &AdminContext, app: &str, who: &str) -> Result<User> {
    let found = if who.contains('@') {
        find_by_email(&ctx.store, app, who).await
    } else {
        users::get(&ctx.store, app, who).await
    };
    found
        .map_err(|e| ctx.core_error("find the user", app, e))?
        .map(|r| r.user)
        .ok_or_else(|| {
            CliError::new(format!("user {who} not found in app {app}")).fix(format!(
                "list the users: `obctl users list --stage {} --app {app}`",
                ctx.stage.name
            ))
        })
}
