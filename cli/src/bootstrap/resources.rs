//! Idempotent creation of each bootstrap resource.

use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, VersioningConfiguration,
};
use serde_json::json;

use super::Names;
use super::policies::{self, boundary_policy, execution_policy};
use crate::aws::{Aws, aws_error, error_code};
use crate::error::Result;

/// Creates the artifacts bucket if needed and (re)applies its protections.
/// Returns whether it was created.
pub(super) async fn ensure_bucket(aws: &Aws, bucket: &str) -> Result<bool> {
    let s3 = aws.s3();
    let region = aws.region();
    // us-east-1 answers 200 to re-creating one's own bucket, so ask first.
    // A TLS-only policy can never be met through a plain-HTTP endpoint (a local
    // emulator): there it would lock obctl out of its own bucket. AWS is always HTTPS.
    let tls_only = aws
        .endpoint_url
        .as_deref()
        .is_none_or(|url| url.starts_with("https://"));
    if s3.head_bucket().bucket(bucket).send().await.is_ok() {
        apply_bucket_protections(&s3, bucket, tls_only).await?;
        return Ok(false);
    }
    let mut create = s3.create_bucket().bucket(bucket);
    if region != "us-east-1" {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region.as_str()))
                .build(),
        );
    }
    let created = match create.send().await {
        Ok(_) => true,
        Err(err) if error_code(&err) == Some("BucketAlreadyOwnedByYou") => false,
        Err(err) => {
            return Err(aws_error(
                &format!("create the artifacts bucket {bucket}"),
                &err,
            ));
        }
    };
    apply_bucket_protections(&s3, bucket, tls_only).await?;
    Ok(created)
}

/// Encryption, versioning, no public access, TLS only: re-applied on every run.
async fn apply_bucket_protections(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    tls_only: bool,
) -> Result<()> {
    let what = |step: &str| format!("{step} on the artifacts bucket {bucket}");
    s3.put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .block_public_policy(true)
                .ignore_public_acls(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(|err| aws_error(&what("block public access"), &err))?;
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(
            ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::Aes256)
                .build()
                .map_err(|err| crate::error::CliError::new(err.to_string()))?,
        )
        .bucket_key_enabled(true)
        .build();
    s3.put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(rule)
                .build()
                .map_err(|err| crate::error::CliError::new(err.to_string()))?,
        )
        .send()
        .await
        .map_err(|err| aws_error(&what("enable encryption"), &err))?;
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .map_err(|err| aws_error(&what("enable versioning"), &err))?;
    if !tls_only {
        return Ok(());
    }
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
        }]
    });
    s3.put_bucket_policy()
        .bucket(bucket)
        .policy(policy.to_string())
        .send()
        .await
        .map_err(|err| aws_error(&what("set the TLS-only policy"), &err))?;
    Ok(())
}

/// Creates the roles' permissions boundary, or makes its current version the
/// one this obctl writes; returns its ARN and whether it was created.
pub(super) async fn ensure_boundary(
    aws: &Aws,
    names: &Names,
    stack: &str,
    account: &str,
) -> Result<(String, bool)> {
    let iam = aws.iam();
    let arn = policies::boundary_arn(stack, account);
    let document = boundary_policy(stack, account).to_string();
    match iam.get_policy().policy_arn(&arn).send().await {
        Ok(_) => {}
        Err(err) if error_code(&err) == Some("NoSuchEntity") => {
            let out = iam
                .create_policy()
                .policy_name(&names.boundary_policy)
                .description(format!(
                    "The most any role of {stack} may do (created by obctl bootstrap)"
                ))
                .policy_document(&document)
                .send()
                .await
                .map_err(|err| aws_error("create the roles' permissions boundary", &err))?;
            let arn = out
                .policy()
                .and_then(|p| p.arn())
                .map_or(arn, str::to_owned);
            return Ok((arn, true));
        }
        Err(err) => return Err(aws_error("read the roles' permissions boundary", &err)),
    }
    // A policy keeps at most 5 versions: drop the old ones, then write this one.
    let versions = iam
        .list_policy_versions()
        .policy_arn(&arn)
        .send()
        .await
        .map_err(|err| aws_error("list the boundary's versions", &err))?;
    for version in versions.versions() {
        if !version.is_default_version()
            && let Some(id) = version.version_id()
        {
            iam.delete_policy_version()
                .policy_arn(&arn)
                .version_id(id)
                .send()
                .await
                .map_err(|err| aws_error("remove an old version of the boundary", &err))?;
        }
    }
    iam.create_policy_version()
        .policy_arn(&arn)
        .policy_document(&document)
        .set_as_default(true)
        .send()
        .await
        .map_err(|err| aws_error("update the roles' permissions boundary", &err))?;
    Ok((arn, false))
}

