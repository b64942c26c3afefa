//! `obctl webhooks` against a deployed local stage: a subscription's secret is
//! shown once and signs; filters, state, rotation and removal are stored as
//! the worker reads them; bad input names the flag; deleting the app removes
//! its subscriptions.

#![allow(clippy::unwrap_used)]

use ob_core::webhooks::deliveries::{self, DeliveryState};
use ob_core::webhooks::queue::Work;
use ob_core::webhooks::send::Attempt;
use ob_core::webhooks::worker::Job;
use ob_core::webhooks::{EventType, SigningSecret, SubscriptionState, signing, store};
use ob_tests::emulator::emulator;
use ob_tests::obctl::obctl;

use crate::admin::{deploy_local, deployed_api, fails_with, json_run, ok};

#[tokio::test(flavor = "multi_thread")]
async fn subscriptions_from_add_to_app_deletion() {
    let emu = emulator().await;
    deploy_local(&emu, "webhooks");
    let (store, _) = deployed_api(&emu).await;
    json_run(&emu, &["apps", "create", "--name", "Shop", "--id", "shop"]);

    // add: the subscription with its secret, once.
    let added = json_run(
        &emu,
        &[
            "webhooks",
            "add",
            "--app",
            "shop",
            "--url",
            "http://127.0.0.1:9/hook",
            "--events",
            "data.created,auth.*",
            "--resource",
            "orders",
        ],
    );
    let id = added["subscriptionId"].as_str().unwrap().to_owned();
    let secret = SigningSecret::parse(added["secret"].as_str().unwrap()).unwrap();
    assert_eq!(added["action"], "added");
    assert_eq!(added["state"], "active");
    assert_eq!(added["resources"], serde_json::json!(["orders"]));
    assert_eq!(added["events"].as_array().unwrap().len(), 5);
    assert_eq!(added["secretFingerprint"], secret.fingerprint());

    // What the worker reads: filters and the very secret the operator was shown.
    let (sub, secrets) = store::get(&store, "shop", &id).await.unwrap();
    assert!(sub.matches(EventType::DataCreated, Some("orders")));
    assert!(!sub.matches(EventType::DataCreated, Some("notes")));
    assert!(!sub.matches(EventType::DataDeleted, Some("orders")));
    assert!(sub.matches(EventType::PasswordReset, None));
    let now = ob_core::clock::now_epoch();
    let header = signing::signature_header(&secrets.signing_at(now), "msg_1", now, b"{}");
    signing::verify(&secret, "msg_1", &now.to_string(), &header, b"{}", now).unwrap();

    // list: never the secret.
    let listed = json_run(&emu, &["webhooks", "list", "--app", "shop"]);
    let text = listed.to_string();
    assert!(!text.contains(secret.expose()), "{text}");
    assert_eq!(listed["subscriptions"][0]["subscriptionId"], id.as_str());

    // disable / enable.
    let disabled = json_run(&emu, &["webhooks", "disable", "--app", "shop", &id]);
    assert_eq!(disabled["state"], "disabled");
    let (sub, _) = store::get(&store, "shop", &id).await.unwrap();
    assert_eq!(sub.state, SubscriptionState::Disabled);
    assert!(!sub.matches(EventType::DataCreated, Some("orders")));
    let enabled = json_run(&emu, &["webhooks", "enable", "--app", "shop", &id]);
    assert_eq!(enabled["state"], "active");
    assert!(enabled.get("disabledReason").is_none());

    // rotate-secret: a new secret; during the grace both sign, so a receiver
    // still holding the old one verifies.
    let rotated = json_run(
        &emu,
        &[
            "webhooks",
            "rotate-secret",
            "--app",
            "shop",
            &id,
            "--grace",
            "1h",
        ],
    );
    let new_secret = SigningSecret::parse(rotated["secret"].as_str().unwrap()).unwrap();
    assert_ne!(new_secret, secret);
    let (_, secrets) = store::get(&store, "shop", &id).await.unwrap();
    let now = ob_core::clock::now_epoch();
    let signing_now = secrets.signing_at(now);
    assert_eq!(signing_now.len(), 2);
    let header = signing::signature_header(&signing_now, "msg_2", now, b"{}");
    for held in [&secret, &new_secret] {
        signing::verify(held, "msg_2", &now.to_string(), &header, b"{}", now).unwrap();
    }
    // After the grace only the new secret signs.
    assert_eq!(secrets.signing_at(now + 3601).len(), 1);

    // Bad input names the flag and the fix; nothing is written.
    fails_with(
        &obctl(
            &emu,
            &[
                "webhooks",
                "add",
                "--stage",
                "local",
                "--app",
                "shop",
                "--url",
                "https://10.0.0.7/hook",
                "--events",
                "data.created",
            ],
        ),
        &["--url", "10.0.0.7 is a private address"],
    );
    fails_with(
        &obctl(
            &emu,
            &[
                "webhooks",
                "add",
                "--stage",
                "local",
                "--app",
                "shop",
                "--url",
                "https://hooks.example.com/",
                "--events",
                "data.create",
            ],
        ),
        &[
            "--events",
            "unknown event type \"data.create\"",
            "data.created",
        ],
    );
    fails_with(
        &obctl(
            &emu,
            &[
                "webhooks", "disable", "--stage", "local", "--app", "shop", "wh_nope",
            ],
        ),
        &[
            "webhook subscription wh_nope not found",
            "obctl webhooks list",
        ],
    );
    assert_eq!(store::list(&store, "shop").await.unwrap().len(), 1);

    // deliveries: the log the worker writes, newest first; --failed keeps
    // what is retrying or failed for good.
    let ok_delivery = deliveries::create(&store, "shop", &id, "evt_ok", "data.created", "{}")
        .await
        .unwrap();
    let failing = deliveries::create(&store, "shop", &id, "evt_bad", "data.created", "{}")
        .await
        .unwrap();
    let attempt = |status: u16| Attempt {
        delivered: status < 300,
        status: Some(status),
        error: None,
        response_excerpt: format!("answer {status}"),
        duration_ms: 12,
        refused: false,
    };
    let now = ob_core::clock::now_epoch();
    deliveries::record_attempt(
        &store,
        "shop",
        &ok_delivery.delivery_id,
        now,
        &attempt(204),
        DeliveryState::Delivered,
        None,
    )
    .await
    .unwrap();
    deliveries::record_attempt(
        &store,
        "shop",
        &failing.delivery_id,
        now,
        &attempt(503),
        DeliveryState::Retrying,
        Some(now + 5),
    )
    .await
    .unwrap();
    let log = json_run(&emu, &["webhooks", "deliveries", "--app", "shop"]);
    let ids: Vec<&str> = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["deliveryId"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            failing.delivery_id.as_str(),
            ok_delivery.delivery_id.as_str()
        ]
    );
    let failed = json_run(
        &emu,
        &["webhooks", "deliveries", "--app", "shop", "--failed"],
    );
    let only = &failed["deliveries"][0];
    assert_eq!(failed["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(only["eventId"], "evt_bad");
    assert_eq!(only["state"], "retrying");
    assert_eq!(only["nextRetryAt"], now + 5);
    assert_eq!(only["attempts"][0]["status"], 503);
    assert_eq!(only["attempts"][0]["responseExcerpt"], "answer 503");
    assert!(only.get("body").is_none(), "the body is not listed");
    let text = obctl(
        &emu,
        &[
            "webhooks",
            "deliveries",
            "--stage",
            "local",
            "--app",
            "shop",
            "--failed",
        ],
    );
    ok(&text);
    assert!(
        text.stdout.contains("retrying") && text.stdout.contains("503 answer 503"),
        "{}",
        text.stdout
    );

    // redeliver: the same delivery queued again from attempt 1, through the webhook queue.
    let again = json_run(
        &emu,
        &[
            "webhooks",
            "redeliver",
            "--app",
            "shop",
            &failing.delivery_id,
        ],
    );
    assert_eq!(again["action"], "redelivered");
    assert_eq!(again["eventId"], "evt_bad");
    assert_eq!(again["subscriptionId"], id.as_str());
    let pending = deliveries::get(&store, "shop", &failing.delivery_id)
        .await
        .unwrap();
    assert_eq!(pending.state, DeliveryState::Pending);
    assert_eq!(pending.next_retry_at, None);
    let outputs = crate::admin::stack_outputs(&emu).await;
    let received = aws_sdk_sqs::Client::new(&emu.sdk_config().await)
        .receive_message()
        .queue_url(&outputs[ob_core::queues::WEBHOOK_DELIVERIES.output])
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let queued: Vec<Job> = received
        .messages()
        .iter()
        .filter_map(|m| Work::parse(m.body().unwrap_or_default()))
        .filter_map(|w| match w {
            Work::Attempt(job) => Some(job),
            Work::Event(_) => None,
        })
        .collect();
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(
        (queued[0].delivery_id.as_str(), queued[0].attempt),
        (failing.delivery_id.as_str(), 1)
    );
    fails_with(
        &obctl(
            &emu,
            &[
                "webhooks",
                "redeliver",
                "--stage",
                "local",
                "--app",
                "shop",
                "d_nope",
            ],
        ),
        &[
            "webhook delivery d_nope not found in app shop",
            "obctl webhooks deliveries --stage local --app shop",
        ],
    );
    json_run(&emu, &["webhooks", "disable", "--app", "shop", &id]);
    fails_with(
        &obctl(
            &emu,
            &[
                "webhooks",
                "redeliver",
                "--stage",
                "local",
                "--app",
                "shop",
                &ok_delivery.delivery_id,
            ],
        ),
        &["which is disabled", "obctl webhooks enable"],
    );
    json_run(&emu, &["webhooks", "enable", "--app", "shop", &id]);

    // remove.
    let removed = json_run(&emu, &["webhooks", "remove", "--app", "shop", &id]);
    assert_eq!(removed["action"], "removed");
    assert!(store::list(&store, "shop").await.unwrap().is_empty());

    // Deleting the app removes its subscriptions (and only its own).
    json_run(
        &emu,
        &["apps", "create", "--name", "Other", "--id", "other"],
    );
    for app in ["shop", "other"] {
        json_run(
            &emu,
            &[
                "webhooks",
                "add",
                "--app",
                app,
                "--url",
                "http://127.0.0.1:9/hook",
                "--events",
                "*",
            ],
        );
    }
    let refused = obctl(&emu, &["apps", "delete", "shop", "--stage", "local"]);
    fails_with(&refused, &["webhooks: 1"]);
    let deleted = obctl(
        &emu,
        &[
            "apps", "delete", "shop", "--stage", "local", "--force", "--yes", "--output", "json",
        ],
    );
    ok(&deleted);
    let report = deleted.json();
    let webhooks = report["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["store"] == "webhooks")
        .unwrap();
    assert_eq!(
        webhooks["count"], 3,
        "the subscription and the two logged deliveries"
    );
    assert!(store::list(&store, "shop").await.unwrap().is_empty());
    assert_eq!(store::list(&store, "other").await.unwrap().len(), 1);
}
