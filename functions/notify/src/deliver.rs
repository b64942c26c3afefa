//! One notification an app sent: claimed, sent on its channel (unless its address is suppressed), then settled.

use ob_core::clock;
use ob_core::notify::store::{self, Outcome};
use ob_core::notify::{Channel, Notification, Recipient, Status, suppression};
use ob_core::realtime::{self, Push};
use ob_core::users;
use serde_json::json;

use crate::Worker;
use crate::account::active_app;
use crate::send::{Failure, Tag};

/// How an attempt ended, when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Settled {
    status: Status,
    provider_message_id: Option<String>,
    error: Option<String>,
}

impl Settled {
    fn sent(provider_message_id: Option<String>) -> Self {
        Self {
            status: Status::Sent,
            provider_message_id,
            error: None,
        }
    }
}

/// Delivers the notification `id` of `app_id` once. A duplicate job, or one
/// whose notification another attempt is sending, does nothing.
pub async fn notification<P: Push>(
    worker: &Worker<P>,
    app_id: &str,
    id: &str,
) -> Result<(), Failure> {
    let Some(notification) = store::claim(&worker.store, app_id, id).await? else {
        tracing::info!(
            app_id,
            notification_id = id,
            "already settled or being sent: nothing to do"
        );
        return Ok(());
    };
    let attempt = if active_app(worker, app_id).await?.is_none() {
        Err(Failure::Permanent("the app is suspended or deleted".into()))
    } else {
        match notification.channel {
            Channel::Email => email(worker, &notification).await,
            Channel::Sms => sms(worker, &notification).await,
            Channel::Realtime => push(worker, &notification).await,
        }
    };
    let settled = match attempt {
        Ok(settled) => settled,
        Err(Failure::Permanent(why)) => Settled {
            status: Status::Failed,
            provider_message_id: None,
            error: Some(why),
        },
        Err(Failure::Retry(why)) => {
            store::release(&worker.store, app_id, id, &why).await?;
            return Err(Failure::Retry(why));
        }
    };
    let outcome = Outcome {
        status: settled.status,
        provider_message_id: settled.provider_message_id.as_deref(),
        error: settled.error.as_deref(),
    };
    store::settle(&worker.store, app_id, id, &outcome).await?;
    tracing::info!(
        app_id,
        notification_id = id,
        channel = notification.channel.as_str(),
        status = settled.status.as_str(),
        provider_message_id = settled.provider_message_id.as_deref().unwrap_or_default(),
        "notification settled"
    );
    Ok(())
}

async fn email<P: Push>(worker: &Worker<P>, n: &Notification) -> Result<Settled, Failure> {
    let address = match &n.to {
        Recipient::Email(address) => address.clone(),
        Recipient::UserId(user_id) => users::get(&worker.store, &n.app_id, user_id)
            .await?
            .map(|record| record.user.email)
            .ok_or_else(|| Failure::Permanent(format!("the app has no user {user_id}")))?,
        Recipient::Phone(_) => {
            return Err(Failure::Permanent(
                "a phone number cannot receive e-mail".into(),
            ));
        }
    };
    if let Some(entry) = suppression::find(&worker.store, &n.app_id, &address).await? {
        return Ok(Settled {
            status: Status::Suppressed,
            provider_message_id: None,
            error: Some(format!(
                "{address} is on the app's suppression list ({} on {}); an operator clears it with `obctl notify suppressions clear`",
                entry.reason.as_str(),
                entry.suppressed_at
            )),
        });
    }
    let tags = [
        Tag {
            name: "appId",
            value: &n.app_id,
        },
        Tag {
            name: "kind",
            value: "notification",
        },
        Tag {
            name: "notificationId",
            value: &n.id,
        },
    ];
    let message_id = worker.mailer.send(&address, &n.content(), &tags).await?;
    Ok(Settled::sent(Some(message_id)))
}

async fn sms<P: Push>(worker: &Worker<P>, n: &Notification) -> Result<Settled, Failure> {
    let Some(texter) = &worker.texter else {
        return Err(Failure::Permanent(
            "SMS is off on this stage (notifications.sms in its stage file)".into(),
        ));
    };
    let Recipient::Phone(number) = &n.to else {
        return Err(Failure::Permanent("SMS goes to phone numbers only".into()));
    };
    let content = n.content();
    let text = content.text.unwrap_or(content.subject);
    let message_id = texter.send(number, &text).await?;
    Ok(Settled::sent(Some(message_id)))
}

async fn push<P: Push>(worker: &Worker<P>, n: &Notification) -> Result<Settled, Failure> {
    let Recipient::UserId(user_id) = &n.to else {
        return Err(Failure::Permanent(
            "realtime notifications go to user ids only".into(),
        ));
    };
    let content = n.content();
    let message = json!({
        "type": "notification",
        "id": n.id,
        "subject": content.subject,
        "text": content.text,
        "sentAt": clock::now_rfc3339(),
    })
    .to_string();
    let report =
        realtime::push_to_user(&worker.store, &worker.push, &n.app_id, user_id, &message).await?;
    if report.delivered > 0 {
        Ok(Settled::sent(None))
    } else if report.failed > 0 {
        Err(Failure::Retry(format!(
            "no push reached the user's {} open connection(s)",
            report.failed
        )))
    } else {
        Err(Failure::Permanent(
            "the user has no open WebSocket connection".into(),
        ))
    }
}
