//! The notify worker's failures and SES's feedback on the emulator: a failing send is retried by the queue and then dead-lettered; a bounce from SES (through SNS into the queue) suppresses the address for its app.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use axum::http::StatusCode;
use ob_core::clock;
use ob_core::notify::store::{self, Outcome};
use ob_core::notify::suppression;
use ob_core::notify::{Channel, Envelope, Job, Notification, NotifyQueue, Recipient, Status};
use ob_tests::fixtures::{Api, Call};
use obctl::live::LocalHub;
use serde_json::json;

use crate::notify_support::{self, drain, mapping, outbox, poll_once, verify_sender};

fn queued(app_id: &str, to: &str) -> Notification {
    let now = clock::now_rfc3339();
    Notification {
        id: uuid::Uuid::now_v7().to_string(),
        app_id: app_id.into(),
        channel: Channel::Email,
        to: Recipient::Email(to.into()),
        status: Status::Queued,
        template: None,
        subject: "Hello".into(),
        text: Some("Hello".into()),
        html: None,
        provider_message_id: None,
        error: None,
        requested_by: "operator:test".into(),
        created_at: now.clone(),
        updated_at: now,
    }
}

#[tokio::test]
async fn a_failing_send_is_retried_then_dead_lettered_and_the_record_stays_queued() {
    let api = Api::start().await;
    api.app("shop").await;
    let sqs = aws_sdk_sqs::Client::new(&api.sdk);
    // A queue like NotifyQueue, with a 1-second visibility timeout so retries come quickly.
    let (_, queue, dlq) = crate::local_mapping::queue_with_dead_letters(&sqs, "retry-work").await;

    // SES unreachable: the kind of failure another attempt can fix.
    let dead_ses = aws_sdk_sesv2::config::Builder::from(&api.sdk)
        .endpoint_url("http://127.0.0.1:9")
        .retry_config(aws_sdk_sesv2::config::retry::RetryConfig::disabled())
        .build();
    let worker = notify_support::worker_with_ses(
        &api,
        LocalHub::default(),
        aws_sdk_sesv2::Client::from_conf(dead_ses),
    );
    let notification = queued("shop", "ann@example.com");
    store::create_all(&api.store, std::slice::from_ref(&notification))
        .await
        .expect("stored");
    let job = Job::Notification {
        app_id: "shop".into(),
        notification_id: notification.id.clone(),
    };
    NotifyQueue::new(sqs.clone(), &queue)
        .send(&Envelope::new(job, None))
        .await
        .expect("enqueued");
    // And a body no worker understands.
    sqs.send_message()
        .queue_url(&queue)
        .message_body("{\"hello\": 1}")
        .send()
        .await
        .expect("sent");

    let mut mapping = mapping(&api, &queue);
    let mut receives = 0;
    for _ in 0..10 {
        let report = poll_once(&mut mapping, &worker).await;
        assert_eq!(report.deleted, 0, "nothing succeeds");
        receives += report.received;
        if receives >= 4 && report.received == 0 {
            break;
        }
        // Past the visibility timeout: the next receive sees what failed.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert_eq!(
        receives, 4,
        "each message is received twice (maxReceiveCount 2)"
    );
    let dead = sqs
        .receive_message()
        .queue_url(&dlq)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("dlq readable")
        .messages
        .unwrap_or_default();
    assert_eq!(dead.len(), 2, "both end in the dead-letter queue");
    assert!(
        dead.iter()
            .any(|m| m.body().is_some_and(|b| b.contains(&notification.id)))
    );
    let record = store::get(&api.store, "shop", &notification.id)
        .await
        .unwrap()
        .expect("record");
    assert_eq!(
        record.status,
        Status::Queued,
        "a dead-lettered job can be redriven and sent"
    );
}

