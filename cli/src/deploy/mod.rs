//! Deploys through change sets: the plan shared by `obctl diff` and `obctl deploy`
//! (render, artifacts, change set, summary), and its execution with progress.

pub mod changeset;
pub mod progress;
pub mod stack;
pub mod summary;
pub mod template_diff;
mod upload;

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_cloudformation::types::ChangeSetType;

use crate::aws::Aws;
use crate::bootstrap::{self, Bootstrapped};
use crate::build::{self, Artifact, BuildPlan};
use crate::error::{CliError, Result};
use crate::project::Project;
use crate::render;
use crate::stage::Stage;
use stack::StackState;
use summary::{CodeChange, Summary};

/// How long to wait between polls of CloudFormation (`OBCTL_POLL_MS` overrides).
pub fn poll_interval() -> Duration {
    let millis = std::env::var("OBCTL_POLL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    Duration::from_millis(millis)
}

/// Where the function zips come from.
#[derive(Debug, Clone)]
pub enum Artifacts {
    Build(BuildPlan),
    /// Zips written earlier by `obctl build` (build once, deploy to many stages).
    Dir(std::path::PathBuf),
}

/// What `diff` and `deploy` are asked to do.
#[derive(Debug, Clone)]
pub struct Request {
    pub artifacts: Artifacts,
    pub allow_replace: BTreeSet<String>,
    /// Upload the function zips (deploy) or only compute their keys (diff).
    pub upload_code: bool,
}

/// A computed change set, ready to execute or discard.
#[derive(Debug)]
pub struct Planned {
    pub summary: Summary,
    /// None when there is nothing to change.
    pub change_set_id: Option<String>,
    /// The stack's id (exact, unlike its name); None when there is nothing to change.
    pub stack_id: Option<String>,
    pub kind: ChangeSetType,
    /// The stack did not exist before this plan (a CREATE change set made it).
    pub new_stack: bool,
    pub uploaded: usize,
    pub reused: usize,
}

pub fn artifacts(project: &Project, source: &Artifacts) -> Result<Vec<Artifact>> {
    match source {
        Artifacts::Build(plan) => build::build(project, plan),
        Artifacts::Dir(dir) => build::from_dir(dir),
    }
}

/// Renders, uploads what is missing, makes the change set and summarises it.
pub async fn plan(
    project: &Project,
    stage: &Stage,
    aws: &Aws,
    request: &Request,
    state: &StackState,
) -> Result<Planned> {
    let template = render::render(project, stage)?;
    let artifacts = artifacts(project, &request.artifacts)?;
    let boot: Bootstrapped = bootstrap::resolve(aws, stage).await?;
    let s3 = aws.s3();
    let mut uploaded = 0;
    let mut reused = 0;
    if request.upload_code {
        for artifact in &artifacts {
            if upload::ensure(
                &s3,
                &boot.bucket,
                &artifact.key,
                &artifact.path,
                "application/zip",
            )
            .await?
            {
                uploaded += 1;
            } else {
                reused += 1;
            }
        }
    }
    let body = template.to_json();
    let template_key = format!("templates/{}.json", build::zip::sha256_hex(body.as_bytes()));
    if upload::ensure_bytes(
        &s3,
        &boot.bucket,
        &template_key,
        body.into_bytes(),
        "application/json",
    )
    .await?
    {
        uploaded += 1;
    }
    let template_url = format!(
        "https://{}.s3.{}.amazonaws.com/{template_key}",
        boot.bucket,
        aws.region()
    );

    let stack_name = &stage.config.stack_name;
    let (kind, new_stack) = match state {
        StackState::Missing => (ChangeSetType::Create, true),
        StackState::ReviewInProgress => (ChangeSetType::Create, false),
        StackState::Ready(_) => (ChangeSetType::Update, false),
        other => return Err(not_deployable(stage, other)),
    };
    let mut parameters = vec![
        ("ArtifactsBucket".to_owned(), boot.bucket.clone()),
        ("SigningKeySecretArn".to_owned(), boot.secret_arn.clone()),
        (
            "PermissionsBoundaryArn".to_owned(),
            boot.permissions_boundary_arn.clone(),
        ),
    ];
    parameters.extend(artifacts.iter().map(|a| (a.parameter(), a.key.clone())));

    let cfn = aws.cloudformation();
    let deployed = stack::describe(&cfn, stack_name).await?;
    let code_changes: Vec<CodeChange> = {
        let before = deployed.as_ref().map(stack::parameters).unwrap_or_default();
        artifacts
            .iter()
            .filter(|a| before.get(&a.parameter()) != Some(&a.key))
            .map(|a| CodeChange {
                function: a.function.clone(),
                before: before.get(&a.parameter()).cloned(),
                after: a.key.clone(),
            })
            .collect()
    };
    let template_diff = match (&kind, deployed.is_some()) {
        (ChangeSetType::Update, true) => {
            let before = stack::deployed_template(&cfn, stack_name)
                .await?
                .unwrap_or_default();
            let after = serde_json::to_value(template.value())
                .map_err(|err| CliError::new(format!("cannot compare templates: {err}")))?;
            template_diff::diff(&before, &after)
        }
        _ => Vec::new(),
    };

    let made = changeset::make(
        &cfn,
        &changeset::Request {
            stack_name: stack_name.clone(),
            kind: kind.clone(),
            template_url,
            parameters,
            role_arn: Some(boot.execution_role_arn.clone()),
            stage: stage.name.clone(),
        },
    )
    .await?;
    let (change_set_id, stack_id, resources) = match made {
        changeset::Made::NoChanges { id } => {
            if let Some(id) = id {
                changeset::discard(&cfn, &id).await;
            }
            (None, None, Vec::new())
        }
        changeset::Made::Ready { id, stack_id } => {
            let changes = changeset::changes(&cfn, &id).await?;
            let resources = summary::resource_changes(&changes, &request.allow_replace);
            (Some(id), Some(stack_id), resources)
        }
    };
    let kind_name = kind.as_str().to_owned();
    let mut summary = Summary::new(
        &stage.name,
        stack_name,
        &kind_name,
        resources,
        template_diff,
        code_changes,
    );
    if change_set_id.is_none() {
        // CloudFormation itself found nothing to do: that is the authority.
        summary = Summary::unchanged(&stage.name, stack_name);
    }
    Ok(Planned {
        summary,
        change_set_id,
        stack_id,
        kind,
        new_stack,
        uploaded,
        reused,
    })
}

/// Drops a plan that will not be executed: its change set, and the empty
/// REVIEW_IN_PROGRESS stack a CREATE change set made (AWS would keep it).
pub async fn abandon(cfn: &aws_sdk_cloudformation::Client, planned: &Planned) -> Result<()> {
    if let Some(id) = &planned.change_set_id {
        changeset::discard(cfn, id).await;
    }
    if let (true, Some(stack_id)) = (planned.new_stack, &planned.stack_id) {
        stack::delete_and_wait(cfn, stack_id).await?;
    }
    Ok(())
}

fn not_deployable(stage: &Stage, state: &StackState) -> CliError {
    let stack = &stage.config.stack_name;
    match state {
        StackState::Busy(status) => CliError::new(format!(
            "stack {stack} is busy ({status}): another operation is running"
        ))
        .fix(format!(
            "wait for it to finish (`obctl status --stage {}`), then run the command again",
            stage.name
        )),
        StackState::Stuck(status) => CliError::new(format!("stack {stack} is in {status} and cannot be updated"))
            .fix("resolve it in the CloudFormation console (e.g. continue the update rollback), then deploy again"),
        StackState::RolledBackCreate => CliError::new(format!(
            "stack {stack} is in ROLLBACK_COMPLETE: its first create failed and it holds no resources"
        ))
        .fix(format!("`obctl deploy --stage {}` deletes and recreates it after confirmation", stage.name)),
        _ => CliError::new(format!("stack {stack} cannot be deployed now")),
    }
}
