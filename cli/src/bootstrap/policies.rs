//! The IAM documents of a stage's deploys: the CloudFormation execution role's policy and the permissions boundary every role of the stack must carry.
//!
//! Whoever can deploy through the execution role (a CI step) must not be able
//! to grant themselves more than the stack's functions need. So the role may
//! create, change and pass only roles named after the stack that carry the
//! boundary; it may not remove or rewrite the boundary; it may pass roles to
//! Lambda only; and its own name is outside the stack's prefix and explicitly
//! out of its reach. The boundary caps every stack role at what the functions
//! use (the stack's tables, files bucket, log groups, signing key, WebSocket
//! pushes, its queues, e-mail through SES and SMS through SNS) and denies IAM outright, so even `*:*` attached to a stack role
//! grants no more than that.

use serde_json::{Value, json};

/// Names of a stage's deploy identities.
pub fn execution_role_name(stack: &str) -> String {
    truncate(&format!("obctl-deploy-{stack}"), 64)
}

/// The managed policy used as every stack role's permissions boundary.
pub fn boundary_policy_name(stack: &str) -> String {
    truncate(&format!("obctl-boundary-{stack}"), 128)
}

/// The role older versions of `obctl bootstrap` created (inside the stack's
/// prefix, so it could rewrite itself); bootstrap removes it.
pub fn legacy_execution_role_name(stack: &str) -> String {
    truncate(&format!("{stack}-cfn-exec"), 64)
}

pub fn boundary_arn(stack: &str, account: &str) -> String {
    format!(
        "arn:aws:iam::{account}:policy/{}",
        boundary_policy_name(stack)
    )
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The most any role the stack creates may do: what its functions use.
pub fn boundary_policy(stack: &str, account: &str) -> Value {
    let lower = stack.to_lowercase();
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Tables", "Effect": "Allow", "Action": "dynamodb:*",
             "Resource": [format!("arn:aws:dynamodb:*:{account}:table/{stack}-*")]},
            {"Sid": "FilesBucket", "Effect": "Allow",
             "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"],
             "Resource": [format!("arn:aws:s3:::{lower}-*")]},
            {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
             "Resource": [format!("arn:aws:logs:*:{account}:log-group:/aws/lambda/{stack}-*")]},
            {"Sid": "SigningKey", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
             "Resource": [format!("arn:aws:secretsmanager:*:{account}:secret:{stack}/*")]},
            {"Sid": "WebSocketPushes", "Effect": "Allow", "Action": "execute-api:ManageConnections",
             "Resource": [format!("arn:aws:execute-api:*:{account}:*/*/*/@connections/*")]},
            {"Sid": "Queues", "Effect": "Allow",
             "Action": ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
                        "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
             "Resource": [format!("arn:aws:sqs:*:{account}:{stack}-*")]},
            {"Sid": "SendEmail", "Effect": "Allow", "Action": ["ses:SendEmail", "ses:SendRawEmail"],
             "Resource": [format!("arn:aws:ses:*:{account}:identity/*"),
                          format!("arn:aws:ses:*:{account}:configuration-set/*")]},
            {"Sid": "SendSms", "Effect": "Allow", "Action": "sns:Publish", "Resource": "*"},
            {"Sid": "NoIdentityChanges", "Effect": "Deny",
             "Action": ["iam:*", "sts:AssumeRole", "organizations:*"], "Resource": "*"}
        ]
    })
}

