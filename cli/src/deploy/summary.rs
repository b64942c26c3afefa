//! The change summary shared by `obctl diff` and `obctl deploy`: resource
//! changes, the template's property-level diff and code changes, as text and as
//! a stable JSON document (schema in the README, `schemaVersion` 1).

use std::collections::BTreeSet;
use std::fmt;

use aws_sdk_cloudformation::types::{Change, ChangeAction, Replacement};
use serde::Serialize;

use super::template_diff::PropertyChange;
use crate::error::exit;

/// Resource types whose replacement or removal loses data.
pub const STATEFUL_TYPES: [&str; 4] = [
    "AWS::DynamoDB::Table",
    "AWS::DynamoDB::GlobalTable",
    "AWS::S3::Bucket",
    "AWS::SecretsManager::Secret",
];

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceChange {
    pub logical_id: String,
    pub resource_type: String,
    /// Add, Modify, Remove, Import or Dynamic.
    pub action: String,
    /// True, Conditional or False for modifications; absent otherwise.
    pub replacement: Option<String>,
    pub changed_properties: Vec<String>,
    pub stateful: bool,
    /// Replaces or removes a stateful resource: data would be lost.
    pub destructive: bool,
    /// The operator named it with --allow-replace.
    pub allowed: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CodeChange {
    pub function: String,
    pub before: Option<String>,
    pub after: String,
}

/// What a deploy would change.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub schema_version: u32,
    pub stage: String,
    pub stack_name: String,
    /// CREATE or UPDATE.
    pub change_set_type: String,
    pub has_changes: bool,
    pub resources: Vec<ResourceChange>,
    pub template_diff: Vec<PropertyChange>,
    pub code_changes: Vec<CodeChange>,
    /// Destructive changes not allowed with --allow-replace.
    pub blocked: Vec<String>,
    pub exit_code: u8,
    /// What the account needs outside the stack (SES sender and sandbox);
    /// never changes the exit code.
    pub warnings: Vec<crate::ses::Warning>,
}

pub fn resource_changes(changes: &[Change], allowed: &BTreeSet<String>) -> Vec<ResourceChange> {
    changes
        .iter()
        .filter_map(Change::resource_change)
        .map(|rc| {
            let resource_type = rc.resource_type().unwrap_or_default().to_owned();
            let action = rc
                .action()
                .map(|a| a.as_str().to_owned())
                .unwrap_or_default();
            let replacement = rc.replacement().map(|r| r.as_str().to_owned());
            let stateful = STATEFUL_TYPES.contains(&resource_type.as_str());
            let replaces = matches!(
                rc.replacement(),
                Some(Replacement::True | Replacement::Conditional)
            );
            let destructive = stateful && (rc.action() == Some(&ChangeAction::Remove) || replaces);
            let mut changed: Vec<String> = rc
                .details()
                .iter()
                .filter_map(|d| d.target())
                .filter_map(|t| {
                    let attribute = t.attribute().map(|a| a.as_str().to_owned())?;
                    Some(
                        t.name()
                            .map_or(attribute.clone(), |n| format!("{attribute}.{n}")),
                    )
                })
                .collect();
            changed.sort();
            changed.dedup();
            let logical_id = rc.logical_resource_id().unwrap_or_default().to_owned();
            ResourceChange {
                allowed: allowed.contains(&logical_id),
                logical_id,
                resource_type,
                action,
                replacement,
                changed_properties: changed,
                stateful,
                destructive,
            }
        })
        .collect()
}

impl Summary {
    pub fn new(
        stage: &str,
        stack_name: &str,
        change_set_type: &str,
        resources: Vec<ResourceChange>,
        template_diff: Vec<PropertyChange>,
        code_changes: Vec<CodeChange>,
    ) -> Self {
        let blocked: Vec<String> = resources
            .iter()
            .filter(|r| r.destructive && !r.allowed)
            .map(|r| r.logical_id.clone())
            .collect();
        let has_changes =
            !resources.is_empty() || !template_diff.is_empty() || !code_changes.is_empty();
        let exit_code = if !blocked.is_empty() {
            exit::STATEFUL_CHANGE
        } else if has_changes {
            exit::CHANGES
        } else {
            exit::OK
        };
        Self {
            schema_version: 1,
            stage: stage.to_owned(),
            stack_name: stack_name.to_owned(),
            change_set_type: change_set_type.to_owned(),
            has_changes,
            resources,
            template_diff,
            code_changes,
            blocked,
            exit_code,
            warnings: Vec::new(),
        }
    }

    /// The summary of a deploy that changes nothing.
    pub fn unchanged(stage: &str, stack_name: &str) -> Self {
        Self::new(
            stage,
            stack_name,
            "UPDATE",
            Vec::new(),
            Vec::new(),
            Vec::new(),
        )
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.changes(f)?;
        for warning in &self.warnings {
            write!(f, "\n{warning}")?;
        }
        Ok(())
    }
}

impl Summary {
    fn changes(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.has_changes {
            return write!(f, "no changes: stack {} is up to date", self.stack_name);
        }
        writeln!(
            f,
            "changes to stack {} ({}):",
            self.stack_name, self.change_set_type
        )?;
        for r in &self.resources {
            let replacement = match r.replacement.as_deref() {
                Some("True") => "  REPLACES",
                Some("Conditional") => "  MAY REPLACE",
                _ => "",
            };
            let marker = if r.destructive && !r.allowed {
                "  ← DATA LOSS, blocked"
            } else if r.destructive {
                "  ← DATA LOSS, allowed by --allow-replace"
            } else {
                ""
            };
            write!(
                f,
                "  {:<7} {:<34} {}{replacement}{marker}",
                r.action, r.logical_id, r.resource_type
            )?;
            if !r.changed_properties.is_empty() {
                write!(f, "  [{}]", r.changed_properties.join(", "))?;
            }
            writeln!(f)?;
        }
        if !self.code_changes.is_empty() {
            let names: Vec<&str> = self
                .code_changes
                .iter()
                .map(|c| c.function.as_str())
                .collect();
            writeln!(f, "code changes: {}", names.join(", "))?;
        }
        if !self.template_diff.is_empty() {
            writeln!(f, "template diff:")?;
            for change in &self.template_diff {
                writeln!(f, "  {change}")?;
            }
        }
        if self.blocked.is_empty() {
            write!(f, "{} resource change(s)", self.resources.len())
        } else {
            write!(
                f,
                "refused: replacing or removing {} would lose data; if that is intended, pass {}",
                self.blocked.join(", "),
                self.blocked
                    .iter()
                    .map(|id| format!("--allow-replace {id}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    }
}
