//! The deploy role cannot make itself an administrator: each escalation path is evaluated against the policy documents `obctl bootstrap` writes.
//!
//! A small evaluator of the IAM rules these documents use (action and resource
//! wildcards, `StringEquals` conditions, explicit Deny wins, no Allow means
//! refused) stands in for AWS, which cannot be reached from the tests.

#![allow(clippy::unwrap_used)]

use obctl::bootstrap::policies::{
    boundary_arn, boundary_policy, execution_policy, execution_role_name,
    legacy_execution_role_name,
};
use serde_json::Value;

const STACK: &str = "one-backend-prod";
const ACCOUNT: &str = "123456789012";

/// `*` matches any run of characters (IAM's wildcard), case-sensitively.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.starts_with(head)
                && (0..=text.len() - head.len()).any(|i| glob(tail, &text[head.len() + i..]))
        }
    }
}

fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Whether a statement applies to `action` on `resource` with `context` keys.
fn applies(statement: &Value, action: &str, resource: &str, context: &[(&str, &str)]) -> bool {
    let action_ok = strings(&statement["Action"])
        .iter()
        .any(|a| glob(&a.to_lowercase(), &action.to_lowercase()));
    let resource_ok = strings(&statement["Resource"])
        .iter()
        .any(|r| glob(r, resource));
    let conditions_ok = statement["Condition"]
        .as_object()
        .map(|ops| {
            ops.iter().all(|(op, keys)| {
                assert_eq!(op, "StringEquals", "the evaluator knows StringEquals only");
                keys.as_object().unwrap().iter().all(|(key, wanted)| {
                    context
                        .iter()
                        .find(|(k, _)| k == key)
                        .is_some_and(|(_, v)| strings(wanted).contains(v))
                })
            })
        })
        .unwrap_or(true);
    action_ok && resource_ok && conditions_ok
}

fn allowed(policy: &Value, action: &str, resource: &str, context: &[(&str, &str)]) -> bool {
    let statements = policy["Statement"].as_array().unwrap();
    let matching = |effect: &str| {
        statements
            .iter()
            .filter(|s| s["Effect"] == effect)
            .any(|s| applies(s, action, resource, context))
    };
    !matching("Deny") && matching("Allow")
}

fn role(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

#[test]
fn the_deploy_role_cannot_escalate() {
    let deploy = execution_policy(STACK, ACCOUNT, STACK);
    let boundary = boundary_arn(STACK, ACCOUNT);
    let stack_role = role(&format!("{STACK}-AuthRole-1X2Y3Z"));
    let with_boundary = [("iam:PermissionsBoundary", boundary.as_str())];

    // What deploys need still works: stack roles with the boundary, passed to Lambda.
    assert!(allowed(
        &deploy,
        "iam:CreateRole",
        &stack_role,
        &with_boundary
    ));
    assert!(allowed(
        &deploy,
        "iam:PutRolePolicy",
        &stack_role,
        &with_boundary
    ));
    assert!(allowed(
        &deploy,
        "iam:PassRole",
        &stack_role,
        &[("iam:PassedToService", "lambda.amazonaws.com")]
    ));

    // 1. A role without the boundary, or with another one, cannot be made or changed.
    for context in [
        &[][..],
        &[(
            "iam:PermissionsBoundary",
            "arn:aws:iam::aws:policy/AdministratorAccess",
        )][..],
    ] {
        for action in [
            "iam:CreateRole",
            "iam:PutRolePolicy",
            "iam:AttachRolePolicy",
            "iam:PutRolePermissionsBoundary",
        ] {
            assert!(
                !allowed(&deploy, action, &stack_role, context),
                "{action} {context:?}"
            );
        }
    }
    // 2. The deploy role has no power over itself: its name is outside the
    //    stack's prefix, and every IAM action on it is denied.
    let itself = role(&execution_role_name(STACK));
    assert!(!execution_role_name(STACK).starts_with(&format!("{STACK}-")));
    for action in [
        "iam:PutRolePolicy",
        "iam:AttachRolePolicy",
        "iam:UpdateAssumeRolePolicy",
        "iam:DeleteRolePermissionsBoundary",
    ] {
        assert!(
            !allowed(&deploy, action, &itself, &with_boundary),
            "{action} on itself"
        );
    }
    // 3. The boundary stays: not removable from a role, not rewritable.
    assert!(!allowed(
        &deploy,
        "iam:DeleteRolePermissionsBoundary",
        &stack_role,
        &with_boundary
    ));
    for action in [
        "iam:CreatePolicyVersion",
        "iam:SetDefaultPolicyVersion",
        "iam:DeletePolicy",
    ] {
        assert!(!allowed(&deploy, action, &boundary, &[]), "{action}");
    }
    // 4. Stack roles run only as Lambda functions, not on an instance the deployer controls.
    assert!(!allowed(
        &deploy,
        "iam:PassRole",
        &stack_role,
        &[("iam:PassedToService", "ec2.amazonaws.com")]
    ));
    // 5. Roles outside the stack are out of reach, the old in-prefix deploy role included.
    for other in [
        role("Admin"),
        role(&legacy_execution_role_name("other-stack")),
    ] {
        assert!(
            !allowed(&deploy, "iam:CreateRole", &other, &with_boundary),
            "{other}"
        );
        assert!(
            !allowed(&deploy, "iam:PutRolePolicy", &other, &with_boundary),
            "{other}"
        );
    }

    // 6. Even `*:*` attached to a stack role is capped by the boundary: no IAM,
    //    nothing outside the stack's own resources.
    let cap = boundary_policy(STACK, ACCOUNT);
    assert!(allowed(
        &cap,
        "dynamodb:GetItem",
        &format!("arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/{STACK}-users"),
        &[]
    ));
    for (action, resource) in [
        ("iam:CreateRole", role("Backdoor")),
        ("iam:AttachRolePolicy", itself),
        ("sts:AssumeRole", role("Admin")),
        (
            "dynamodb:Scan",
            format!("arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/payroll"),
        ),
        ("s3:GetObject", "arn:aws:s3:::company-secrets/x".to_owned()),
        (
            "secretsmanager:GetSecretValue",
            format!("arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:prod/db"),
        ),
        ("ec2:RunInstances", "*".to_owned()),
    ] {
        assert!(
            !allowed(&cap, action, &resource, &[]),
            "{action} on {resource}"
        );
    }
}

#[test]
fn the_evaluator_matches_like_iam() {
    assert!(glob(
        "arn:aws:iam::1:role/app-*",
        "arn:aws:iam::1:role/app-Auth"
    ));
    assert!(!glob(
        "arn:aws:iam::1:role/app-*",
        "arn:aws:iam::1:role/other"
    ));
    assert!(glob("iam:*", "iam:createrole"));
    assert!(glob("a*b*c", "axxbyyc") && !glob("a*b*c", "axxbyy"));
}
