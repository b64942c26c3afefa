//! Reads what the local runtime needs from the deployed stack: parameters, physical ids and the attributes the template asks for.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use aws_sdk_cloudformation::types::Stack;

use super::resolve::Deployed;
use crate::aws::{Aws, aws_error};
use crate::deploy::stack;
use crate::error::{CliError, Result};
use crate::render::Template;
use crate::stage::Stage;

/// The stack of `stage`, or an error saying to deploy it first.
pub async fn deployed_stack(aws: &Aws, stage: &Stage) -> Result<Stack> {
    stack::describe(&aws.cloudformation(), &stage.config.stack_name)
        .await?
        .ok_or_else(|| {
            CliError::new(format!("stage {} is not deployed", stage.name)).fix(format!(
                "deploy it first: `obctl deploy --stage {}` (`make dev` does)",
                stage.name
            ))
        })
}

/// Listens on `address`, or says how to free it.
pub async fn listen(address: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address).await.map_err(|err| {
        CliError::new(format!("cannot listen on {address}: {err}"))
            .fix("stop whatever uses the port, or pass --port N")
    })
}

/// What the local runtime needs of `stage`'s deployed stack.
pub async fn describe(aws: &Aws, stage: &Stage, template: &Template) -> Result<Deployed> {
    let cfn = aws.cloudformation();
    let name = &stage.config.stack_name;
    let found = deployed_stack(aws, stage).await?;
    let stack_id = found.stack_id().unwrap_or_default().to_owned();
    // arn:aws:cloudformation:{region}:{account}:stack/{name}/{id}
    let account_id = stack_id.split(':').nth(4).unwrap_or_default().to_owned();
    let region = aws.region();
    let resources = cfn
        .describe_stack_resources()
        .stack_name(name)
        .send()
        .await
        .map_err(|err| aws_error(&format!("list the resources of {name}"), &err))?;
    let mut deployed = Deployed {
        stack_name: name.clone(),
        stack_id,
        region: region.clone(),
        account_id: account_id.clone(),
        parameters: stack::parameters(&found),
        physical: BTreeMap::new(),
        types: BTreeMap::new(),
        attributes: BTreeMap::new(),
    };
    for resource in resources.stack_resources() {
        let (Some(id), Some(kind)) = (resource.logical_resource_id(), resource.resource_type())
        else {
            continue;
        };
        deployed.types.insert(id.to_owned(), kind.to_owned());
        if let Some(physical) = resource.physical_resource_id() {
            deployed.physical.insert(id.to_owned(), physical.to_owned());
        }
    }
    let declared = template.resources().cloned().unwrap_or_default();
    let dynamodb = aws.dynamodb();
    for (id, physical) in deployed.physical.clone() {
        let kind = deployed.types.get(&id).cloned().unwrap_or_default();
        let mut put = |attribute: &str, value: String| {
            deployed
                .attributes
                .insert((id.clone(), attribute.to_owned()), value);
        };
        match kind.as_str() {
            "AWS::DynamoDB::Table" => {
                put(
                    "Arn",
                    format!("arn:aws:dynamodb:{region}:{account_id}:table/{physical}"),
                );
                let streams = declared
                    .get(id.as_str())
                    .is_some_and(|r| !r["Properties"]["StreamSpecification"].is_null());
                if streams {
                    let table = dynamodb
                        .describe_table()
                        .table_name(&physical)
                        .send()
                        .await
                        .map_err(|err| aws_error(&format!("describe table {physical}"), &err))?;
                    if let Some(arn) = table.table().and_then(|t| t.latest_stream_arn()) {
                        put("StreamArn", arn.to_owned());
                    }
                }
            }
            "AWS::S3::Bucket" => put("Arn", format!("arn:aws:s3:::{physical}")),
            "AWS::Lambda::Function" => put(
                "Arn",
                format!("arn:aws:lambda:{region}:{account_id}:function:{physical}"),
            ),
            "AWS::Logs::LogGroup" => put(
                "Arn",
                format!("arn:aws:logs:{region}:{account_id}:log-group:{physical}:*"),
            ),
            "AWS::IAM::Role" => put("Arn", format!("arn:aws:iam::{account_id}:role/{physical}")),
            // The physical id of a queue is its URL, which ends in its name.
            "AWS::SQS::Queue" => {
                let name = physical.rsplit('/').next().unwrap_or_default().to_owned();
                put("Arn", format!("arn:aws:sqs:{region}:{account_id}:{name}"));
                put("QueueName", name);
            }
            _ => {}
        }
    }
    Ok(deployed)
}
