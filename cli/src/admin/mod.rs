//! `obctl apps|keys|users|config|audit|notify|webhooks`: operator commands against a deployed stage's tables.
//!
//! Every command builds one [`AdminContext`] from `--stage` and the AWS options:
//! the stage's tables come from the stack's outputs (no table names typed by
//! hand), and the operator is the caller's AWS identity, recorded as the actor
//! of every audit entry an operator action writes.

pub mod app_delete;
pub mod apps;
pub mod args;
pub mod audit;
pub mod config;
pub mod hangup;
pub mod keys;
pub mod notify;
pub mod users;
pub mod webhooks;
pub mod when;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use ob_core::audit::{Actor, NewEntry, Origin};
use ob_core::{Store, Tables};

use crate::args::AwsArgs;
use crate::aws::{Aws, aws_error};
use crate::deploy::stack;
use crate::error::{CliError, Result};
use crate::project::Project;
use crate::stage::{self, Stage};

/// What every admin command works with: the stage, its store and who is acting.
#[derive(Debug)]
pub struct AdminContext {
    pub stage: Stage,
    pub store: Store,
    /// The operator's AWS identity (STS caller ARN).
    pub operator: String,
    /// The stack's outputs (tables and bucket not in [`Store`], e.g. files).
    pub outputs: BTreeMap<String, String>,
    /// Clients for the stage's account and region (S3 for `apps delete`).
    pub aws: Aws,
}

impl AdminContext {
    /// Loads the stage, finds its stack and tables, and asks STS who is calling.
    pub async fn connect(project: &Project, stage_name: &str, aws_args: &AwsArgs) -> Result<Self> {
        let stage = stage::load(project, stage_name)?;
        let spinner = spinner(format!("connecting to stage {}", stage.name));
        let aws = Aws::connect(aws_args, &stage.config.region).await;
        let found = stack::describe(&aws.cloudformation(), &stage.config.stack_name).await?;
        let Some(found) = found else {
            spinner.finish_and_clear();
            return Err(CliError::new(format!(
                "stage {} is not deployed (no stack {})",
                stage.name, stage.config.stack_name
            ))
            .fix(format!(
                "deploy it first: `obctl deploy --stage {}`",
                stage.name
            )));
        };
        let outputs: BTreeMap<String, String> = stack::outputs(&found)
            .into_iter()
            .map(|o| (o.key, o.value))
            .collect();
        let identity =
            aws.sts().get_caller_identity().send().await.map_err(|err| {
                aws_error("check the AWS credentials (sts:GetCallerIdentity)", &err)
            });
        spinner.finish_and_clear();
        let operator = identity?
            .arn()
            .map(str::to_owned)
            .ok_or_else(|| CliError::new("sts:GetCallerIdentity returned no ARN"))?;
        let store = Store::new(
            aws.dynamodb(),
            Tables::from_lookup(|def| outputs.get(def.output).cloned()),
        );
        Ok(Self {
            stage,
            store,
            operator,
            outputs,
            aws,
        })
    }

    /// Records an operator action in the app's audit log (names of fields only, never values).
    pub async fn audit(
        &self,
        app_id: &str,
        action: &str,
        target: &str,
        changed_fields: Vec<String>,
    ) -> Result<()> {
        let entry = NewEntry {
            app_id: app_id.to_owned(),
            actor: Actor::Operator(self.operator.clone()),
            action: action.to_owned(),
            target: target.to_owned(),
            changed_fields,
            origin: Origin {
                user_agent: Some(format!("obctl/{}", env!("CARGO_PKG_VERSION"))),
                ..Origin::default()
            },
        };
        ob_core::audit::record(&self.store, entry, self.stage.config.audit.retention_days)
            .await
            .map(|_| ())
            .map_err(|err| self.core_error("write the audit entry", app_id, err))
    }

    /// The app, or "app X not found" with the fix.
    pub async fn app(&self, app_id: &str) -> Result<ob_core::apps::App> {
        ob_core::apps::get(&self.store, app_id)
            .await
            .map_err(|err| self.core_error("read the app", app_id, err))?
            .ok_or_else(|| self.app_not_found(app_id))
    }

    pub fn app_not_found(&self, app_id: &str) -> CliError {
        CliError::new(format!(
            "app {app_id} not found on stage {}",
            self.stage.name
        ))
        .fix(format!(
            "check the id: `obctl apps list --stage {}`",
            self.stage.name
        ))
    }

    /// Maps a domain error to a message that says what to do.
    pub fn core_error(&self, action: &str, app_id: &str, err: ob_core::Error) -> CliError {
        use ob_core::Error as E;
        match err {
            E::NotFound(what) if what.starts_with("app ") => self.app_not_found(app_id),
            E::NotFound(what) => {
                CliError::new(format!("{what} not found in app {app_id}")).fix(format!(
                    "list what exists: `obctl keys list --stage {} --app {app_id}`",
                    self.stage.name
                ))
            }
            E::Invalid { field, message } => {
                CliError::new(format!("could not {action}: {field} {message}"))
                    .fix(format!("correct {field} and retry"))
            }
            E::Conflict(message) => CliError::new(format!("could not {action}: {message}")),
            other => CliError::new(format!("could not {action}: {other}"))
                .fix("check the stage is deployed and your AWS credentials, then retry"),
        }
    }
}

/// A spinner on standard error for calls that take a moment; hidden without a
/// terminal, and with `-v` (whose lines it would overwrite).
pub fn spinner(message: String) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() || crate::terminal::Terminal::current().verbosity > 0 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// Epoch seconds as an RFC 3339 date for tables, `-` when absent.
pub fn date_or_dash(epoch: Option<i64>) -> String {
    epoch.map_or_else(|| "-".to_owned(), ob_core::clock::epoch_to_rfc3339)
}