/// The policy of the role CloudFormation assumes to deploy the stack: it may
/// manage only resources named after the stack (and the stage's SES
/// configuration set), and roles only with the boundary.
pub fn execution_policy(stack: &str, account: &str, configuration_set: &str) -> Value {
    let lower = stack.to_lowercase();
    let roles = format!("arn:aws:iam::{account}:role/{stack}-*");
    let boundary = boundary_arn(stack, account);
    let itself = format!("arn:aws:iam::{account}:role/{}", execution_role_name(stack));
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Tables", "Effect": "Allow", "Action": "dynamodb:*",
             "Resource": [format!("arn:aws:dynamodb:*:{account}:table/{stack}-*")]},
            {"Sid": "FilesBucket", "Effect": "Allow", "Action": "s3:*",
             "Resource": [format!("arn:aws:s3:::{lower}-*")]},
            {"Sid": "ReadArtifacts", "Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
             "Resource": [format!("arn:aws:s3:::{lower}-artifacts-*/*"), "arn:aws:s3:::ob-artifacts-*/*"]},
            {"Sid": "Functions", "Effect": "Allow", "Action": "lambda:*",
             "Resource": [format!("arn:aws:lambda:*:{account}:function:{stack}-*"),
                          format!("arn:aws:lambda:*:{account}:event-source-mapping:*")]},
            {"Sid": "EventSourceMappings", "Effect": "Allow",
             "Action": ["lambda:CreateEventSourceMapping", "lambda:GetEventSourceMapping",
                        "lambda:UpdateEventSourceMapping", "lambda:DeleteEventSourceMapping",
                        "lambda:ListEventSourceMappings"],
             "Resource": "*"},
            {"Sid": "RolesWithTheBoundary", "Effect": "Allow",
             "Action": ["iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy",
                        "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary"],
             "Resource": [roles],
             "Condition": {"StringEquals": {"iam:PermissionsBoundary": boundary}}},
            {"Sid": "Roles", "Effect": "Allow",
             "Action": ["iam:GetRole", "iam:GetRolePolicy", "iam:DeleteRole", "iam:UpdateRole",
                        "iam:UpdateRoleDescription", "iam:UpdateAssumeRolePolicy",
                        "iam:TagRole", "iam:UntagRole", "iam:ListRolePolicies",
                        "iam:ListAttachedRolePolicies"],
             "Resource": [roles]},
            {"Sid": "PassRolesToLambdaOnly", "Effect": "Allow", "Action": "iam:PassRole",
             "Resource": [roles],
             "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}},
            {"Sid": "KeepTheBoundary", "Effect": "Deny",
             "Action": ["iam:DeleteRolePermissionsBoundary", "iam:CreatePolicyVersion",
                        "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:DeletePolicy"],
             "Resource": "*"},
            {"Sid": "NotItself", "Effect": "Deny", "Action": "iam:*", "Resource": [itself]},
            {"Sid": "Logs", "Effect": "Allow", "Action": "logs:*",
             "Resource": [format!("arn:aws:logs:*:{account}:log-group:/aws/lambda/{stack}-*"),
                          format!("arn:aws:logs:*:{account}:log-group:/aws/apigateway/{stack}-*")]},
            {"Sid": "LogDelivery", "Effect": "Allow",
             "Action": ["logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                        "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:DescribeLogGroups",
                        "logs:PutResourcePolicy", "logs:DescribeResourcePolicies"],
             "Resource": "*"},
            {"Sid": "Apis", "Effect": "Allow",
             "Action": ["apigateway:GET", "apigateway:POST", "apigateway:PUT", "apigateway:PATCH", "apigateway:DELETE"],
             "Resource": ["arn:aws:apigateway:*::/apis", "arn:aws:apigateway:*::/apis/*"]},
            {"Sid": "Alarms", "Effect": "Allow", "Action": ["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms", "cloudwatch:TagResource"],
             "Resource": [format!("arn:aws:cloudwatch:*:{account}:alarm:{stack}-*")]},
            {"Sid": "Topics", "Effect": "Allow", "Action": "sns:*",
             "Resource": [format!("arn:aws:sns:*:{account}:{stack}-alarms"),
                          format!("arn:aws:sns:*:{account}:{stack}-ses-events"),
                          format!("arn:aws:sns:*:{account}:{stack}-ses-events:*")]},
            {"Sid": "Queues", "Effect": "Allow", "Action": "sqs:*",
             "Resource": [format!("arn:aws:sqs:*:{account}:{stack}-*")]},
            {"Sid": "SesConfigurationSet", "Effect": "Allow", "Action": "ses:*",
             "Resource": [format!("arn:aws:ses:*:{account}:configuration-set/{configuration_set}")]}
        ]
    })
}
