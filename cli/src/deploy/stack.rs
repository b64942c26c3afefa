//! The deployed stack as a deploy sees it: whether it exists, whether it can be
//! changed now, its parameters, outputs and template.

use std::collections::BTreeMap;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{Stack, StackStatus, TemplateStage};
use serde::Serialize;

use crate::aws::{aws_error, error_code, error_message};
use crate::error::{CliError, Result};

/// What a deploy may do with the stack in its current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackState {
    /// No stack yet: create it.
    Missing,
    /// A CREATE change set was made but never executed: create it.
    ReviewInProgress,
    /// A first create failed and rolled back: it must be deleted before a new create.
    RolledBackCreate,
    /// Another operation is running.
    Busy(String),
    /// A failed state that needs an operator (e.g. UPDATE_ROLLBACK_FAILED).
    Stuck(String),
    /// Stable: update it.
    Ready(String),
}

pub fn classify(status: &StackStatus) -> StackState {
    let name = status.as_str().to_owned();
    match status {
        StackStatus::ReviewInProgress => StackState::ReviewInProgress,
        StackStatus::RollbackComplete => StackState::RolledBackCreate,
        StackStatus::DeleteComplete => StackState::Missing,
        _ if name.ends_with("_IN_PROGRESS") => StackState::Busy(name),
        _ if name.ends_with("_FAILED") => StackState::Stuck(name),
        _ => StackState::Ready(name),
    }
}

/// The stack, or `None` when it does not exist.
pub async fn describe(cfn: &Client, stack_name: &str) -> Result<Option<Stack>> {
    match cfn.describe_stacks().stack_name(stack_name).send().await {
        Ok(out) => Ok(out.stacks().first().cloned()),
        Err(err)
            if error_code(&err) == Some("ValidationError")
                && error_message(&err).is_some_and(|m| m.contains("does not exist")) =>
        {
            Ok(None)
        }
        Err(err) => Err(aws_error(&format!("describe stack {stack_name}"), &err)),
    }
}

pub fn state(stack: Option<&Stack>) -> StackState {
    stack
        .and_then(Stack::stack_status)
        .map_or(StackState::Missing, classify)
}

/// The stack's parameters by key.
pub fn parameters(stack: &Stack) -> BTreeMap<String, String> {
    stack
        .parameters()
        .iter()
        .filter_map(|p| {
            Some((
                p.parameter_key()?.to_owned(),
                p.parameter_value()?.to_owned(),
            ))
        })
        .collect()
}

/// One stack output.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub key: String,
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

pub fn outputs(stack: &Stack) -> Vec<Output> {
    let mut outputs: Vec<Output> = stack
        .outputs()
        .iter()
        .filter_map(|o| {
            Some(Output {
                key: o.output_key()?.to_owned(),
                value: o.output_value()?.to_owned(),
                description: o.description().map(str::to_owned),
            })
        })
        .collect();
    outputs.sort_by(|a, b| a.key.cmp(&b.key));
    outputs
}

/// The template the stack was last deployed with, as JSON-compatible data.
pub async fn deployed_template(
    cfn: &Client,
    stack_name: &str,
) -> Result<Option<serde_json::Value>> {
    let out = cfn
        .get_template()
        .stack_name(stack_name)
        .template_stage(TemplateStage::Original)
        .send()
        .await
        .map_err(|err| aws_error(&format!("read the deployed template of {stack_name}"), &err))?;
    let Some(body) = out.template_body() else {
        return Ok(None);
    };
    let value: serde_yaml::Value = serde_yaml::from_str(body).map_err(|err| {
        CliError::new(format!(
            "the deployed template of {stack_name} is not YAML or JSON: {err}"
        ))
    })?;
    serde_json::to_value(value).map(Some).map_err(|err| {
        CliError::new(format!(
            "the deployed template of {stack_name} cannot be compared: {err}"
        ))
    })
}

/// Deletes the stack and waits until it is gone (or fails).
pub async fn delete_and_wait(cfn: &Client, stack_name: &str) -> Result<()> {
    let stack_id = describe(cfn, stack_name)
        .await?
        .and_then(|s| s.stack_id().map(str::to_owned))
        .unwrap_or_else(|| stack_name.to_owned());
    cfn.delete_stack()
        .stack_name(stack_name)
        .send()
        .await
        .map_err(|err| aws_error(&format!("delete stack {stack_name}"), &err))?;
    loop {
        // Deleted stacks are only visible by id.
        match describe(cfn, &stack_id).await? {
            None => return Ok(()),
            Some(stack) => match stack.stack_status() {
                Some(StackStatus::DeleteComplete) | None => return Ok(()),
                Some(StackStatus::DeleteFailed) => {
                    return Err(CliError::new(format!(
                        "deleting stack {stack_name} failed: {}",
                        stack.stack_status_reason().unwrap_or("no reason given")
                    ))
                    .fix("see the stack's events in the CloudFormation console, fix the cause, and retry"));
                }
                Some(_) => tokio::time::sleep(super::poll_interval()).await,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states() {
        assert_eq!(
            classify(&StackStatus::CreateComplete),
            StackState::Ready("CREATE_COMPLETE".into())
        );
        assert_eq!(
            classify(&StackStatus::UpdateRollbackComplete),
            StackState::Ready("UPDATE_ROLLBACK_COMPLETE".into())
        );
        assert_eq!(
            classify(&StackStatus::RollbackComplete),
            StackState::RolledBackCreate
        );
        assert_eq!(
            classify(&StackStatus::UpdateInProgress),
            StackState::Busy("UPDATE_IN_PROGRESS".into())
        );
        assert_eq!(
            classify(&StackStatus::UpdateRollbackFailed),
            StackState::Stuck("UPDATE_ROLLBACK_FAILED".into())
        );
        assert_eq!(
            classify(&StackStatus::ReviewInProgress),
            StackState::ReviewInProgress
        );
        assert_eq!(state(None), StackState::Missing);
    }
}
