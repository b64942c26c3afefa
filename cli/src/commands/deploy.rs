//! `obctl deploy`: build, upload what is missing, change set, guard, confirm,
//! execute with progress, then the outputs (or the first failure and the rollback).

use std::fmt;
use std::io::IsTerminal;

use serde::Serialize;

use crate::args::{ArtifactArgs, DeployArgs, GlobalArgs, OutputFormat};
use crate::aws::{Aws, aws_error};
use crate::build::{self, BuildPlan};
use crate::deploy::progress::{self, Outcome};
use crate::deploy::stack::{self, Output, StackState};
use crate::deploy::summary::Summary;
use crate::deploy::{self, Artifacts};
use crate::error::{CliError, Result, exit};
use crate::project::Project;
use crate::stage::Stage;
use crate::{output, prompt, stage};

/// Flags decide where zips come from: `--artifacts DIR`, else a build.
pub fn artifact_source(project: &Project, stage: &Stage, args: &ArtifactArgs) -> Artifacts {
    if let Some(dir) = &args.artifacts {
        return Artifacts::Dir(dir.clone());
    }
    let profile = args
        .build_profile
        .unwrap_or(stage.config.lambda.build_profile);
    let arch = stage.config.lambda.architecture;
    Artifacts::Build(BuildPlan {
        arch,
        profile: profile.as_str().to_owned(),
        out_dir: build::default_out_dir(project, arch, profile.as_str()),
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Deployed {
    stage: String,
    stack_name: String,
    uploaded: usize,
    reused: usize,
    summary: Summary,
    outcome: Option<Outcome>,
    outputs: Vec<Output>,
}

impl fmt::Display for Deployed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "uploads: {} new, {} already in the bucket",
            self.uploaded, self.reused
        )?;
        match &self.outcome {
            None => write!(f, "no changes: stack {} is up to date", self.stack_name)?,
            Some(o) => write!(f, "stack {} deployed: {}", self.stack_name, o.final_status)?,
        }
        if !self.outputs.is_empty() {
            write!(f, "\noutputs:")?;
            let width = self.outputs.iter().map(|o| o.key.len()).max().unwrap_or(0);
            for o in &self.outputs {
                write!(f, "\n  {:<width$}  {}", o.key, o.value)?;
            }
        }
        Ok(())
    }
}

pub async fn run(global: &GlobalArgs, args: &DeployArgs, project: &Project) -> Result<u8> {
    let stage = stage::load(project, &args.target.stage)?;
    let aws = Aws::connect(&args.target.aws, &stage.config.region).await;
    let cfn = aws.cloudformation();
    let stack_name = stage.config.stack_name.clone();

    let mut state = stack::state(stack::describe(&cfn, &stack_name).await?.as_ref());
    if state == StackState::RolledBackCreate {
        let question = format!(
            "stack {stack_name} is in ROLLBACK_COMPLETE (its first create failed; it holds no resources). Delete it and create it again?"
        );
        if !(args.yes || prompt::confirm(&question)?) {
            return Err(CliError::new(
                "deploy cancelled: the failed stack was left as it is",
            ));
        }
        eprintln!("deleting the failed stack {stack_name}…");
        stack::delete_and_wait(&cfn, &stack_name).await?;
        state = StackState::Missing;
    }

    let request = deploy::Request {
        artifacts: artifact_source(project, &stage, &args.build),
        allow_replace: args.allow_replace.iter().cloned().collect(),
        upload_code: true,
    };
    let (planned, warnings) = tokio::join!(
        deploy::plan(project, &stage, &aws, &request, &state),
        crate::ses::check(&aws, &stage)
    );
    let mut planned = planned?;
    planned.summary.warnings = warnings;
    let mut report = Deployed {
        stage: stage.name.clone(),
        stack_name: stack_name.clone(),
        uploaded: planned.uploaded,
        reused: planned.reused,
        summary: planned.summary.clone(),
        outcome: None,
        outputs: Vec::new(),
    };
    let (Some(change_set), Some(stack_id)) =
        (planned.change_set_id.clone(), planned.stack_id.clone())
    else {
        if global.output == OutputFormat::Text {
            for warning in &planned.summary.warnings {
                eprintln!("{warning}");
            }
        }
        output::emit(global.output, &report);
        return Ok(exit::OK);
    };
    if global.output == OutputFormat::Text {
        eprintln!("{}", planned.summary);
    }
    if !planned.summary.blocked.is_empty() {
        deploy::abandon(&cfn, &planned).await?;
        return Err(CliError::new(format!(
            "refusing to deploy: the change set would replace or remove {}, losing its data",
            planned.summary.blocked.join(", ")
        ))
        .fix(format!(
            "if that is intended, back the data up and pass {}",
            planned
                .summary
                .blocked
                .iter()
                .map(|id| format!("--allow-replace {id}"))
                .collect::<Vec<_>>()
                .join(" ")
        ))
        .exit_code(exit::STATEFUL_CHANGE));
    }
    if !args.yes {
        let answer = prompt::confirm(&format!("Deploy these changes to {stack_name}?"));
        if !matches!(answer, Ok(true)) {
            deploy::abandon(&cfn, &planned).await?;
            return Err(answer
                .err()
                .unwrap_or_else(|| CliError::new("deploy cancelled; nothing was changed")));
        }
    }

    let baseline = progress::newest_event_id(&cfn, &stack_id).await?;
    cfn.execute_change_set()
        .change_set_name(&change_set)
        .send()
        .await
        .map_err(|err| aws_error("execute the change set", &err))?;
    // The live bar would overwrite `-v`'s lines: plain lines then.
    let live =
        std::io::stderr().is_terminal() && crate::terminal::Terminal::current().verbosity == 0;
    let mut display: Box<dyn progress::Display> = if live {
        Box::new(progress::Bar::new(planned.summary.resources.len()))
    } else {
        Box::new(progress::Lines)
    };
    let outcome = tokio::select! {
        outcome = progress::follow(&cfn, &stack_id, baseline, display.as_mut(), deploy::poll_interval()) => outcome?,
        _ = tokio::signal::ctrl_c() => {
            return Err(CliError::new(format!(
                "interrupted: CloudFormation goes on deploying {stack_name} on AWS; obctl does not cancel it"
            ))
            .fix(format!("follow it with `obctl status --stage {}` or in the CloudFormation console", stage.name))
            .exit_code(exit::INTERRUPTED));
        }
    };
    if !outcome.succeeded {
        let cause = outcome.first_failure.as_ref().map_or_else(
            || "no resource reported a failure".to_owned(),
            |e| {
                format!(
                    "{} ({}) failed: {}",
                    e.logical_id,
                    e.resource_type,
                    e.reason.as_deref().unwrap_or("no reason given")
                )
            },
        );
        return Err(
            CliError::new(format!("deploy of {stack_name} failed: {cause}"))
                .detail(format!(
                    "the stack rolled back and is now {}",
                    outcome.final_status
                ))
                .fix(format!(
                    "fix the cause and deploy again; `obctl status --stage {}` shows the events",
                    stage.name
                )),
        );
    }
    report.outputs = stack::describe(&cfn, &stack_name)
        .await?
        .as_ref()
        .map(stack::outputs)
        .unwrap_or_default();
    report.outcome = Some(outcome);
    output::emit(global.output, &report);
    Ok(exit::OK)
}
