//! What moto cannot show (change-set Replacement and Details, resource-level
//! events, failures and rollbacks, ROLLBACK_COMPLETE) tested against recorded
//! AWS response shapes, replayed through the SDK's own HTTP test client.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_smithy_http_client::test_util::StaticReplayClient;
use obctl::deploy::changeset;
use obctl::deploy::progress::{self, Event, Outcome};
use obctl::deploy::stack::{self, StackState};
use obctl::deploy::summary::{self, Summary};

use crate::replay;

const NS: &str = "http://cloudformation.amazonaws.com/doc/2010-05-15/";
const STACK_ID: &str =
    "arn:aws:cloudformation:eu-west-1:123456789012:stack/one-backend-prod/0a1b2c3d";

fn response(action: &str, result: &str) -> String {
    format!(
        "<{action}Response xmlns=\"{NS}\"><{action}Result>{result}</{action}Result>\
         <ResponseMetadata><RequestId>5ccc7dcd-744c-11e5-be70-1b08c228efb3</RequestId></ResponseMetadata></{action}Response>"
    )
}

fn client(bodies: Vec<String>) -> (aws_sdk_cloudformation::Client, StaticReplayClient) {
    let events = bodies
        .into_iter()
        .map(|body| {
            replay::answer(
                "https://cloudformation.eu-west-1.amazonaws.com/",
                200,
                &[("content-type", "text/xml")],
                body,
            )
        })
        .collect();
    let http = StaticReplayClient::new(events);
    let client = aws_sdk_cloudformation::Client::new(&replay::sdk_config(&http));
    (client, http)
}

fn actions(http: &StaticReplayClient) -> Vec<String> {
    http.actual_requests()
        .map(|r| {
            let body = String::from_utf8_lossy(r.body().bytes().unwrap_or_default()).into_owned();
            body.split('&')
                .find_map(|kv| kv.strip_prefix("Action=").map(str::to_owned))
                .unwrap_or_default()
        })
        .collect()
}

/// DescribeChangeSet as AWS returns it for a key-schema change of a table
/// (replacement) next to an in-place function update.
fn replacing_change_set() -> String {
    response(
        "DescribeChangeSet",
        &format!(
            "<ChangeSetName>obctl-1763630000000</ChangeSetName>\
             <ChangeSetId>arn:aws:cloudformation:eu-west-1:123456789012:changeSet/obctl-1763630000000/9f8e</ChangeSetId>\
             <StackId>{STACK_ID}</StackId><StackName>one-backend-prod</StackName>\
             <Status>CREATE_COMPLETE</Status><ExecutionStatus>AVAILABLE</ExecutionStatus>\
             <Changes>\
               <member><Type>Resource</Type><ResourceChange>\
                 <Action>Modify</Action><LogicalResourceId>DataTable</LogicalResourceId>\
                 <PhysicalResourceId>one-backend-prod-data</PhysicalResourceId>\
                 <ResourceType>AWS::DynamoDB::Table</ResourceType><Replacement>True</Replacement>\
                 <Scope><member>Properties</member></Scope>\
                 <Details>\
                   <member><Target><Attribute>Properties</Attribute><Name>KeySchema</Name><RequiresRecreation>Always</RequiresRecreation></Target>\
                     <Evaluation>Static</Evaluation><ChangeSource>DirectModification</ChangeSource></member>\
                   <member><Target><Attribute>Properties</Attribute><Name>AttributeDefinitions</Name><RequiresRecreation>Never</RequiresRecreation></Target>\
                     <Evaluation>Static</Evaluation><ChangeSource>DirectModification</ChangeSource></member>\
                 </Details>\
               </ResourceChange></member>\
               <member><Type>Resource</Type><ResourceChange>\
                 <Action>Modify</Action><LogicalResourceId>AuthFunction</LogicalResourceId>\
                 <PhysicalResourceId>one-backend-prod-auth</PhysicalResourceId>\
                 <ResourceType>AWS::Lambda::Function</ResourceType><Replacement>False</Replacement>\
                 <Scope><member>Properties</member></Scope>\
                 <Details><member><Target><Attribute>Properties</Attribute><Name>Code</Name><RequiresRecreation>Never</RequiresRecreation></Target>\
                   <Evaluation>Dynamic</Evaluation><ChangeSource>ParameterReference</ChangeSource><CausingEntity>AuthCodeKey</CausingEntity></member></Details>\
               </ResourceChange></member>\
               <member><Type>Resource</Type><ResourceChange>\
                 <Action>Remove</Action><LogicalResourceId>FilesBucket</LogicalResourceId>\
                 <PhysicalResourceId>one-backend-prod-filesbucket-1x2y3z</PhysicalResourceId>\
                 <ResourceType>AWS::S3::Bucket</ResourceType><Scope></Scope><Details></Details>\
               </ResourceChange></member>\
             </Changes>"
        ),
    )
}

