//! `obctl webhooks add|list|disable|enable|rotate-secret|remove|deliveries|redeliver`: an app's webhook subscriptions (a secret is shown once) and delivery log.

pub mod args;
pub mod redeliver;

use std::fmt;

use ob_core::webhooks::deliveries::{self, Delivery, DeliveryState};
use ob_core::webhooks::target::Refusal;
use ob_core::webhooks::{
    self, DEFAULT_ROTATION_GRACE_SECS, Subscription, SubscriptionState, TargetUrl, store,
};
use serde::Serialize;

use self::args::{AddArgs, AppTarget, SubscriptionRef, WebhooksArgs, WebhooksCommand};
use super::{AdminContext, date_or_dash, when};
use crate::args::GlobalArgs;
use crate::error::{CliError, Result, exit};
use crate::output;
use crate::project::Project;

/// A subscription as printed; `secret` only right after `add` and `rotate-secret`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionView {
    #[serde(flatten)]
    pub subscription: Subscription,
    /// The signing secret (`whsec_…`): shown once, store it with the receiver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// What the command did: `added`, `disabled`, `enabled`, `rotated`, `removed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<&'static str>,
}

impl fmt::Display for SubscriptionView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.subscription;
        match self.action {
            Some(action) => writeln!(
                f,
                "{action} webhook {} of app {}",
                s.subscription_id, s.app_id
            )?,
            None => writeln!(f, "webhook {} of app {}", s.subscription_id, s.app_id)?,
        }
        if let Some(secret) = &self.secret {
            writeln!(f, "  signing secret (shown once; store it now): {secret}")?;
        }
        writeln!(f, "  url:       {}", s.url)?;
        writeln!(f, "  events:    {}", event_names(s))?;
        writeln!(f, "  resources: {}", resource_names(s))?;
        write!(f, "  state:     {}", state_text(s))?;
        if let Some(until) = s.previous_secret_until {
            write!(
                f,
                "\n  previous secret signs too until {}",
                date_or_dash(Some(until))
            )?;
        }
        Ok(())
    }
}

fn event_names(s: &Subscription) -> String {
    s.events
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn resource_names(s: &Subscription) -> String {
    if s.resources.is_empty() {
        "*".to_owned()
    } else {
        s.resources.join(",")
    }
}

fn state_text(s: &Subscription) -> String {
    match (&s.disabled_reason, s.failing_since) {
        (Some(reason), _) => format!("{} ({reason})", s.state.as_str()),
        (None, Some(since)) => format!(
            "{} (failing since {})",
            s.state.as_str(),
            date_or_dash(Some(since))
        ),
        (None, None) => s.state.as_str().to_owned(),
    }
}

/// An app's subscriptions.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionList {
    pub app_id: String,
    pub subscriptions: Vec<Subscription>,
}

impl fmt::Display for SubscriptionList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.subscriptions.is_empty() {
            return write!(f, "app {} has no webhook subscriptions", self.app_id);
        }
        write!(
            f,
            "{:<35} {:<10} {:<40} {:<30} {:<12} SECRET",
            "ID", "STATE", "URL", "EVENTS", "RESOURCES"
        )?;
        for s in &self.subscriptions {
            write!(
                f,
                "\n{:<35} {:<10} {:<40} {:<30} {:<12} {}",
                s.subscription_id,
                s.state.as_str(),
                s.url,
                event_names(s),
                resource_names(s),
                s.secret_fingerprint
            )?;
        }
        Ok(())
    }
}

/// An app's delivery log.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryList {
    pub app_id: String,
    pub deliveries: Vec<Delivery>,
}

