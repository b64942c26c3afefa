//! Loads one template fragment and rewrites CloudFormation short-form tags
//! (`!Ref`, `!GetAtt`, `!Sub`…) into their long form, so fragments read like
//! ordinary CloudFormation and the output is plain YAML or JSON.

use serde_yaml::{Mapping, Value};

/// Parses a fragment's text; `file` is only used in messages.
pub fn parse(file: &str, text: &str) -> Result<Value, String> {
    let value: Value = serde_yaml::from_str(text).map_err(|err| format!("{file}: {err}"))?;
    long_form(value).map_err(|err| format!("{file}: {err}"))
}

fn long_form(value: Value) -> Result<Value, String> {
    Ok(match value {
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = long_form(tagged.value)?;
            intrinsic(name, inner)?
        }
        Value::Mapping(map) => {
            let mut out = Mapping::with_capacity(map.len());
            for (key, value) in map {
                out.insert(key, long_form(value)?);
            }
            Value::Mapping(out)
        }
        Value::Sequence(items) => Value::Sequence(
            items
                .into_iter()
                .map(long_form)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        scalar => scalar,
    })
}

fn intrinsic(name: &str, arg: Value) -> Result<Value, String> {
    let (key, arg) = match name {
        "Ref" => ("Ref".to_owned(), arg),
        "Condition" => ("Condition".to_owned(), arg),
        "GetAtt" => {
            // `!GetAtt Resource.Attribute` is shorthand for `[Resource, Attribute]`.
            let arg = match arg {
                Value::String(s) => {
                    let dot = first_dot_outside_placeholders(&s)
                        .ok_or_else(|| format!("!GetAtt {s}: expected Resource.Attribute"))?;
                    Value::Sequence(vec![s[..dot].into(), s[dot + 1..].into()])
                }
                other => other,
            };
            ("Fn::GetAtt".to_owned(), arg)
        }
        "Base64" | "Cidr" | "FindInMap" | "GetAZs" | "ImportValue" | "Join" | "Select"
        | "Split" | "Sub" | "Transform" | "And" | "Equals" | "If" | "Not" | "Or"
        | "ToJsonString" | "Length" => (format!("Fn::{name}"), arg),
        other => return Err(format!("unknown tag !{other}")),
    };
    let mut map = Mapping::new();
    map.insert(Value::String(key), arg);
    Ok(Value::Mapping(map))
}

/// Logical ids never contain dots, but a `{{fn.Name}}` placeholder in one does.
fn first_dot_outside_placeholders(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'{' => depth += 1,
            b'}' => depth = depth.saturating_sub(1),
            b'.' if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_forms_become_long_forms() {
        let v = parse(
            "t.yaml",
            "a: !Ref X\nb: !GetAtt '{{t.Name}}T.Arn'\nc: !Sub '${AWS::Region}'\nd: !If [C, !Ref Y, 1]\n",
        )
        .expect("parses");
        let json = serde_json::to_string(&v).expect("json");
        assert_eq!(
            json,
            r#"{"a":{"Ref":"X"},"b":{"Fn::GetAtt":["{{t.Name}}T","Arn"]},"c":{"Fn::Sub":"${AWS::Region}"},"d":{"Fn::If":["C",{"Ref":"Y"},1]}}"#
        );
    }

    #[test]
    fn unknown_tags_are_errors() {
        let err = parse("t.yaml", "a: !Reff X\n").expect_err("rejected");
        assert_eq!(err, "t.yaml: unknown tag !Reff");
    }
}