#[tokio::test]
async fn a_table_replacement_is_blocked_with_exit_3_unless_allowed() {
    let (cfn, http) = client(vec![replacing_change_set()]);
    let changes = changeset::changes(&cfn, "obctl-1763630000000")
        .await
        .expect("changes");
    assert_eq!(actions(&http), ["DescribeChangeSet"]);

    let none = BTreeSet::new();
    let resources = summary::resource_changes(&changes, &none);
    let data = &resources[0];
    assert_eq!(data.logical_id, "DataTable");
    assert_eq!(data.replacement.as_deref(), Some("True"));
    assert_eq!(
        data.changed_properties,
        ["Properties.AttributeDefinitions", "Properties.KeySchema"]
    );
    assert!(data.stateful && data.destructive);
    assert!(!resources[1].destructive, "a function update loses nothing");
    assert!(resources[2].destructive, "removing the bucket loses data");

    let blocked = Summary::new(
        "prod",
        "one-backend-prod",
        "UPDATE",
        resources,
        vec![],
        vec![],
    );
    assert_eq!(blocked.exit_code, 3);
    assert_eq!(blocked.blocked, ["DataTable", "FilesBucket"]);
    insta::assert_snapshot!("replacement_summary", blocked.to_string());
    let json = serde_json::to_value(&blocked).expect("json");
    assert_eq!(json["schemaVersion"], 1);
    assert_eq!(json["resources"][0]["replacement"], "True");

    let one = BTreeSet::from(["DataTable".to_owned()]);
    let still = Summary::new(
        "prod",
        "one-backend-prod",
        "UPDATE",
        summary::resource_changes(&changes, &one),
        vec![],
        vec![],
    );
    assert_eq!(still.exit_code, 3, "the bucket removal is still blocked");
    let both = BTreeSet::from(["DataTable".to_owned(), "FilesBucket".to_owned()]);
    let allowed = Summary::new(
        "prod",
        "one-backend-prod",
        "UPDATE",
        summary::resource_changes(&changes, &both),
        vec![],
        vec![],
    );
    assert_eq!(
        allowed.exit_code, 2,
        "allowed destructive changes are ordinary changes"
    );
    assert!(allowed.blocked.is_empty());
}

fn event(
    id: &str,
    logical: &str,
    kind: &str,
    status: &str,
    time: &str,
    reason: Option<&str>,
) -> String {
    let reason = reason
        .map(|r| format!("<ResourceStatusReason>{r}</ResourceStatusReason>"))
        .unwrap_or_default();
    format!(
        "<member><EventId>{id}</EventId><StackId>{STACK_ID}</StackId><StackName>one-backend-prod</StackName>\
         <LogicalResourceId>{logical}</LogicalResourceId><PhysicalResourceId>{logical}-x</PhysicalResourceId>\
         <ResourceType>{kind}</ResourceType><Timestamp>{time}</Timestamp>\
         <ResourceStatus>{status}</ResourceStatus>{reason}</member>"
    )
}

fn events(members: &[String]) -> String {
    response(
        "DescribeStackEvents",
        &format!("<StackEvents>{}</StackEvents>", members.concat()),
    )
}

fn stack_status(status: &str) -> String {
    response(
        "DescribeStacks",
        &format!(
            "<Stacks><member><StackId>{STACK_ID}</StackId><StackName>one-backend-prod</StackName>\
             <CreationTime>2026-11-20T10:00:00Z</CreationTime><StackStatus>{status}</StackStatus></member></Stacks>"
        ),
    )
}

#[derive(Default)]
struct Recorded {
    events: Vec<Event>,
    finished: Option<String>,
}

impl progress::Display for Recorded {
    fn event(&mut self, event: &Event) {
        self.events.push(event.clone());
    }
    fn finish(&mut self, outcome: &Outcome) {
        self.finished = Some(outcome.final_status.clone());
    }
}

