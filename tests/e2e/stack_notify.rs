//! Structure of the notification stack on every stage: queues as `ob_core::queues` defines them, their alarms and
//! outputs, the notify role's SES and SNS limits, and the SES events path (configuration set -> topic -> queue).

use ob_core::queues::{self, QueueDef};
use serde_yaml::Value;

use crate::render::{project, rendered};

fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).expect("yaml")
}

fn statement<'a>(role: &'a Value, sid: &str) -> Option<&'a Value> {
    role["Properties"]["Policies"]
        .as_sequence()?
        .iter()
        .flat_map(|p| {
            p["PolicyDocument"]["Statement"]
                .as_sequence()
                .into_iter()
                .flatten()
        })
        .find(|s| s["Sid"] == sid)
}

#[test]
fn queues_match_their_definitions_with_encryption_redrive_outputs_and_alarms() {
    for stage in project().stages() {
        let template = rendered(&stage);
        let resources = template["Resources"].as_mapping().expect("resources");
        let declared: Vec<&str> = resources
            .iter()
            .filter(|(_, r)| r["Type"] == "AWS::SQS::Queue")
            .filter_map(|(id, _)| id.as_str())
            .collect();
        let defined: Vec<&str> = queues::ALL.iter().map(|q| q.logical_id).collect();
        assert_eq!(
            declared, defined,
            "{stage}: queues differ from ob_core::queues"
        );
        for queue in queues::ALL {
            let id = queue.logical_id;
            let p = &template["Resources"][id]["Properties"];
            assert_eq!(p["SqsManagedSseEnabled"], true, "{stage}/{id}: encrypted");
            assert_eq!(
                p["VisibilityTimeout"], queue.visibility_timeout_secs,
                "{stage}/{id}"
            );
            assert_eq!(
                p["MessageRetentionPeriod"], queue.retention_secs,
                "{stage}/{id}"
            );
            match queue.redrive {
                Some(redrive) => {
                    let policy = &p["RedrivePolicy"];
                    assert_eq!(
                        policy["deadLetterTargetArn"]["Fn::GetAtt"],
                        yaml(&format!("[{}, Arn]", redrive.dead_letter.logical_id)),
                        "{stage}/{id}"
                    );
                    assert_eq!(
                        policy["maxReceiveCount"], redrive.max_receive_count,
                        "{stage}/{id}"
                    );
                }
                None => assert!(p.get("RedrivePolicy").is_none(), "{stage}/{id}"),
            }
            assert_eq!(
                template["Outputs"][queue.output]["Value"]["Ref"], id,
                "{stage}: output {}",
                queue.output
            );
            let (alarm, metric) = if queue.dead_letter {
                (
                    format!("{id}NotEmptyAlarm"),
                    "ApproximateNumberOfMessagesVisible",
                )
            } else {
                (
                    format!("{id}DepthAlarm"),
                    "ApproximateNumberOfMessagesVisible",
                )
            };
            let a = &template["Resources"][alarm.as_str()]["Properties"];
            assert_eq!(a["MetricName"], metric, "{stage}/{alarm}");
            assert_eq!(
                a["Dimensions"][0]["Value"]["Fn::GetAtt"],
                yaml(&format!("[{id}, QueueName]"))
            );
            assert_eq!(a["AlarmActions"][0]["Ref"], "AlarmTopic", "{stage}/{alarm}");
            if let Some(depth) = queue.depth_alarm {
                assert_eq!(a["Threshold"], depth, "{stage}/{alarm}");
            }
        }
    }
}

/// The notify function's timeout leaves a received message invisible long
/// enough: Lambda advises a visibility timeout of six times the timeout.
#[test]
fn the_queue_outlasts_six_notify_timeouts() {
    let queue: &QueueDef = &queues::NOTIFY;
    for stage in project().stages() {
        let template = rendered(&stage);
        let timeout = template["Resources"]["NotifyFunction"]["Properties"]["Timeout"]
            .as_u64()
            .expect("timeout");
        assert!(
            6 * timeout <= u64::from(queue.visibility_timeout_secs),
            "{stage}: notify timeout {timeout} s"
        );
        let mapping = &template["Resources"]["NotifyQueueMapping"]["Properties"];
        assert!(mapping["BatchSize"].as_u64().is_some_and(|n| n <= 10));
        assert_eq!(
            mapping["FunctionResponseTypes"],
            yaml("[ReportBatchItemFailures]")
        );
        assert!(
            mapping["ScalingConfig"]["MaximumConcurrency"]
                .as_u64()
                .is_some()
        );
    }
}

