//! `obctl notify test|suppressions`: send a test message through the deployed queue and worker, and read or clear an app's suppression list.

use std::fmt;
use std::time::Duration;

use clap::{Args, Subcommand};
use ob_core::clock;
use ob_core::notify::store::{self as notify_store};
use ob_core::notify::suppression::{self, Suppression};
use ob_core::notify::{Channel, Envelope, Job, Notification, NotifyQueue, Recipient, Status};
use serde::Serialize;

use super::AdminContext;
use super::args::AdminTarget;
use crate::args::GlobalArgs;
use crate::error::{CliError, Result, exit};
use crate::output;
use crate::project::Project;

#[derive(Debug, Args)]
pub struct NotifyArgs {
    #[command(subcommand)]
    pub command: NotifyCommand,
}

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a test message through the stage's queue and notify function, and wait for its status
    Test(TestArgs),
    /// An app's suppression list: addresses that bounced or complained
    Suppressions {
        #[command(subcommand)]
        command: SuppressionsCommand,
    },
}

#[derive(Debug, Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub target: AdminTarget,
    /// App id (the message is sent, counted and audited as the app's)
    #[arg(long)]
    pub app: String,
    /// An e-mail address, or a phone number in E.164 form (+14155550100) for an SMS
    #[arg(long, value_name = "ADDRESS")]
    pub to: String,
    /// How long to wait for the notify function's answer (e.g. 30s, 2m)
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub wait: String,
}

#[derive(Debug, Subcommand)]
pub enum SuppressionsCommand {
    /// List the app's suppressed addresses
    List {
        #[command(flatten)]
        target: AdminTarget,
        /// App id
        #[arg(long)]
        app: String,
    },
    /// Take an address off the list, so it is sent to again
    Clear {
        #[command(flatten)]
        target: AdminTarget,
        /// App id
        #[arg(long)]
        app: String,
        /// The address (any case)
        address: String,
    },
}

/// The outcome of `obctl notify test`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestResult {
    pub stage: String,
    #[serde(flatten)]
    pub notification: Notification,
}

impl fmt::Display for TestResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = &self.notification;
        let to = match &n.to {
            Recipient::Email(a) | Recipient::Phone(a) | Recipient::UserId(a) => a,
        };
        write!(
            f,
            "test {} to {to}: {}",
            n.channel.as_str(),
            n.status.as_str()
        )?;
        if let Some(id) = &n.provider_message_id {
            write!(f, " (provider message id {id})")?;
        }
        if let Some(error) = &n.error {
            write!(f, "\n  {error}")?;
        }
        write!(f, "\n  notification {} of app {}", n.id, n.app_id)
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SuppressionList {
    pub app_id: String,
    pub suppressions: Vec<Suppression>,
}

impl fmt::Display for SuppressionList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.suppressions.is_empty() {
            return write!(f, "app {} suppresses no address", self.app_id);
        }
        write!(
            f,
            "{:<24} {:<10} {:<32} ADDRESS",
            "SINCE", "REASON", "DETAIL"
        )?;
        for s in &self.suppressions {
            write!(
                f,
                "\n{:<24} {:<10} {:<32} {}",
                s.suppressed_at,
                s.reason.as_str(),
                s.detail,
                s.address
            )?;
        }
        Ok(())
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cleared {
    pub app_id: String,
    pub address: String,
    pub cleared: bool,
}

impl fmt::Display for Cleared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is off the suppression list of app {}: it is sent to again",
            self.address, self.app_id
        )
    }
}

pub async fn run(global: &GlobalArgs, args: &NotifyArgs, project: &Project) -> Result<u8> {
    match &args.command {
        NotifyCommand::Test(test) => send_test(global, test, project).await,
        NotifyCommand::Suppressions { command } => match command {
            SuppressionsCommand::List { target, app } => {
                let ctx = AdminContext::connect(project, &target.stage, &target.aws).await?;
                ctx.app(app).await?;
                let suppressions = suppression::list(&ctx.store, app)
                    .await
                    .map_err(|e| ctx.core_error("list the suppression list", app, e))?;
                let app_id = app.clone();
                output::emit(
                    global.output,
                    &SuppressionList {
                        app_id,
                        suppressions,
                    },
                );
                Ok(exit::OK)
            }
            SuppressionsCommand::Clear {
                target,
                app,
                address,
            } => {
                let ctx = AdminContext::connect(project, &target.stage, &target.aws).await?;
                ctx.app(app).await?;
                let address = address.trim().to_lowercase();
                suppression::clear(&ctx.store, app, &address)
                    .await
                    .map_err(|err| match err {
                        ob_core::Error::NotFound(what) => {
                            CliError::new(format!("{what}: nothing to clear")).fix(format!(
                                "list it: `obctl notify suppressions list --stage {} --app {app}`",
                                ctx.stage.name
                            ))
                        }
                        other => ctx.core_error("clear the address", app, other),
                    })?;
                ctx.audit(
                    app,
                    "notify.unsuppress",
                    &format!("email:{address}"),
                    Vec::new(),
                )
                .await?;
                output::emit(
                    global.output,
                    &Cleared {
                        app_id: app.clone(),
                        address,
                        cleared: true,
                    },
                );
                Ok(exit::OK)
            }
        },
    }
}

