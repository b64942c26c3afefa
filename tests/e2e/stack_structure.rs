//! Structural checks of the rendered stack that cfn-lint cannot know about:
//! data safety, least privilege, and agreement with ob-core's table layout.

use std::collections::BTreeSet;

use ob_core::tables::{ALL, TableDef};
use serde_yaml::Value;

use crate::render::{project, rendered};

fn resources(template: &Value) -> Vec<(&str, &Value)> {
    template["Resources"]
        .as_mapping()
        .expect("resources")
        .iter()
        .map(|(k, v)| (k.as_str().expect("logical id"), v))
        .collect()
}

fn of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    resources(template)
        .into_iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect()
}

fn names(list: &Value, field: &str) -> Vec<(String, String)> {
    list.as_sequence()
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    (
                        i["AttributeName"].as_str().unwrap_or_default().to_owned(),
                        i[field].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// An index as (name, key schema, projection type).
type IndexShape = (String, Vec<(String, String)>, String);

fn expected_key_schema(pk: &str, sk: Option<&str>) -> Vec<(String, String)> {
    let mut keys = vec![(pk.to_owned(), "HASH".to_owned())];
    keys.extend(sk.map(|s| (s.to_owned(), "RANGE".to_owned())));
    keys
}

#[test]
fn tables_match_the_core_layout_on_every_stage() {
    for stage in project().stages() {
        let template = rendered(&stage);
        let tables = of_type(&template, "AWS::DynamoDB::Table");
        let declared: BTreeSet<&str> = tables.iter().map(|(id, _)| *id).collect();
        let core: BTreeSet<&str> = ALL.iter().map(|t| t.logical_id).collect();
        assert_eq!(declared, core, "stage {stage}: tables differ from ob-core");
        for (id, table) in tables {
            let def: &TableDef = TableDef::by_logical_id(id).expect("known table");
            let p = &table["Properties"];
            assert_eq!(
                names(&p["KeySchema"], "KeyType"),
                expected_key_schema(def.partition_key, def.sort_key),
                "{stage}/{id} key schema"
            );
            let mut attrs: Vec<String> = names(&p["AttributeDefinitions"], "AttributeType")
                .into_iter()
                .map(|(name, kind)| {
                    assert_eq!(kind, "S", "{id}.{name} must be a string key");
                    name
                })
                .collect();
            attrs.sort();
            assert_eq!(attrs, def.key_attributes(), "{stage}/{id} attributes");
            let gsis: Vec<IndexShape> = p["GlobalSecondaryIndexes"]
                .as_sequence()
                .map(|list| {
                    list.iter()
                        .map(|g| {
                            (
                                g["IndexName"].as_str().unwrap_or_default().to_owned(),
                                names(&g["KeySchema"], "KeyType"),
                                g["Projection"]["ProjectionType"]
                                    .as_str()
                                    .unwrap_or_default()
                                    .to_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let expected: Vec<_> = def
                .indexes
                .iter()
                .map(|i| {
                    (
                        i.name.to_owned(),
                        expected_key_schema(i.partition_key, i.sort_key),
                        "ALL".to_owned(),
                    )
                })
                .collect();
            assert_eq!(gsis, expected, "{stage}/{id} indexes");
            assert_eq!(
                p["TimeToLiveSpecification"]["AttributeName"].as_str(),
                def.ttl_attribute,
                "{stage}/{id} TTL"
            );
            assert_eq!(
                p["StreamSpecification"]["StreamViewType"].as_str(),
                def.stream.then_some("NEW_AND_OLD_IMAGES"),
                "{stage}/{id} stream"
            );
            assert_eq!(p["BillingMode"], "PAY_PER_REQUEST", "{id}");
            assert_eq!(p["SSESpecification"]["SSEEnabled"], true, "{id}");
            let output = &template["Outputs"][def.output]["Value"]["Ref"];
            assert_eq!(output, id, "{stage}: output {} names {id}", def.output);
        }
    }
}

#[test]
fn prod_protects_every_stateful_resource() {
    let template = rendered("prod");
    let stateful: Vec<_> = resources(&template)
        .into_iter()
        .filter(|(_, r)| {
            matches!(
                r["Type"].as_str(),
                Some("AWS::DynamoDB::Table" | "AWS::S3::Bucket")
            )
        })
        .collect();
    assert_eq!(stateful.len(), ALL.len() + 1, "tables and the files bucket");
    for (id, r) in stateful {
        assert_eq!(r["DeletionPolicy"], "Retain", "{id}");
        assert_eq!(r["UpdateReplacePolicy"], "Retain", "{id}");
        if r["Type"] == "AWS::DynamoDB::Table" {
            let p = &r["Properties"];
            assert_eq!(
                p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true,
                "{id} PITR"
            );
            assert_eq!(p["DeletionProtectionEnabled"], true, "{id} protection");
        }
    }
    let bucket = &template["Resources"]["FilesBucket"]["Properties"];
    let block = &bucket["PublicAccessBlockConfiguration"];
    for flag in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(block[flag], true, "{flag}");
    }
    assert_eq!(bucket["VersioningConfiguration"]["Status"], "Enabled");
    // Any app's registered origin may upload: the URL is the credential.
    let cors = &bucket["CorsConfiguration"]["CorsRules"][0];
    assert_eq!(
        cors["AllowedOrigins"],
        serde_yaml::from_str::<Value>("['*']").expect("yaml")
    );
    assert!(cors.get("AllowCredentials").is_none());
    assert_eq!(
        cors["AllowedMethods"],
        serde_yaml::from_str::<Value>("[GET, PUT, HEAD]").expect("yaml")
    );
    let local = rendered("local");
    assert_eq!(
        local["Resources"]["DataTable"]["Properties"]["DeletionProtectionEnabled"], false,
        "the stage decides"
    );
}

/// Logical ids a value refers to through Ref, GetAtt or `${…}` in Sub.
fn references(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Mapping(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    (Some("Ref"), Value::String(id)) => {
                        out.insert(id.clone());
                    }
                    (Some("Fn::GetAtt"), Value::Sequence(parts)) => {
                        out.extend(parts.first().and_then(Value::as_str).map(str::to_owned));
                    }
                    (Some("Fn::Sub"), Value::String(s)) => {
                        for piece in s.split("${").skip(1) {
                            let name = piece.split(['}', '.']).next().unwrap_or_default();
                            out.insert(name.to_owned());
                        }
                    }
                    _ => references(v, out),
                }
            }
        }
        Value::Sequence(items) => items.iter().for_each(|i| references(i, out)),
        _ => {}
    }
}

fn statements(role: &Value) -> Vec<&Value> {
    role["Properties"]["Policies"]
        .as_sequence()
        .expect("inline policies")
        .iter()
        .flat_map(|p| {
            p["PolicyDocument"]["Statement"]
                .as_sequence()
                .expect("statements")
        })
        .collect()
}

#[test]
fn each_role_names_only_its_own_resources_and_never_wildcards() {
    let template = rendered("prod");
    // Resources other than tables a role may name; its tables come from functions.rs.
    let others = |function: &str| -> &[&str] {
        match function {
            "files" => &["FilesBucket"],
            "realtime" => &["WebSocketApi", "RealtimeFailedBatches"],
            "notify" => &["WebSocketApi"],
            "webhooks" => &["WebhookDeadLetterQueue"],
            _ => &[],
        }
    };
    let roles = of_type(&template, "AWS::IAM::Role");
    assert_eq!(
        roles.len(),
        ob_core::functions::ALL.len(),
        "one role per function"
    );
    for def in ob_core::functions::ALL {
        let function = def.resource_prefix();
        let tables: Vec<&str> = def.tables.iter().map(|t| t.logical_id).collect();
        let role = &template["Resources"][format!("{function}Role").as_str()];
        let mut referenced = BTreeSet::new();
        for statement in statements(role) {
            if is_sms_publish_pair(statement) {
                continue;
            }
            assert_eq!(statement["Effect"], "Allow", "{function}: {statement:?}");
            let actions: Vec<&str> = match &statement["Action"] {
                Value::String(a) => vec![a.as_str()],
                Value::Sequence(list) => list.iter().filter_map(Value::as_str).collect(),
                other => panic!("{function}: unexpected Action {other:?}"),
            };
            for action in actions {
                assert!(
                    !action.contains('*'),
                    "{function}Role grants wildcard action {action}"
                );
            }
            let resource = &statement["Resource"];
            assert_ne!(resource, "*", "{function}Role grants Resource *");
            references(resource, &mut referenced);
        }
        let mut allowed: BTreeSet<String> = tables.iter().map(|s| (*s).to_owned()).collect();
        // Queues it sends to, and queues that feed it.
        allowed.extend(def.queues.iter().map(|q| q.logical_id.to_owned()));
        for source in def.event_sources {
            if let ob_core::functions::EventSource::Queue(queue) = source.source {
                allowed.insert(queue.logical_id.to_owned());
            }
        }
        allowed.extend(others(def.name).iter().map(|s| (*s).to_owned()));
        allowed.extend([
            format!("{function}LogGroup"),
            "SigningKeySecretArn".to_owned(),
            "AWS::Partition".to_owned(),
            "AWS::Region".to_owned(),
            "AWS::AccountId".to_owned(),
        ]);
        let strays: Vec<&String> = referenced.difference(&allowed).collect();
        assert!(strays.is_empty(), "{function}Role reaches {strays:?}");
        for table in &tables {
            assert!(
                referenced.contains(*table),
                "{function}Role lacks {table}, which functions.rs says it touches"
            );
        }
    }
}

/// The one statement pair allowed a `*` resource: an SMS has no ARN to name,
/// so `sns:Publish` on `*` is only allowed beside a Deny of every SNS ARN.
fn is_sms_publish_pair(statement: &Value) -> bool {
    let sid = statement["Sid"].as_str().unwrap_or_default();
    match sid {
        "PublishSmsOnly" => {
            statement["Effect"] == "Allow"
                && statement["Action"] == "sns:Publish"
                && statement["Resource"] == "*"
        }
        "NoTopicsOrEndpoints" => {
            statement["Effect"] == "Deny"
                && statement["Action"] == "sns:Publish"
                && statement["Resource"]["Fn::Sub"] == "arn:${AWS::Partition}:sns:*:*:*"
        }
        _ => false,
    }
}

#[test]
fn functions_receive_tables_under_the_core_env_names() {
    let template = rendered("dev");
    for (id, function) in of_type(&template, "AWS::Lambda::Function") {
        let p = &function["Properties"];
        assert_eq!(p["Runtime"], "provided.al2023", "{id}");
        assert_eq!(p["Handler"], "bootstrap", "{id}");
        assert_eq!(p["Architectures"][0], "arm64", "{id}");
        let vars = p["Environment"]["Variables"].as_mapping().expect("env");
        for (name, value) in vars {
            if let Some(table) = value["Ref"].as_str().and_then(TableDef::by_logical_id) {
                assert_eq!(name.as_str(), Some(table.env_var), "{id}: {table:?}");
            }
        }
        let text = serde_yaml::to_string(p).expect("yaml");
        assert!(
            !text.contains("SecretString"),
            "{id}: secret value in template"
        );
    }
    assert_eq!(
        template["Resources"]["AuthFunction"]["Properties"]["MemorySize"], 512,
        "per-function override from stacks/dev.yaml"
    );
    assert_eq!(
        template["Resources"]["DataFunction"]["Properties"]["MemorySize"], 256,
        "stage default"
    );
}

/// The actions of one statement (by Sid) of a role, sorted.
fn statement_actions(template: &Value, role: &str, sid: &str) -> Option<BTreeSet<String>> {
    let statement = statements(&template["Resources"][role])
        .into_iter()
        .find(|s| s["Sid"].as_str() == Some(sid))?;
    Some(match &statement["Action"] {
        Value::String(a) => BTreeSet::from([a.clone()]),
        Value::Sequence(list) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        other => panic!("{role}/{sid}: unexpected Action {other:?}"),
    })
}

fn set(actions: &[&str]) -> BTreeSet<String> {
    actions.iter().map(|a| (*a).to_owned()).collect()
}

#[test]
fn roles_grant_only_what_their_functions_call() {
    let template = rendered("prod");
    let expected: [(&str, &str, &[&str]); 11] = [
        (
            "AuthRole",
            "Users",
            // UpdateItem: a new password (reset) and the verified flag.
            &[
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
            ],
        ),
        (
            "AuthRole",
            "Sessions",
            &[
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
            ],
        ),
        ("AdminRole", "Config", &["dynamodb:UpdateItem"]),
        (
            "DataRole",
            "Records",
            &[
                "dynamodb:BatchGetItem",
                "dynamodb:DeleteItem",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:Query",
            ],
        ),
        (
            "RealtimeRole",
            "Connections",
            &[
                "dynamodb:BatchWriteItem",
                "dynamodb:DeleteItem",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:Query",
                "dynamodb:UpdateItem",
            ],
        ),
        ("AuthRole", "RecordApiKeyUse", &["dynamodb:UpdateItem"]),
        ("RealtimeRole", "ReadAppConfig", &["dynamodb:GetItem"]),
        (
            "DataRole",
            "CheckStanding",
            &["dynamodb:ConditionCheckItem"],
        ),
        (
            "FilesRole",
            "CheckStanding",
            &["dynamodb:ConditionCheckItem"],
        ),
        (
            "RealtimeRole",
            "CheckStanding",
            &["dynamodb:ConditionCheckItem"],
        ),
        ("AdminRole", "ReadUsers", &["dynamodb:GetItem"]),
    ];
    for (role, sid, actions) in expected {
        assert_eq!(
            statement_actions(&template, role, sid),
            Some(set(actions)),
            "{role}/{sid}"
        );
    }
    assert_eq!(
        statement_actions(&template, "AuthRole", "SessionsOfUser"),
        Some(set(&["dynamodb:Query"])),
        "a password reset ends every session of the user (found through byUser)"
    );
    assert_eq!(
        statement_actions(&template, "AuthRole", "EnqueueAccountEmails"),
        Some(set(&["sqs:SendMessage"])),
        "reset and verification e-mails are only enqueued"
    );
    // Stamping a key's use writes `lastUsedAt` only, and only where keys are used over HTTP.
    for function in ob_core::functions::ALL {
        let role = format!("{}Role", function.resource_prefix());
        let statement = statements(&template["Resources"][role.as_str()])
            .into_iter()
            .find(|s| s["Sid"].as_str() == Some("RecordApiKeyUse"));
        let Some(statement) = statement else {
            assert!(!function.serves_http(), "{role} records key use");
            continue;
        };
        assert!(function.serves_http(), "{role} never records key use");
        let condition = &statement["Condition"];
        assert_eq!(
            condition["ForAllValues:StringEquals"]["dynamodb:Attributes"],
            serde_yaml::from_str::<Value>("[appId, keyId, lastUsedAt]").expect("yaml"),
            "{role}"
        );
        assert_eq!(
            condition["StringEqualsIfExists"]["dynamodb:ReturnValues"],
            "NONE"
        );
    }
}

/// Only the functions that push hold `execute-api:ManageConnections`, and only
/// for `POST @connections` of the stage's WebSocket API: closing a connection
/// (revocation) is the operator's, through obctl, never a function's.
#[test]
fn only_pushing_functions_reach_connections_and_none_closes_them() {
    let template = rendered("prod");
    let mut holders = BTreeSet::new();
    for (id, role) in of_type(&template, "AWS::IAM::Role") {
        for statement in statements(role) {
            let actions = match &statement["Action"] {
                Value::String(a) => vec![a.clone()],
                Value::Sequence(list) => list
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                _ => Vec::new(),
            };
            if !actions.iter().any(|a| a.starts_with("execute-api:")) {
                continue;
            }
            assert_eq!(actions, ["execute-api:ManageConnections"], "{id}");
            let resource = statement["Resource"]["Fn::Sub"]
                .as_str()
                .unwrap_or_default();
            assert!(
                resource.ends_with(":${WebSocketApi}/live/POST/@connections/*"),
                "{id} may only POST to connections: {resource}"
            );
            holders.insert(id.to_owned());
        }
    }
    assert_eq!(
        holders,
        BTreeSet::from(["NotifyRole".to_owned(), "RealtimeRole".to_owned()])
    );
}

#[test]
fn every_role_carries_the_permissions_boundary() {
    for stage in ["local", "dev", "prod"] {
        let template = rendered(stage);
        for (id, role) in of_type(&template, "AWS::IAM::Role") {
            assert_eq!(
                role["Properties"]["PermissionsBoundary"],
                serde_yaml::from_str::<Value>("{Ref: PermissionsBoundaryArn}").expect("yaml"),
                "{stage}: {id}"
            );
        }
    }
}

#[test]
fn failed_stream_batches_are_kept_and_alarmed() {
    let template = rendered("prod");
    let resources = &template["Resources"];
    let yaml = |text: &str| serde_yaml::from_str::<Value>(text).expect("yaml");
    assert_eq!(
        resources["RealtimeStreamMapping"]["Properties"]["DestinationConfig"]["OnFailure"]["Destination"],
        yaml("{Fn::GetAtt: [RealtimeFailedBatches, Arn]}")
    );
    assert_eq!(
        resources["RealtimeFailedBatches"]["Type"],
        "AWS::SQS::Queue"
    );
    let alarm = &resources["RealtimeFailedBatchesNotEmptyAlarm"]["Properties"];
    assert_eq!(alarm["MetricName"], "ApproximateNumberOfMessagesVisible");
    assert_eq!(alarm["AlarmActions"], yaml("[{Ref: AlarmTopic}]"));
}
