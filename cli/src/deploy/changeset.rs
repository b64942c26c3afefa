//! Creating, waiting for, reading and deleting change sets.

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{
    Capability, Change, ChangeSetStatus, ChangeSetType, Parameter, Tag,
};

use crate::aws::{aws_error, error_message};
use crate::error::{CliError, Result};

/// Everything CloudFormation needs to make a change set.
#[derive(Debug, Clone)]
pub struct Request {
    pub stack_name: String,
    pub kind: ChangeSetType,
    pub template_url: String,
    pub parameters: Vec<(String, String)>,
    pub role_arn: Option<String>,
    pub stage: String,
}

/// The outcome of making a change set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Made {
    /// The template and parameters equal the deployed ones.
    NoChanges { id: Option<String> },
    /// `stack_id` names the exact stack (a name can also match deleted stacks).
    Ready { id: String, stack_id: String },
}

/// True when CloudFormation says there is nothing to change (worded differently
/// by CreateChangeSet's error and by a FAILED change set's reason).
fn means_no_changes(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

pub fn new_name() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("obctl-{millis}")
}

/// Creates a change set and waits until CloudFormation has computed it.
pub async fn make(cfn: &Client, request: &Request) -> Result<Made> {
    let parameters: Vec<Parameter> = request
        .parameters
        .iter()
        .map(|(k, v)| {
            Parameter::builder()
                .parameter_key(k)
                .parameter_value(v)
                .build()
        })
        .collect();
    let created = cfn
        .create_change_set()
        .stack_name(&request.stack_name)
        .change_set_name(new_name())
        .change_set_type(request.kind.clone())
        .template_url(&request.template_url)
        .set_parameters(Some(parameters))
        .capabilities(Capability::CapabilityIam)
        .set_role_arn(request.role_arn.clone())
        .tags(Tag::builder().key("ob:stage").value(&request.stage).build())
        .description(format!("obctl deploy of stage {}", request.stage))
        .send()
        .await;
    let (id, stack_id) = match created {
        Ok(out) => (
            out.id().unwrap_or_default().to_owned(),
            out.stack_id().unwrap_or(&request.stack_name).to_owned(),
        ),
        Err(err) if error_message(&err).is_some_and(means_no_changes) => {
            return Ok(Made::NoChanges { id: None });
        }
        Err(err) => {
            return Err(aws_error(
                &format!("create a change set for {}", request.stack_name),
                &err,
            ));
        }
    };
    loop {
        let described = cfn
            .describe_change_set()
            .change_set_name(&id)
            .send()
            .await
            .map_err(|err| aws_error("read the change set", &err))?;
        match described.status() {
            Some(ChangeSetStatus::CreateComplete) => return Ok(Made::Ready { id, stack_id }),
            Some(ChangeSetStatus::Failed) => {
                let reason = described.status_reason().unwrap_or("no reason given");
                if means_no_changes(reason) {
                    return Ok(Made::NoChanges { id: Some(id) });
                }
                return Err(CliError::new(format!(
                    "CloudFormation could not make a change set for {}: {reason}",
                    request.stack_name
                ))
                .fix(
                    "fix the template or parameters it names (`obctl render` shows the template)",
                ));
            }
            _ => tokio::time::sleep(super::poll_interval()).await,
        }
    }
}

/// Every change of a change set, across pages.
pub async fn changes(cfn: &Client, id: &str) -> Result<Vec<Change>> {
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = cfn
            .describe_change_set()
            .change_set_name(id)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|err| aws_error("read the change set", &err))?;
        all.extend(page.changes().iter().cloned());
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(all);
        }
    }
}

/// Deletes a change set that will not be executed (best effort: it expires anyway).
pub async fn discard(cfn: &Client, id: &str) {
    let _ = cfn.delete_change_set().change_set_name(id).send().await;
}