/// The test message's recipient and channel, from `--to`.
fn recipient(to: &str) -> Result<(Channel, Recipient)> {
    let (channel, recipient) = if to.starts_with('+') {
        (Channel::Sms, Recipient::Phone(to.to_owned()))
    } else {
        (Channel::Email, Recipient::Email(to.to_owned()))
    };
    let recipient = recipient.validated(channel, "--to").map_err(|_| {
        CliError::new(format!(
            "--to {to:?} is neither an e-mail address nor a phone number"
        ))
        .fix("pass an address (ann@example.com) or an E.164 number (+14155550100)")
    })?;
    Ok((channel, recipient))
}

async fn send_test(global: &GlobalArgs, args: &TestArgs, project: &Project) -> Result<u8> {
    let (channel, to) = recipient(&args.to)?;
    let wait = super::when::parse_duration(&args.wait)
        .ok()
        .and_then(|secs| u64::try_from(secs).ok())
        .map(Duration::from_secs)
        .ok_or_else(|| {
            CliError::new(format!("--wait {:?} is not a duration", args.wait))
                .fix("e.g. --wait 30s or --wait 2m")
        })?;
    let ctx = AdminContext::connect(project, &args.target.stage, &args.target.aws).await?;
    let app = ctx.app(&args.app).await?;
    if channel == Channel::Sms && !ctx.stage.config.notifications.sms {
        return Err(CliError::new(format!("SMS is off on stage {}", ctx.stage.name)).fix(format!(
            "set notifications.sms: true in stacks/{}.yaml and deploy, or test an e-mail address",
            ctx.stage.name
        )));
    }
    let queue_url = ctx
        .outputs
        .get(ob_core::queues::NOTIFY.output)
        .cloned()
        .ok_or_else(|| {
            CliError::new(format!("stage {} has no notify queue", ctx.stage.name)).fix(format!(
                "deploy the stage again: `obctl deploy --stage {}`",
                ctx.stage.name
            ))
        })?;
    let now = clock::now_rfc3339();
    let notification = Notification {
        id: uuid::Uuid::now_v7().to_string(),
        app_id: app.app_id.clone(),
        channel,
        to,
        status: Status::Queued,
        template: None,
        subject: format!("Test message from One Backend ({})", ctx.stage.name),
        text: Some(format!(
            "This is a test message for the app {} on stage {}, sent by `obctl notify test`.",
            app.name, ctx.stage.name
        )),
        html: None,
        provider_message_id: None,
        error: None,
        requested_by: format!("operator:{}", ctx.operator),
        created_at: now.clone(),
        updated_at: now,
    };
    let fail = |what: &str, err: ob_core::Error| ctx.core_error(what, &app.app_id, err);
    notify_store::create_all(&ctx.store, std::slice::from_ref(&notification))
        .await
        .map_err(|e| fail("store the test notification", e))?;
    let job = Job::Notification {
        app_id: app.app_id.clone(),
        notification_id: notification.id.clone(),
    };
    NotifyQueue::new(ctx.aws.sqs(), queue_url)
        .send(&Envelope::new(job, None))
        .await
        .map_err(|e| fail("enqueue the test notification", e))?;
    ctx.audit(
        &app.app_id,
        "notify.test",
        &format!("notification:{}", notification.id),
        vec![channel.as_str().to_owned()],
    )
    .await?;
    let spinner = super::spinner(format!(
        "waiting for the notify function (up to {})",
        args.wait
    ));
    let deadline = tokio::time::Instant::now() + wait;
    let settled = loop {
        let current = notify_store::get(&ctx.store, &app.app_id, &notification.id)
            .await
            .map_err(|e| fail("read the test notification", e))?;
        match current {
            Some(n) if n.status != Status::Queued => break Some(n),
            _ if tokio::time::Instant::now() >= deadline => break None,
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    };
    spinner.finish_and_clear();
    let Some(settled) = settled else {
        return Err(CliError::new(format!(
            "the test notification {} is still queued after {}",
            notification.id, args.wait
        ))
        .fix(if ctx.aws.endpoint_url.is_some() {
            "locally the worker runs inside `obctl dev` (make dev): start it, and the message is sent".to_owned()
        } else {
            format!(
                "look at the notify function's logs (`obctl logs --stage {} --function notify`) and the NotifyDeadLetterQueue",
                ctx.stage.name
            )
        }));
    };
    let code = if settled.status == Status::Sent {
        exit::OK
    } else {
        exit::ERROR
    };
    output::emit(
        global.output,
        &TestResult {
            stage: ctx.stage.name.clone(),
            notification: settled,
        },
    );
    Ok(code)
}
