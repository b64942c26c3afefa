//! Property-level diff between the deployed template and the rendered one.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PropertyChange {
    /// Dotted path, e.g. `Resources.AuthFunction.Properties.MemorySize`.
    pub path: String,
    /// added, removed or modified.
    pub change: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

impl fmt::Display for PropertyChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<Value>| v.as_ref().map(compact).unwrap_or_default();
        match self.change {
            "added" => write!(f, "+ {}: {}", self.path, show(&self.after)),
            "removed" => write!(f, "- {}: {}", self.path, show(&self.before)),
            _ => write!(
                f,
                "~ {}: {} → {}",
                self.path,
                show(&self.before),
                show(&self.after)
            ),
        }
    }
}

fn compact(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 120 {
        format!("{}…", text.chars().take(119).collect::<String>())
    } else {
        text
    }
}

/// Changes from `before` to `after`; maps are compared key by key, lists of
/// equal length element by element, anything else as a whole.
pub fn diff(before: &Value, after: &Value) -> Vec<PropertyChange> {
    let mut out = Vec::new();
    walk("", before, after, &mut out);
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn walk(path: &str, before: &Value, after: &Value, out: &mut Vec<PropertyChange>) {
    if before == after {
        return;
    }
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (key, bv) in b {
                match a.get(key) {
                    Some(av) => walk(&join(path, key), bv, av, out),
                    None => out.push(PropertyChange {
                        path: join(path, key),
                        change: "removed",
                        before: Some(bv.clone()),
                        after: None,
                    }),
                }
            }
            for (key, av) in a {
                if !b.contains_key(key) {
                    out.push(PropertyChange {
                        path: join(path, key),
                        change: "added",
                        before: None,
                        after: Some(av.clone()),
                    });
                }
            }
        }
        (Value::Array(b), Value::Array(a)) if b.len() == a.len() => {
            for (i, (bv, av)) in b.iter().zip(a).enumerate() {
                walk(&format!("{path}[{i}]"), bv, av, out);
            }
        }
        _ => out.push(PropertyChange {
            path: path.to_owned(),
            change: "modified",
            before: Some(before.clone()),
            after: Some(after.clone()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_paths_of_changes_only() {
        let before = json!({"Resources": {"F": {"Properties": {"MemorySize": 256, "Env": ["a", "b"]}}, "Old": {"Type": "X"}}});
        let after = json!({"Resources": {"F": {"Properties": {"MemorySize": 512, "Env": ["a", "c"]}}, "New": {"Type": "Y"}}});
        let changes: Vec<String> = diff(&before, &after)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            changes,
            [
                "~ Resources.F.Properties.MemorySize: 256 → 512",
                "~ Resources.F.Properties.Env[1]: \"b\" → \"c\"",
                "- Resources.Old: {\"Type\":\"X\"}",
                "+ Resources.New: {\"Type\":\"Y\"}",
            ]
        );
        assert!(diff(&before, &before).is_empty());
    }
}