impl fmt::Display for DeliveryList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.deliveries.is_empty() {
            return write!(f, "app {} has no deliveries in the log", self.app_id);
        }
        write!(
            f,
            "{:<36} {:<20} {:<35} {:<9} {:<8} {:<20} LAST ANSWER",
            "DELIVERY", "EVENT TYPE", "SUBSCRIPTION", "STATE", "ATTEMPTS", "NEXT RETRY"
        )?;
        for d in &self.deliveries {
            let waiting = d
                .record
                .as_deref()
                .filter(|_| d.state == DeliveryState::Held);
            let last = d.attempts.last().map_or_else(String::new, |a| {
                let status = a.status.map_or_else(|| "-".to_owned(), |s| s.to_string());
                let detail = a.error.as_deref().unwrap_or(&a.response_excerpt);
                let detail: String = detail.chars().take(60).collect();
                format!("{status} {}", detail.replace('\n', " "))
            });
            write!(
                f,
                "\n{:<36} {:<20} {:<35} {:<9} {:<8} {:<20} {last}",
                d.delivery_id,
                d.event_type,
                d.subscription_id,
                d.state.as_str(),
                d.attempts.len(),
                match waiting {
                    Some(_) => "after earlier event".to_owned(),
                    None => date_or_dash(d.next_retry_at),
                },
                last = waiting.map_or(last, |record| format!("waits in order of {record}")),
            )?;
        }
        if self
            .deliveries
            .iter()
            .any(|d| d.state == DeliveryState::Held)
        {
            write!(
                f,
                "\nheld: an earlier event of the same record to the same subscription is still being \
                 delivered; each held one is sent, in stream order, once it is delivered or fails for good"
            )?;
        }
        Ok(())
    }
}

pub async fn run(global: &GlobalArgs, args: &WebhooksArgs, project: &Project) -> Result<u8> {
    let view = match &args.command {
        WebhooksCommand::Deliveries { app, failed, limit } => {
            let ctx = connect(app, project).await?;
            let deliveries = deliveries::list(&ctx.store, &app.app, *failed, usize::from(*limit))
                .await
                .map_err(|e| ctx.core_error("list webhook deliveries", &app.app, e))?;
            let app_id = app.app.clone();
            output::emit(global.output, &DeliveryList { app_id, deliveries });
            return Ok(exit::OK);
        }
        WebhooksCommand::Redeliver(r) => {
            let queued = redeliver::run(r, project).await?;
            output::emit(global.output, &queued);
            return Ok(exit::OK);
        }
        WebhooksCommand::Add(a) => add(a, project).await?,
        WebhooksCommand::List(AppTarget { target, app }) => {
            let ctx = AdminContext::connect(project, &target.stage, &target.aws).await?;
            ctx.app(app).await?;
            let subscriptions = store::list(&ctx.store, app)
                .await
                .map_err(|e| ctx.core_error("list webhook subscriptions", app, e))?;
            let app_id = app.clone();
            output::emit(
                global.output,
                &SubscriptionList {
                    app_id,
                    subscriptions,
                },
            );
            return Ok(exit::OK);
        }
        WebhooksCommand::Disable(r) => set_state(r, SubscriptionState::Disabled, project).await?,
        WebhooksCommand::Enable(r) => set_state(r, SubscriptionState::Active, project).await?,
        WebhooksCommand::RotateSecret {
            subscription,
            grace,
        } => rotate(subscription, grace.as_deref(), project).await?,
        WebhooksCommand::Remove(r) => {
            let ctx = connect(&r.app, project).await?;
            let app = &r.app.app;
            let removed = store::remove(&ctx.store, app, &r.subscription_id)
                .await
                .map_err(|e| not_found_or(&ctx, app, e, "remove the subscription"))?;
            ctx.audit(app, "webhook.remove", &target_of(&removed), vec![])
                .await?;
            SubscriptionView {
                subscription: removed,
                secret: None,
                action: Some("removed"),
            }
        }
    };
    output::emit(global.output, &view);
    Ok(exit::OK)
}

async fn connect(target: &AppTarget, project: &Project) -> Result<AdminContext> {
    let ctx = AdminContext::connect(project, &target.target.stage, &target.target.aws).await?;
    ctx.app(&target.app).await?;
    Ok(ctx)
}

fn target_of(subscription: &Subscription) -> String {
    format!("webhook:{}", subscription.subscription_id)
}

