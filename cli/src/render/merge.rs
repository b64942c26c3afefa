//! Deep-merges fragments into one template: maps merge key by key, lists
//! append, and two different scalars at one path are an error, so a fragment
//! can add a policy to a role another fragment declared but never silently
//! overwrite a setting.

use serde_yaml::Value;

/// Merges `from` into `into`; `path` names the position for error messages.
pub fn merge(into: &mut Value, from: Value, path: &str) -> Result<(), String> {
    match (into, from) {
        (Value::Mapping(target), Value::Mapping(source)) => {
            for (key, value) in source {
                let child = format!(
                    "{path}{}{}",
                    if path.is_empty() { "" } else { "." },
                    key_name(&key)
                );
                match target.get_mut(&key) {
                    Some(existing) => merge(existing, value, &child)?,
                    None => {
                        target.insert(key, value);
                    }
                }
            }
            Ok(())
        }
        (Value::Sequence(target), Value::Sequence(source)) => {
            target.extend(source);
            Ok(())
        }
        (existing, value) if *existing == value => Ok(()),
        (_, _) => Err(format!("{path} is set differently by two fragments")),
    }
}

fn key_name(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        serde_yaml::from_str(s).expect("yaml")
    }

    #[test]
    fn maps_merge_lists_append_equal_scalars_pass() {
        let mut a = yaml("R: {Type: T, P: {L: [1]}}");
        merge(&mut a, yaml("R: {Type: T, P: {L: [2], M: x}}"), "").expect("merges");
        assert_eq!(a, yaml("R: {Type: T, P: {L: [1, 2], M: x}}"));
    }

    #[test]
    fn conflicting_scalars_name_the_path() {
        let mut a = yaml("Resources: {R: {Type: A}}");
        let err = merge(&mut a, yaml("Resources: {R: {Type: B}}"), "").expect_err("conflict");
        assert_eq!(err, "Resources.R.Type is set differently by two fragments");
    }
}
