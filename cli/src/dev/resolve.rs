//! Resolves the template's `Ref`, `Fn::GetAtt`, `Fn::Sub` and `Fn::Join` against the deployed stack, as CloudFormation
//! did when it deployed it.
//!
//! Physical ids come from the stack's resources, parameters from the stack,
//! pseudo parameters from its id and region. The stack's HTTP and WebSocket
//! APIs are played by the local gateway, so a reference to one resolves to a
//! local id, and an `https://{id}.execute-api.{region}.{suffix}` URL built
//! from it becomes the local gateway's `http://` address (`wss://` → `ws://`).

use std::collections::BTreeMap;

use serde_yaml::Value;

/// What the deployed stack knows, by logical id.
#[derive(Debug, Clone, Default)]
pub struct Deployed {
    pub stack_name: String,
    pub stack_id: String,
    pub region: String,
    pub account_id: String,
    pub parameters: BTreeMap<String, String>,
    /// Logical id → physical id.
    pub physical: BTreeMap<String, String>,
    /// Logical id → resource type.
    pub types: BTreeMap<String, String>,
    /// (logical id, attribute) → value, for the attributes `Fn::GetAtt` may ask.
    pub attributes: BTreeMap<(String, String), String>,
}

const URL_SUFFIX: &str = "amazonaws.com";

/// Local ids of the APIs the local gateway plays, and the address it serves them on.
#[derive(Debug, Clone)]
pub struct LocalApis {
    /// Logical id → local api id.
    pub ids: BTreeMap<String, String>,
    /// `127.0.0.1:8787`.
    pub address: String,
}

impl LocalApis {
    /// The local id of an API: its logical id, lower-cased.
    pub fn id_for(logical_id: &str) -> String {
        logical_id.to_ascii_lowercase()
    }
}

#[derive(Debug, Clone)]
pub struct Resolver<'a> {
    pub deployed: &'a Deployed,
    pub apis: &'a LocalApis,
}