/// "subscription X not found" points at `webhooks list`, not at the keys.
fn not_found_or(ctx: &AdminContext, app: &str, err: ob_core::Error, action: &str) -> CliError {
    match err {
        ob_core::Error::NotFound(what) => CliError::new(format!("{what} not found in app {app}"))
            .fix(format!(
                "list the app's subscriptions: `obctl webhooks list --stage {} --app {app}`",
                ctx.stage.name
            )),
        other => ctx.core_error(action, app, other),
    }
}

async fn add(args: &AddArgs, project: &Project) -> Result<SubscriptionView> {
    let events = webhooks::parse_event_types(&args.events).map_err(|e| {
        CliError::new(format!("--events: {e}")).fix("e.g. --events data.created,auth.user.created")
    })?;
    let ctx = connect(&args.app, project).await?;
    let policy = ctx.stage.config.webhooks.policy();
    let url = TargetUrl::parse(&args.url, policy).map_err(|e| {
        let mut err = CliError::new(format!("--url: {e}"));
        if !policy.allow_local {
            err = err.fix(format!(
                "give a public https:// endpoint (stage {} does not allow local targets: webhooks.allowLocalTargets)",
                ctx.stage.name
            ));
        }
        err
    })?;
    // A name resolving to a forbidden address is refused now as well as at
    // every send; one that does not resolve yet may be set up later.
    match webhooks::send::resolve(url.host(), policy).await {
        Err(refusal @ (Refusal::Address { .. } | Refusal::Resolved { .. })) => {
            return Err(CliError::new(format!("--url: {refusal}"))
                .fix("give an endpoint on a public address"));
        }
        Ok(_) | Err(Refusal::Unresolvable { .. }) => {}
    }
    let app = &args.app.app;
    let (subscription, secret) = store::create(&ctx.store, app, &url, &events, &args.resources)
        .await
        .map_err(|e| match e {
            ob_core::Error::Invalid { field, message } if field == "resource" => {
                CliError::new(format!("--resource: {message}"))
                    .fix("give data API resource names, e.g. --resource orders")
            }
            other => ctx.core_error("add the subscription", app, other),
        })?;
    ctx.audit(
        app,
        "webhook.create",
        &target_of(&subscription),
        vec!["url".into(), "events".into(), "resources".into()],
    )
    .await?;
    Ok(SubscriptionView {
        subscription,
        secret: Some(secret.expose().to_owned()),
        action: Some("added"),
    })
}

async fn set_state(
    r: &SubscriptionRef,
    state: SubscriptionState,
    project: &Project,
) -> Result<SubscriptionView> {
    let ctx = connect(&r.app, project).await?;
    let app = &r.app.app;
    let reason = (state == SubscriptionState::Disabled).then_some("disabled by an operator");
    let subscription = store::set_state(&ctx.store, app, &r.subscription_id, state, reason)
        .await
        .map_err(|e| not_found_or(&ctx, app, e, "change the subscription"))?;
    let (action, verb) = match state {
        SubscriptionState::Active => ("webhook.enable", "enabled"),
        SubscriptionState::Disabled => ("webhook.disable", "disabled"),
    };
    ctx.audit(app, action, &target_of(&subscription), vec!["state".into()])
        .await?;
    Ok(SubscriptionView {
        subscription,
        secret: None,
        action: Some(verb),
    })
}

async fn rotate(
    r: &SubscriptionRef,
    grace: Option<&str>,
    project: &Project,
) -> Result<SubscriptionView> {
    let grace_secs = match grace {
        Some(text) => when::parse_duration(text)
            .map_err(|msg| CliError::new(format!("--grace: {msg}")).fix("e.g. --grace 24h"))?,
        None => DEFAULT_ROTATION_GRACE_SECS,
    };
    let ctx = connect(&r.app, project).await?;
    let app = &r.app.app;
    let (subscription, secret) =
        store::rotate_secret(&ctx.store, app, &r.subscription_id, grace_secs)
            .await
            .map_err(|e| not_found_or(&ctx, app, e, "rotate the secret"))?;
    ctx.audit(
        app,
        "webhook.rotate",
        &target_of(&subscription),
        vec!["secret".into()],
    )
    .await?;
    Ok(SubscriptionView {
        subscription,
        secret: Some(secret.expose().to_owned()),
        action: Some("rotated"),
    })
}