#[tokio::test]
async fn a_bounce_suppresses_the_address_for_its_app_until_cleared() {
    let api = Api::start().await;
    verify_sender(&api).await;
    let worker = notify_support::worker(&api, LocalHub::default());
    api.app("shop").await;
    api.app("other").await;
    let server = api.key("shop", &["notify"]).await.secret;
    let send = |to: &str| {
        Call::post("/notify/shop")
            .key(&server)
            .json(&json!({"channel": "email", "to": [{"email": to}], "message": {"subject": "Hi", "text": "Hello"}}))
    };
    let first = api
        .send(send("gone@example.com"))
        .await
        .expect(StatusCode::ACCEPTED);
    let id = first.body["notifications"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    drain(&api, &worker).await;
    let sent = store::get(&api.store, "shop", &id)
        .await
        .unwrap()
        .expect("record");
    assert_eq!(sent.status, Status::Sent);

    // SES publishes the bounce to the stack's events topic, which delivers
    // into the notify queue (as the template wires SesEventsTopic).
    let sns = aws_sdk_sns::Client::new(&api.sdk);
    let topic = sns
        .create_topic()
        .name("ses-events")
        .send()
        .await
        .expect("topic")
        .topic_arn
        .expect("arn");
    let queue_url = &api.queues[ob_core::queues::NOTIFY.logical_id];
    let queue_arn = aws_sdk_sqs::Client::new(&api.sdk)
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attributes")
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .expect("arn");
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .expect("subscribed");
    let bounce = json!({
        "eventType": "Bounce",
        "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
                   "bouncedRecipients": [{"emailAddress": "Gone@Example.com", "action": "failed", "status": "5.1.1",
                                          "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
                   "timestamp": "2027-01-05T10:00:00.000Z", "feedbackId": "0100-feedback"},
        "mail": {"timestamp": "2027-01-05T09:59:58.000Z", "source": "no-reply@test.example",
                 "messageId": sent.provider_message_id, "destination": ["gone@example.com"],
                 "tags": {"ses:configuration-set": ["test-set"], "appId": ["shop"], "notificationId": [id]}}
    });
    sns.publish()
        .topic_arn(&topic)
        .message(bounce.to_string())
        .send()
        .await
        .expect("published");
    let report = drain(&api, &worker).await;
    assert_eq!((report.received, report.deleted), (1, 1));

    let list = suppression::list(&api.store, "shop").await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].address, "gone@example.com");
    assert_eq!(list[0].detail, "permanent bounce (General)");
    assert!(
        suppression::list(&api.store, "other")
            .await
            .unwrap()
            .is_empty(),
        "per app"
    );
    let bounced = store::get(&api.store, "shop", &id)
        .await
        .unwrap()
        .expect("record");
    assert_eq!(bounced.status, Status::Failed);
    assert!(
        bounced
            .error
            .unwrap_or_default()
            .contains("permanent bounce")
    );
    assert!(
        api.audit("shop")
            .await
            .iter()
            .any(|e| e.action == "notify.suppress" && e.actor == "system:ses")
    );

    let mails_before = outbox(&api).await.len();
    let second = api
        .send(send("gone@example.com"))
        .await
        .expect(StatusCode::ACCEPTED);
    drain(&api, &worker).await;
    let id = second.body["notifications"][0]["id"].as_str().expect("id");
    let shown = api
        .send(Call::get(&format!("/notify/shop/{id}")).key(&server))
        .await
        .expect(StatusCode::OK);
    assert_eq!(shown.body["status"], "suppressed");
    assert_eq!(
        outbox(&api).await.len(),
        mails_before,
        "nothing sent to a suppressed address"
    );

    suppression::clear(&api.store, "shop", "GONE@example.com")
        .await
        .expect("cleared");
    let third = api
        .send(send("gone@example.com"))
        .await
        .expect(StatusCode::ACCEPTED);
    drain(&api, &worker).await;
    let id = third.body["notifications"][0]["id"].as_str().expect("id");
    assert_eq!(
        store::get(&api.store, "shop", id)
            .await
            .unwrap()
            .expect("record")
            .status,
        Status::Sent
    );
    assert!(matches!(
        suppression::clear(&api.store, "shop", "gone@example.com").await,
        Err(ob_core::Error::NotFound(_))
    ));
    // A settled record is never sent twice, even if its job comes back.
    let outcome = Outcome {
        status: Status::Sent,
        provider_message_id: None,
        error: None,
    };
    store::settle(&api.store, "shop", id, &outcome)
        .await
        .unwrap();
    assert!(
        store::claim(&api.store, "shop", id)
            .await
            .unwrap()
            .is_none()
    );
}