impl Resolver<'_> {
    /// The value as a string, every intrinsic resolved; the error names what is missing.
    pub fn resolve(&self, value: &Value) -> Result<String, String> {
        let resolved = self.value(value)?;
        Ok(self.localize(&resolved))
    }

    fn value(&self, value: &Value) -> Result<String, String> {
        match value {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Mapping(map) if map.len() == 1 => {
                let (key, arg) = map.iter().next().ok_or("empty intrinsic")?;
                match key.as_str() {
                    Some("Ref") => self.reference(arg.as_str().ok_or("Ref of a non-string")?),
                    Some("Fn::GetAtt") => {
                        let parts: Vec<&str> = arg
                            .as_sequence()
                            .map(|p| p.iter().filter_map(Value::as_str).collect())
                            .unwrap_or_default();
                        match parts.as_slice() {
                            [id, attribute] => self.attribute(id, attribute),
                            _ => Err(format!(
                                "Fn::GetAtt {arg:?}: expected [Resource, Attribute]"
                            )),
                        }
                    }
                    Some("Fn::Sub") => self.sub(arg),
                    Some("Fn::Join") => {
                        let (Some(separator), Some(items)) = (
                            arg.get(0).and_then(Value::as_str),
                            arg.get(1).and_then(Value::as_sequence),
                        ) else {
                            return Err("Fn::Join: expected [separator, [values]]".into());
                        };
                        let items: Result<Vec<String>, String> =
                            items.iter().map(|i| self.value(i)).collect();
                        Ok(items?.join(separator))
                    }
                    Some(other) => Err(format!("{other} is not supported by the local runtime")),
                    None => Err("an intrinsic with a non-string name".into()),
                }
            }
            other => Err(format!("cannot use {other:?} as a string")),
        }
    }

    fn reference(&self, id: &str) -> Result<String, String> {
        let d = self.deployed;
        match id {
            "AWS::Region" => return Ok(d.region.clone()),
            "AWS::AccountId" => return Ok(d.account_id.clone()),
            "AWS::Partition" => return Ok("aws".into()),
            "AWS::URLSuffix" => return Ok(URL_SUFFIX.into()),
            "AWS::StackName" => return Ok(d.stack_name.clone()),
            "AWS::StackId" => return Ok(d.stack_id.clone()),
            _ => {}
        }
        if let Some(api) = self.apis.ids.get(id) {
            return Ok(api.clone());
        }
        d.parameters
            .get(id)
            .or_else(|| d.physical.get(id))
            .cloned()
            .ok_or_else(|| {
                format!("Ref {id}: the deployed stack has no such resource or parameter (deploy the stage again)")
            })
    }

    fn attribute(&self, id: &str, attribute: &str) -> Result<String, String> {
        self.deployed
            .attributes
            .get(&(id.to_owned(), attribute.to_owned()))
            .cloned()
            .ok_or_else(|| format!("Fn::GetAtt {id}.{attribute}: not known for the deployed stack"))
    }

    fn sub(&self, arg: &Value) -> Result<String, String> {
        let (text, vars) = match arg {
            Value::String(s) => (s.as_str(), None),
            Value::Sequence(items) => (
                items
                    .first()
                    .and_then(Value::as_str)
                    .ok_or("Fn::Sub: expected a string")?,
                items.get(1).and_then(Value::as_mapping),
            ),
            _ => return Err("Fn::Sub: expected a string or [string, variables]".into()),
        };
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("Fn::Sub {text:?}: unclosed ${{"))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(value) = vars.and_then(|v| v.get(name)) {
                out.push_str(&self.value(value)?);
            } else if let Some((id, attribute)) = name.split_once('.') {
                out.push_str(&self.attribute(id, attribute)?);
            } else {
                out.push_str(&self.reference(name)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Points execute-api URLs of the local APIs at the local gateway.
    fn localize(&self, value: &str) -> String {
        let mut out = value.to_owned();
        for id in self.apis.ids.values() {
            let host = format!("{id}.execute-api.{}.{URL_SUFFIX}", self.deployed.region);
            out = out
                .replace(
                    &format!("https://{host}"),
                    &format!("http://{}", self.apis.address),
                )
                .replace(
                    &format!("wss://{host}"),
                    &format!("ws://{}", self.apis.address),
                );
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn deployed() -> Deployed {
        Deployed {
            stack_name: "one-backend-local".into(),
            stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/one-backend-local/x"
                .into(),
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            parameters: [(
                "SigningKeySecretArn".to_owned(),
                "arn:aws:secretsmanager:k".to_owned(),
            )]
            .into(),
            physical: [("DataTable".to_owned(), "one-backend-local-data".to_owned())].into(),
            types: BTreeMap::new(),
            attributes: [(
                ("DataTable".to_owned(), "StreamArn".to_owned()),
                "arn:aws:dynamodb:us-east-1:123456789012:table/one-backend-local-data/stream/1"
                    .to_owned(),
            )]
            .into(),
        }
    }

    #[test]
    fn intrinsics_resolve_against_the_stack_and_apis_become_local() {
        let deployed = deployed();
        let apis = LocalApis {
            ids: [("WebSocketApi".to_owned(), "websocketapi".to_owned())].into(),
            address: "127.0.0.1:8787".into(),
        };
        let r = Resolver {
            deployed: &deployed,
            apis: &apis,
        };
        let yaml = |s: &str| serde_yaml::from_str::<Value>(s).unwrap();
        assert_eq!(
            r.resolve(&yaml("{Ref: DataTable}")).unwrap(),
            "one-backend-local-data"
        );
        assert_eq!(
            r.resolve(&yaml("{Ref: SigningKeySecretArn}")).unwrap(),
            "arn:aws:secretsmanager:k"
        );
        assert!(
            r.resolve(&yaml("{Fn::GetAtt: [DataTable, StreamArn]}"))
                .unwrap()
                .ends_with("/stream/1")
        );
        assert_eq!(
            r.resolve(&yaml(r#"{Fn::Sub: "https://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/live"}"#))
                .unwrap(),
            "http://127.0.0.1:8787/live"
        );
        assert_eq!(
            r.resolve(&yaml(
                r#"{Fn::Sub: ["${A}-${!Literal}-${AWS::AccountId}", {A: {Ref: DataTable}}]}"#
            ))
            .unwrap(),
            "one-backend-local-data-${Literal}-123456789012"
        );
        assert_eq!(r.resolve(&yaml("7")).unwrap(), "7");
        let missing = r.resolve(&yaml("{Ref: UsersTable}")).unwrap_err();
        assert!(missing.contains("UsersTable"), "{missing}");
        assert!(r.resolve(&yaml("{Fn::ImportValue: x}")).is_err());
    }
}
