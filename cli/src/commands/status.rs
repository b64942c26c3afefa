//! `obctl status` and `obctl outputs`: the deployed stack at a glance.

use std::fmt;

use serde::Serialize;

use crate::args::{GlobalArgs, OutputFormat, StageArgs};
use crate::aws::Aws;
use crate::deploy::progress::Event;
use crate::deploy::stack::{self, Output};
use crate::error::{CliError, Result};
use crate::project::Project;
use crate::stage::Stage;
use crate::{output, stage};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    stage: String,
    stack_name: String,
    status: String,
    reason: Option<String>,
    last_updated: Option<String>,
    recent_events: Vec<Event>,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stack {} (stage {}): {}",
            self.stack_name, self.stage, self.status
        )?;
        if let Some(reason) = &self.reason {
            write!(f, " — {reason}")?;
        }
        if let Some(when) = &self.last_updated {
            write!(f, "\nlast changed {when}")?;
        }
        if !self.recent_events.is_empty() {
            write!(f, "\nrecent events (newest first):")?;
            for e in &self.recent_events {
                write!(f, "\n  {e}")?;
            }
        }
        Ok(())
    }
}

fn not_deployed(stage: &Stage) -> CliError {
    CliError::new(format!(
        "stage {} is not deployed: stack {} does not exist in {}",
        stage.name, stage.config.stack_name, stage.config.region
    ))
    .fix(format!(
        "deploy it with `obctl deploy --stage {}` (check --region/--profile if it should exist)",
        stage.name
    ))
}

pub async fn status(global: &GlobalArgs, args: &StageArgs, project: &Project) -> Result<u8> {
    let stage = stage::load(project, &args.stage)?;
    let aws = Aws::connect(&args.aws, &stage.config.region).await;
    let cfn = aws.cloudformation();
    let Some(found) = stack::describe(&cfn, &stage.config.stack_name).await? else {
        return Err(not_deployed(&stage));
    };
    let events = cfn
        .describe_stack_events()
        .stack_name(&stage.config.stack_name)
        .send()
        .await
        .map(|out| {
            out.stack_events()
                .iter()
                .take(10)
                .map(Event::from_sdk)
                .collect()
        })
        .unwrap_or_default();
    let fmt_time =
        |t: &aws_smithy_types::DateTime| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok();
    output::emit(
        global.output,
        &Status {
            stage: stage.name.clone(),
            stack_name: stage.config.stack_name.clone(),
            status: found
                .stack_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            reason: found.stack_status_reason().map(str::to_owned),
            last_updated: found
                .last_updated_time()
                .or(found.creation_time())
                .and_then(fmt_time),
            recent_events: events,
        },
    );
    Ok(0)
}

/// Outputs as text lines or as one JSON object `{key: value}`.
#[derive(Debug)]
pub struct Outputs(pub Vec<Output>);

impl fmt::Display for Outputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.0.iter().map(|o| o.key.len()).max().unwrap_or(0);
        let lines: Vec<String> = self
            .0
            .iter()
            .map(|o| format!("{:<width$}  {}", o.key, o.value))
            .collect();
        write!(f, "{}", lines.join("\n"))
    }
}

impl Serialize for Outputs {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for o in &self.0 {
            map.serialize_entry(&o.key, &o.value)?;
        }
        map.end()
    }
}

pub async fn outputs(global: &GlobalArgs, args: &StageArgs, project: &Project) -> Result<u8> {
    let stage = stage::load(project, &args.stage)?;
    let aws = Aws::connect(&args.aws, &stage.config.region).await;
    let Some(found) = stack::describe(&aws.cloudformation(), &stage.config.stack_name).await?
    else {
        return Err(not_deployed(&stage));
    };
    let outputs = Outputs(stack::outputs(&found));
    if outputs.0.is_empty() && global.output == OutputFormat::Text {
        eprintln!("stack {} has no outputs yet", stage.config.stack_name);
    }
    output::emit(global.output, &outputs);
    Ok(0)
}