#[test]
fn notify_sends_only_as_the_stage_sender_and_texts_only_when_sms_is_on() {
    for stage in project().stages() {
        let loaded = obctl::stage::load(&project(), &stage).expect("stage");
        let n = &loaded.config.notifications;
        let set = n.configuration_set(&loaded.config.stack_name);
        let template = rendered(&stage);
        let role = &template["Resources"]["NotifyRole"];
        let send = statement(role, "SendEmailAsTheStageSender").expect("SES statement");
        assert_eq!(send["Action"], "ses:SendEmail");
        let resources: Vec<&str> = send["Resource"]
            .as_sequence()
            .expect("list")
            .iter()
            .filter_map(|r| r["Fn::Sub"].as_str())
            .collect();
        let prefix = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:";
        assert_eq!(
            resources,
            [
                format!("{prefix}identity/{}", n.sender_address),
                format!("{prefix}identity/{}", n.sender_domain()),
                format!("{prefix}configuration-set/{set}"),
            ],
            "{stage}"
        );
        assert_eq!(
            send["Condition"]["StringEquals"]["ses:FromAddress"], n.sender_address,
            "{stage}"
        );
        let sms = statement(role, "PublishSmsOnly");
        let deny = statement(role, "NoTopicsOrEndpoints");
        assert_eq!(
            sms.is_some(),
            n.sms,
            "{stage}: SMS permission follows notifications.sms"
        );
        assert_eq!(
            deny.is_some(),
            n.sms,
            "{stage}: the Allow of * comes with its Deny"
        );
        // Only auth and admin (enqueue) and notify (consume) reach the queue.
        for (function, reaches) in [
            ("Auth", true),
            ("Admin", true),
            ("Notify", true),
            ("Data", false),
            ("Files", false),
            ("Realtime", false),
        ] {
            let text =
                serde_yaml::to_string(&template["Resources"][format!("{function}Role").as_str()])
                    .expect("yaml");
            assert_eq!(
                text.contains("NotifyQueue"),
                reaches,
                "{stage}: {function}Role"
            );
            assert_eq!(
                text.contains("ses:"),
                function == "Notify",
                "{stage}: {function}Role"
            );
        }
        let env =
            &template["Resources"]["NotifyFunction"]["Properties"]["Environment"]["Variables"];
        assert_eq!(env["SES_CONFIGURATION_SET"], set.as_str(), "{stage}");
        assert_eq!(env["SMS_ENABLED"], if n.sms { "true" } else { "false" });
        assert!(
            env.get("SIGNING_KEY_SECRET_ARN").is_none(),
            "{stage}: the worker never signs or verifies tokens"
        );
    }
}

#[test]
fn ses_events_reach_the_notify_queue_only_from_the_stage_configuration_set() {
    let template = rendered("prod");
    let r = &template["Resources"];
    let set = &r["SesConfigurationSet"]["Properties"];
    assert_eq!(set["Name"], "one-backend-prod");
    let destination = &r["SesBounceAndComplaintEvents"]["Properties"]["EventDestination"];
    assert_eq!(
        destination["MatchingEventTypes"],
        yaml("[bounce, complaint]")
    );
    assert_eq!(
        destination["SnsDestination"]["TopicARN"]["Ref"],
        "SesEventsTopic"
    );
    let subscription = &r["SesEventsSubscription"]["Properties"];
    assert_eq!(
        subscription["Endpoint"]["Fn::GetAtt"],
        yaml("[NotifyQueue, Arn]")
    );
    assert!(
        subscription.get("RawMessageDelivery").is_none(),
        "the worker reads SNS envelopes"
    );
    let publish = &r["SesEventsTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(publish["Principal"]["Service"], "ses.amazonaws.com");
    assert_eq!(
        publish["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"],
        "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/one-backend-prod"
    );
    let deliver = &r["NotifyQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(deliver["Principal"]["Service"], "sns.amazonaws.com");
    assert_eq!(
        deliver["Condition"]["ArnEquals"]["aws:SourceArn"]["Ref"],
        "SesEventsTopic"
    );
}
