//! `obctl diff`: what a deploy would change; the exit code tells CI (0, 2 or 3).

use crate::args::{DiffArgs, GlobalArgs};
use crate::aws::Aws;
use crate::deploy::{self, stack};
use crate::error::Result;
use crate::project::Project;
use crate::{output, stage};

pub async fn run(global: &GlobalArgs, args: &DiffArgs, project: &Project) -> Result<u8> {
    let stage = stage::load(project, &args.target.stage)?;
    let aws = Aws::connect(&args.target.aws, &stage.config.region).await;
    let cfn = aws.cloudformation();
    let state = stack::state(
        stack::describe(&cfn, &stage.config.stack_name)
            .await?
            .as_ref(),
    );
    let request = deploy::Request {
        artifacts: super::deploy::artifact_source(project, &stage, &args.build),
        allow_replace: Default::default(),
        upload_code: false,
    };
    let (planned, warnings) = tokio::join!(
        deploy::plan(project, &stage, &aws, &request, &state),
        crate::ses::check(&aws, &stage)
    );
    let mut planned = planned?;
    // A diff changes nothing: drop the change set, and the empty stack a CREATE made.
    deploy::abandon(&cfn, &planned).await?;
    planned.summary.warnings = warnings;
    output::emit(global.output, &planned.summary);
    Ok(planned.summary.exit_code)
}
