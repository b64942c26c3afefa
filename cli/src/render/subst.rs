//! Fills `{{name}}` placeholders in a fragment from the stage's values.
//!
//! A string that is exactly one placeholder takes the value's own type (a list
//! of origins stays a list, a flag stays a boolean); a placeholder inside a
//! longer string is interpolated. `{{…}}` never clashes with CloudFormation's
//! own `${…}` substitutions, which pass through untouched.

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};

pub type Vars = BTreeMap<String, Value>;

/// Replaces every placeholder in `value`; unknown names are errors.
pub fn substitute(value: &Value, vars: &Vars) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => substitute_str(s, vars)?,
        Value::Mapping(map) => {
            let mut out = Mapping::with_capacity(map.len());
            for (key, value) in map {
                let key = match key {
                    Value::String(s) => Value::String(interpolate(s, vars)?),
                    other => other.clone(),
                };
                out.insert(key, substitute(value, vars)?);
            }
            Value::Mapping(out)
        }
        Value::Sequence(items) => Value::Sequence(
            items
                .iter()
                .map(|item| substitute(item, vars))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

fn substitute_str(s: &str, vars: &Vars) -> Result<Value, String> {
    if let Some(name) = whole_placeholder(s) {
        return lookup(name, vars).cloned();
    }
    interpolate(s, vars).map(Value::String)
}

/// `Some(name)` when `s` is exactly `{{ name }}`.
fn whole_placeholder(s: &str) -> Option<&str> {
    let inner = s.strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then(|| inner.trim())
}

fn interpolate(s: &str, vars: &Vars) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("unclosed placeholder in {s:?}"))?;
        let name = after[..end].trim();
        match lookup(name, vars)? {
            Value::String(v) => out.push_str(v),
            Value::Number(n) => out.push_str(&n.to_string()),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            _ => {
                return Err(format!(
                    "placeholder {{{{{name}}}}} is a list or map and cannot be part of the string {s:?}"
                ));
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn lookup<'a>(name: &str, vars: &'a Vars) -> Result<&'a Value, String> {
    vars.get(name).ok_or_else(|| {
        let known: Vec<&str> = vars.keys().map(String::as_str).collect();
        format!(
            "unknown placeholder {{{{{name}}}}}; known placeholders: {}",
            known.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        let mut v = Vars::new();
        v.insert(
            "origins".into(),
            serde_yaml::from_str("[a, b]").expect("list"),
        );
        v.insert("pitr".into(), Value::Bool(true));
        v.insert("fn.Name".into(), Value::String("Auth".into()));
        v.insert("days".into(), Value::Number(30.into()));
        v
    }

    #[test]
    fn whole_placeholders_keep_their_type_and_parts_interpolate() {
        let input: Value = serde_yaml::from_str(
            "o: '{{origins}}'\np: '{{ pitr }}'\n'{{fn.Name}}Role': x-{{days}}-${AWS::Region}\n",
        )
        .expect("yaml");
        let out = substitute(&input, &vars()).expect("substituted");
        assert_eq!(
            serde_json::to_string(&out).expect("json"),
            r#"{"o":["a","b"],"p":true,"AuthRole":"x-30-${AWS::Region}"}"#
        );
    }

    #[test]
    fn unknown_and_misused_placeholders_are_errors() {
        let unknown = substitute(&Value::String("{{pitR}}".into()), &vars()).expect_err("unknown");
        assert!(unknown.starts_with("unknown placeholder {{pitR}}; known placeholders: days"));
        let list = substitute(&Value::String("x {{origins}}".into()), &vars()).expect_err("list");
        assert!(list.contains("is a list or map"), "{list}");
    }
}
