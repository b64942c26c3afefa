//! `obctl webhooks redeliver`: a logged delivery queued again from its first attempt, with the same body and `webhook-id`.

use std::fmt;

use ob_core::clock;
use ob_core::webhooks::deliveries;
use ob_core::webhooks::queue::{WebhookQueue, Work};
use ob_core::webhooks::{SubscriptionState, store, worker};
use serde::Serialize;

use super::args::RedeliverArgs;
use super::connect;
use crate::error::{CliError, Result};
use crate::project::Project;

/// What `redeliver` queued.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Redelivery {
    pub action: &'static str,
    pub app_id: String,
    pub delivery_id: String,
    pub subscription_id: String,
    /// The `webhook-id` the receiver sees again.
    pub event_id: String,
    pub event_type: String,
    pub state: &'static str,
}

impl fmt::Display for Redelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "queued delivery {} again: event {} ({}) to subscription {}, same body and webhook-id; \
             `obctl webhooks deliveries --app {}` shows the attempts",
            self.delivery_id, self.event_id, self.event_type, self.subscription_id, self.app_id
        )
    }
}

pub async fn run(args: &RedeliverArgs, project: &Project) -> Result<Redelivery> {
    let ctx = connect(&args.app, project).await?;
    let app = &args.app.app;
    let stage = &ctx.stage.name;
    let id = &args.delivery_id;
    let delivery = deliveries::get(&ctx.store, app, id)
        .await
        .map_err(|e| match e {
            ob_core::Error::NotFound(_) => CliError::new(format!(
                "DELIVERY_ID: webhook delivery {id} not found in app {app} (the log keeps 14 days)"
            ))
            .fix(format!(
                "give an id from `obctl webhooks deliveries --stage {stage} --app {app}`"
            )),
            other => ctx.core_error("read the delivery", app, other),
        })?;
    let sub = &delivery.subscription_id;
    match store::get(&ctx.store, app, sub).await {
        Ok((subscription, _)) if subscription.state == SubscriptionState::Active => {}
        Ok(_) => {
            return Err(CliError::new(format!(
                "delivery {id} belongs to subscription {sub}, which is disabled: nothing would be sent"
            ))
            .fix(format!(
                "enable it first: `obctl webhooks enable --stage {stage} --app {app} {sub}`"
            )));
        }
        Err(ob_core::Error::NotFound(_)) => {
            return Err(CliError::new(format!(
                "delivery {id} belongs to subscription {sub}, which was removed"
            ))
            .fix(format!(
                "add the endpoint again (`obctl webhooks add --stage {stage} --app {app} …`); new events go to it"
            )));
        }
        Err(other) => return Err(ctx.core_error("read the subscription", app, other)),
    }
    let queue_url = ctx
        .outputs
        .get(ob_core::queues::WEBHOOK_DELIVERIES.output)
        .cloned()
        .ok_or_else(|| {
            CliError::new(format!("stage {stage} has no webhook queue")).fix(format!(
                "deploy the stage again: `obctl deploy --stage {stage}`"
            ))
        })?;
    let job = worker::redeliver(&ctx.store, app, id, clock::now_epoch())
        .await
        .map_err(|e| ctx.core_error("reset the delivery", app, e))?;
    WebhookQueue::new(ctx.aws.sqs(), queue_url)
        .send(&Work::Attempt(job), 0)
        .await
        .map_err(|e| ctx.core_error("queue the delivery", app, e))?;
    ctx.audit(
        app,
        "webhook.redeliver",
        &format!("webhook-delivery:{id}"),
        vec![],
    )
    .await?;
    Ok(Redelivery {
        action: "redelivered",
        app_id: app.clone(),
        delivery_id: delivery.delivery_id,
        subscription_id: delivery.subscription_id,
        event_id: delivery.event_id,
        event_type: delivery.event_type,
        state: deliveries::DeliveryState::Pending.as_str(),
    })
}
