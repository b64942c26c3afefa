//! `obctl destroy`: deletes the stack, after an explicit confirmation, and lists
//! the tables and buckets it leaves behind (they are retained by design).

use std::fmt;

use serde::Serialize;

use crate::args::{DestroyArgs, GlobalArgs};
use crate::aws::{Aws, aws_error};
use crate::deploy::stack;
use crate::deploy::summary::STATEFUL_TYPES;
use crate::error::{CliError, Result};
use crate::project::Project;
use crate::{output, prompt, stage};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Destroyed {
    stack_name: String,
    /// `type physical-id` of every stateful resource left in the account.
    retained: Vec<String>,
}

impl fmt::Display for Destroyed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stack {} deleted", self.stack_name)?;
        if !self.retained.is_empty() {
            write!(
                f,
                "\nretained (delete them yourself if the data is no longer needed):"
            )?;
            for r in &self.retained {
                write!(f, "\n  {r}")?;
            }
            write!(
                f,
                "\na new deploy of this stage cannot create tables with these names while they \
                 exist: delete them, or import them into the new stack (CloudFormation resource import)"
            )?;
        }
        Ok(())
    }
}

pub async fn run(global: &GlobalArgs, args: &DestroyArgs, project: &Project) -> Result<u8> {
    let stage = stage::load(project, &args.target.stage)?;
    let aws = Aws::connect(&args.target.aws, &stage.config.region).await;
    let cfn = aws.cloudformation();
    let stack_name = stage.config.stack_name.clone();
    if stack::describe(&cfn, &stack_name).await?.is_none() {
        return Err(CliError::new(format!(
            "stack {stack_name} does not exist; nothing to destroy"
        )));
    }
    let resources = cfn
        .describe_stack_resources()
        .stack_name(&stack_name)
        .send()
        .await
        .map_err(|err| aws_error(&format!("list the resources of {stack_name}"), &err))?;
    let retained: Vec<String> = resources
        .stack_resources()
        .iter()
        .filter(|r| STATEFUL_TYPES.contains(&r.resource_type().unwrap_or_default()))
        .map(|r| {
            format!(
                "{} {}",
                r.resource_type().unwrap_or_default(),
                r.physical_resource_id().unwrap_or_default()
            )
        })
        .collect();

    let protected = stage.config.database.deletion_protection;
    let question = format!(
        "Delete stack {stack_name} (stage {})? Functions and APIs go; {} tables and buckets are retained.",
        stage.name,
        retained.len()
    );
    let confirmed = if protected {
        (args.yes && args.i_understand_data_loss)
            || (!args.yes && prompt::type_to_confirm(&question, &stack_name)?)
    } else {
        args.yes || prompt::confirm(&question)?
    };
    if !confirmed {
        let mut err = CliError::new("destroy cancelled; nothing was deleted");
        if protected && args.yes {
            err = err.fix(format!(
                "stage {} protects its data: add --i-understand-data-loss to --yes, or run without --yes and type the stack name",
                stage.name
            ));
        }
        return Err(err);
    }
    stack::delete_and_wait(&cfn, &stack_name).await?;
    output::emit(
        global.output,
        &Destroyed {
            stack_name,
            retained,
        },
    );
    Ok(0)
}
