//! Telling an app's contact that one of its webhook subscriptions was disabled: a notification stored and queued for the notify function, as `POST /notify` does.

use ob_core::notify::{self, Channel, Envelope, Job, Notification, NotifyQueue, Recipient, Status};
use ob_core::webhooks::{DISABLE_AFTER_SECS, Subscription};
use ob_core::{Store, apps, clock};

/// Who a notification about a disabled subscription is from (`requested_by`).
pub const REQUESTED_BY: &str = "system:webhooks";

/// Stores and queues the e-mail to the app's contact; `Ok(None)` when the app has none.
pub async fn tell_contact(
    store: &Store,
    queue: &NotifyQueue,
    subscription: &Subscription,
) -> ob_core::Result<Option<Notification>> {
    let app_id = &subscription.app_id;
    let Some(app) = apps::get(store, app_id).await? else {
        return Ok(None);
    };
    let Some(contact) = app.contact else {
        tracing::warn!(app_id = %app_id, subscription = %subscription.subscription_id, "webhook subscription disabled; the app has no contact to tell");
        return Ok(None);
    };
    let now = clock::now_rfc3339();
    let days = DISABLE_AFTER_SECS / 86_400;
    let notification = Notification {
        id: uuid::Uuid::now_v7().to_string(),
        app_id: app_id.clone(),
        channel: Channel::Email,
        to: Recipient::Email(contact),
        status: Status::Queued,
        template: None,
        subject: format!(
            "Webhooks of {} to {} are disabled",
            app.name, subscription.url
        ),
        text: Some(format!(
            "Every delivery to {url} (webhook subscription {id} of the app {name}) has failed for {days} days, \
             so One Backend stopped sending events to it ({reason}).\n\n\
             Once the endpoint answers 2xx again, an operator can resume deliveries with\n\
             obctl webhooks enable --app {app_id} {id}\n\
             and replay what it missed from `obctl webhooks deliveries --app {app_id} --failed` with\n\
             obctl webhooks redeliver --app {app_id} DELIVERY_ID\n",
            url = subscription.url,
            id = subscription.subscription_id,
            name = app.name,
            reason = subscription.disabled_reason.as_deref().unwrap_or("failing"),
        )),
        html: None,
        provider_message_id: None,
        error: None,
        requested_by: REQUESTED_BY.to_owned(),
        created_at: now.clone(),
        updated_at: now,
    };
    notify::store::create_all(store, std::slice::from_ref(&notification)).await?;
    let job = Job::Notification {
        app_id: app_id.clone(),
        notification_id: notification.id.clone(),
    };
    queue.send(&Envelope::new(job, None)).await?;
    Ok(Some(notification))
}