/// Removes the execution role older versions created inside the stack's
/// prefix (it could rewrite itself); returns what it removed.
pub(super) async fn remove_legacy_role(aws: &Aws, stack: &str) -> Result<Vec<String>> {
    let iam = aws.iam();
    let name = policies::legacy_execution_role_name(stack);
    match iam.get_role().role_name(&name).send().await {
        Ok(_) => {}
        Err(err) if error_code(&err) == Some("NoSuchEntity") => return Ok(Vec::new()),
        Err(err) => return Err(aws_error("read the old execution role", &err)),
    }
    let inline = iam
        .list_role_policies()
        .role_name(&name)
        .send()
        .await
        .map_err(|err| aws_error("list the old execution role's policies", &err))?;
    for policy in inline.policy_names() {
        iam.delete_role_policy()
            .role_name(&name)
            .policy_name(policy)
            .send()
            .await
            .map_err(|err| aws_error("remove the old execution role's policy", &err))?;
    }
    iam.delete_role()
        .role_name(&name)
        .send()
        .await
        .map_err(|err| aws_error("remove the old execution role", &err))?;
    Ok(vec![format!(
        "role {name} (replaced by the bounded deploy role)"
    )])
}

/// Creates or updates the execution role; returns its ARN and whether it was created.
pub(super) async fn ensure_role(
    aws: &Aws,
    names: &Names,
    stack: &str,
    account: &str,
    configuration_set: &str,
) -> Result<(String, bool)> {
    let iam = aws.iam();
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "cloudformation.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    })
    .to_string();
    let existing = iam.get_role().role_name(&names.execution_role).send().await;
    let (arn, created) = match existing {
        Ok(out) => (
            out.role().map(|r| r.arn().to_owned()).unwrap_or_default(),
            false,
        ),
        Err(err) if error_code(&err) == Some("NoSuchEntity") => {
            let out = iam
                .create_role()
                .role_name(&names.execution_role)
                .description(format!(
                    "CloudFormation deploys of {stack} (created by obctl bootstrap)"
                ))
                .assume_role_policy_document(&trust)
                .send()
                .await
                .map_err(|err| aws_error("create the CloudFormation execution role", &err))?;
            (
                out.role().map(|r| r.arn().to_owned()).unwrap_or_default(),
                true,
            )
        }
        Err(err) => return Err(aws_error("read the CloudFormation execution role", &err)),
    };
    iam.put_role_policy()
        .role_name(&names.execution_role)
        .policy_name("deploy-one-backend")
        .policy_document(execution_policy(stack, account, configuration_set).to_string())
        .send()
        .await
        .map_err(|err| aws_error("set the execution role's policy", &err))?;
    Ok((arn, created))
}

/// Creates the signing-key secret with a value Secrets Manager generates; an
/// existing key is never replaced. Returns its ARN and whether it was created.
pub(super) async fn ensure_secret(aws: &Aws, name: &str, stage: &str) -> Result<(String, bool)> {
    let sm = aws.secrets();
    match sm.describe_secret().secret_id(name).send().await {
        Ok(out) => return Ok((out.arn().unwrap_or_default().to_owned(), false)),
        Err(err) if error_code(&err) == Some("ResourceNotFoundException") => {}
        Err(err) => return Err(aws_error("read the signing-key secret", &err)),
    }
    let password = sm
        .get_random_password()
        .password_length(64)
        .exclude_punctuation(true)
        .send()
        .await
        .map_err(|err| aws_error("generate the signing key", &err))?;
    let value = password.random_password().unwrap_or_default();
    let out = sm
        .create_secret()
        .name(name)
        .description(format!(
            "JWT signing key of One Backend stage {stage} (created by obctl bootstrap)"
        ))
        .secret_string(value)
        .tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key("ob:stage")
                .value(stage)
                .build(),
        )
        .send()
        .await
        .map_err(|err| aws_error("create the signing-key secret", &err))?;
    Ok((out.arn().unwrap_or_default().to_owned(), true))
}