#[tokio::test]
async fn a_failed_create_names_the_first_failure_and_follows_the_rollback() {
    const STACK: &str = "AWS::CloudFormation::Stack";
    let e0 = event(
        "e0",
        "one-backend-prod",
        STACK,
        "REVIEW_IN_PROGRESS",
        "2026-11-20T10:00:00Z",
        Some("User Initiated"),
    );
    let e1 = event(
        "e1",
        "one-backend-prod",
        STACK,
        "CREATE_IN_PROGRESS",
        "2026-11-20T10:00:01Z",
        Some("User Initiated"),
    );
    let e2 = event(
        "e2",
        "DataTable",
        "AWS::DynamoDB::Table",
        "CREATE_IN_PROGRESS",
        "2026-11-20T10:00:02Z",
        None,
    );
    let e3 = event(
        "e3",
        "DataTable",
        "AWS::DynamoDB::Table",
        "CREATE_FAILED",
        "2026-11-20T10:00:03Z",
        Some(
            "Resource handler returned message: &quot;Table already exists: one-backend-prod-data&quot; (HandlerErrorCode: AlreadyExists)",
        ),
    );
    let e4 = event(
        "e4",
        "one-backend-prod",
        STACK,
        "ROLLBACK_IN_PROGRESS",
        "2026-11-20T10:00:04Z",
        Some(
            "The following resource(s) failed to create: [DataTable]. Rollback requested by user.",
        ),
    );
    let e5 = event(
        "e5",
        "AuthFunction",
        "AWS::Lambda::Function",
        "CREATE_FAILED",
        "2026-11-20T10:00:04Z",
        Some("Resource creation cancelled"),
    );
    let e6 = event(
        "e6",
        "AuthRole",
        "AWS::IAM::Role",
        "DELETE_COMPLETE",
        "2026-11-20T10:00:08Z",
        None,
    );
    let e7 = event(
        "e7",
        "one-backend-prod",
        STACK,
        "ROLLBACK_COMPLETE",
        "2026-11-20T10:00:09Z",
        None,
    );
    let (cfn, http) = client(vec![
        events(&[e3.clone(), e2.clone(), e1.clone(), e0.clone()]),
        stack_status("ROLLBACK_IN_PROGRESS"),
        events(&[e7, e6, e5, e4, e3, e2, e1, e0]),
    ]);
    let mut shown = Recorded::default();
    let outcome = progress::follow(
        &cfn,
        "one-backend-prod",
        Some("e0".into()),
        &mut shown,
        Duration::from_millis(1),
    )
    .await
    .expect("followed");
    assert_eq!(
        actions(&http),
        [
            "DescribeStackEvents",
            "DescribeStacks",
            "DescribeStackEvents"
        ]
    );
    let order: Vec<&str> = shown.events.iter().map(|e| e.status.as_str()).collect();
    assert_eq!(
        order,
        [
            "CREATE_IN_PROGRESS",
            "CREATE_IN_PROGRESS",
            "CREATE_FAILED",
            "ROLLBACK_IN_PROGRESS",
            "CREATE_FAILED",
            "DELETE_COMPLETE",
            "ROLLBACK_COMPLETE"
        ],
        "every event once, oldest first, none from before the baseline"
    );
    assert!(!outcome.succeeded);
    assert_eq!(outcome.final_status, "ROLLBACK_COMPLETE");
    assert_eq!(shown.finished.as_deref(), Some("ROLLBACK_COMPLETE"));
    let cause = outcome.first_failure.expect("a failure");
    assert_eq!(
        cause.logical_id, "DataTable",
        "not the cancelled AuthFunction"
    );
    assert!(
        cause
            .reason
            .unwrap_or_default()
            .contains("Table already exists")
    );
}

#[tokio::test]
async fn a_rolled_back_first_create_is_recognised_and_deleted() {
    let (cfn, http) = client(vec![
        stack_status("ROLLBACK_COMPLETE"),
        stack_status("ROLLBACK_COMPLETE"),
        response("DeleteStack", "").replace("<DeleteStackResult></DeleteStackResult>", ""),
        stack_status("DELETE_COMPLETE"),
    ]);
    let found = stack::describe(&cfn, "one-backend-prod")
        .await
        .expect("described");
    assert_eq!(stack::state(found.as_ref()), StackState::RolledBackCreate);
    stack::delete_and_wait(&cfn, "one-backend-prod")
        .await
        .expect("deleted");
    assert_eq!(
        actions(&http),
        [
            "DescribeStacks",
            "DescribeStacks",
            "DeleteStack",
            "DescribeStacks"
        ]
    );
}
