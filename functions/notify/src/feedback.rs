//! SES bounce and complaint events (configuration-set event publishing, through SNS) feeding each app's suppression list.
//!
//! Every e-mail carries the tags `appId` (and `notificationId` for app
//! notifications), and SES copies a message's tags into its events: that is
//! how an event finds its app. A permanent bounce or a complaint suppresses
//! the address for that app; transient bounces (a full mailbox) do not.

use ob_core::audit::{self, Actor, NewEntry};
use ob_core::clock;
use ob_core::notify::store;
use ob_core::notify::suppression::{self, Reason, Suppression};
use ob_core::users::normalize_email;
use serde_json::Value;

use crate::Worker;

/// What an event asks of the suppression list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Returned {
    pub app_id: String,
    pub notification_id: Option<String>,
    pub provider_message_id: Option<String>,
    pub reason: Reason,
    pub detail: String,
    pub addresses: Vec<String>,
    pub at: String,
}

fn tag<'a>(mail: &'a Value, name: &str) -> Option<&'a str> {
    mail["tags"][name][0].as_str().filter(|v| !v.is_empty())
}

fn addresses(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|r| r["emailAddress"].as_str())
                .filter_map(|a| normalize_email(a).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Reads an event; `None` for events that suppress nothing (deliveries,
/// transient bounces, events of mail without an app tag).
pub fn read(event: &Value) -> Option<Returned> {
    let kind = event["eventType"]
        .as_str()
        .or_else(|| event["notificationType"].as_str())?;
    let mail = &event["mail"];
    let (reason, detail, addresses, at) = match kind {
        "Bounce" => {
            let bounce = &event["bounce"];
            if bounce["bounceType"].as_str() != Some("Permanent") {
                return None;
            }
            let detail = format!(
                "permanent bounce ({})",
                bounce["bounceSubType"].as_str().unwrap_or("General")
            );
            (
                Reason::Bounce,
                detail,
                addresses(&bounce["bouncedRecipients"]),
                &bounce["timestamp"],
            )
        }
        "Complaint" => {
            let complaint = &event["complaint"];
            let detail = format!(
                "complaint ({})",
                complaint["complaintFeedbackType"]
                    .as_str()
                    .unwrap_or("unspecified")
            );
            (
                Reason::Complaint,
                detail,
                addresses(&complaint["complainedRecipients"]),
                &complaint["timestamp"],
            )
        }
        _ => return None,
    };
    Some(Returned {
        app_id: tag(mail, "appId")?.to_owned(),
        notification_id: tag(mail, "notificationId").map(str::to_owned),
        provider_message_id: mail["messageId"].as_str().map(str::to_owned),
        reason,
        detail,
        addresses,
        at: at
            .as_str()
            .and_then(clock::parse_rfc3339)
            .map_or_else(clock::now_rfc3339, clock::epoch_to_rfc3339),
    })
}

/// Applies one event: suppresses its addresses for its app, marks its
/// notification failed, and audits each suppression.
pub async fn apply<P>(worker: &Worker<P>, event: &Value) -> ob_core::Result<()> {
    let Some(returned) = read(event) else {
        tracing::info!(
            event_type = event["eventType"].as_str().unwrap_or("?"),
            "SES event suppresses nothing"
        );
        return Ok(());
    };
    for address in &returned.addresses {
        let entry = Suppression {
            app_id: returned.app_id.clone(),
            address: address.clone(),
            reason: returned.reason,
            detail: returned.detail.clone(),
            provider_message_id: returned.provider_message_id.clone(),
            suppressed_at: returned.at.clone(),
        };
        suppression::suppress(&worker.store, &entry).await?;
        let audit_entry = NewEntry {
            app_id: returned.app_id.clone(),
            actor: Actor::System("ses"),
            action: "notify.suppress".into(),
            target: format!("email:{address}"),
            changed_fields: vec![returned.reason.as_str().to_owned()],
            origin: Default::default(),
        };
        if let Err(err) = audit::record(
            &worker.store,
            audit_entry,
            worker.settings.audit_retention_days,
        )
        .await
        {
            tracing::error!(error = %err, "could not write audit entry");
        }
        tracing::info!(app_id = %returned.app_id, reason = returned.reason.as_str(), "address suppressed");
    }
    if let Some(id) = &returned.notification_id {
        let why = format!("{} after sending", returned.detail);
        store::mark_returned(&worker.store, &returned.app_id, id, &why).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bounce event as SES's configuration-set event publishing sends it
    /// (from the SES developer guide's examples, with our tags).
    const BOUNCE: &str = r#"{
      "eventType": "Bounce",
      "bounce": {
        "bounceType": "Permanent", "bounceSubType": "General",
        "bouncedRecipients": [{"emailAddress": "Recipient@Example.com", "action": "failed",
                               "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
        "timestamp": "2017-08-05T00:41:02.669Z",
        "feedbackId": "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000",
        "reportingMTA": "dsn; mta.example.com"
      },
      "mail": {
        "timestamp": "2017-08-05T00:40:02.012Z", "source": "Sender Name <sender@example.com>",
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/sender@example.com",
        "sendingAccountId": "123456789012", "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
        "destination": ["recipient@example.com"], "headersTruncated": false,
        "tags": {"ses:configuration-set": ["ConfigSet"], "appId": ["shop"], "notificationId": ["n1"]}
      }
    }"#;

    #[test]
    fn permanent_bounces_and_complaints_suppress_their_addresses() {
        let bounce: Value = serde_json::from_str(BOUNCE).unwrap();
        let returned = read(&bounce).unwrap();
        assert_eq!(returned.app_id, "shop");
        assert_eq!(returned.addresses, ["recipient@example.com"]);
        assert_eq!(returned.reason, Reason::Bounce);
        assert_eq!(returned.notification_id.as_deref(), Some("n1"));
        assert_eq!(returned.at, "2017-08-05T00:41:02.000Z");

        let mut transient = bounce;
        transient["bounce"]["bounceType"] = "Transient".into();
        assert_eq!(read(&transient), None);

        let complaint = serde_json::json!({
            "eventType": "Complaint",
            "complaint": {"complainedRecipients": [{"emailAddress": "x@example.com"}],
                          "complaintFeedbackType": "abuse", "timestamp": "2017-08-05T00:41:02.669Z"},
            "mail": {"messageId": "m", "tags": {"appId": ["shop"]}}
        });
        let returned = read(&complaint).unwrap();
        assert_eq!(
            (returned.reason, returned.detail.as_str()),
            (Reason::Complaint, "complaint (abuse)")
        );

        let untagged =
            serde_json::json!({"eventType": "Complaint", "complaint": {}, "mail": {"tags": {}}});
        assert_eq!(
            read(&untagged),
            None,
            "mail sent without our tags has no app"
        );
        let delivery =
            serde_json::json!({"eventType": "Delivery", "mail": {"tags": {"appId": ["shop"]}}});
        assert_eq!(read(&delivery), None);
    }
}
