//! `obctl bootstrap`: creates the stage's artifacts bucket, execution role and signing key.

use crate::args::{GlobalArgs, StageArgs};
use crate::aws::Aws;
use crate::error::Result;
use crate::project::Project;
use crate::{bootstrap, output, stage};

pub async fn run(global: &GlobalArgs, args: &StageArgs, project: &Project) -> Result<u8> {
    let stage = stage::load(project, &args.stage)?;
    let aws = Aws::connect(&args.aws, &stage.config.region).await;
    let report = bootstrap::ensure(&aws, &stage).await?;
    output::emit(global.output, &report);
    Ok(0)
}
