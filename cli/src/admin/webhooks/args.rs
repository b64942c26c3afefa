//! Command-line arguments of `obctl webhooks`.

use clap::{Args, Subcommand};

use crate::admin::args::AdminTarget;

#[derive(Debug, Args)]
pub struct WebhooksArgs {
    #[command(subcommand)]
    pub command: WebhooksCommand,
}

/// The app a command works on.
#[derive(Debug, Args)]
pub struct AppTarget {
    #[command(flatten)]
    pub target: AdminTarget,
    /// App id
    #[arg(long)]
    pub app: String,
}

/// One subscription of an app.
#[derive(Debug, Args)]
pub struct SubscriptionRef {
    #[command(flatten)]
    pub app: AppTarget,
    /// Subscription id (from `obctl webhooks list`)
    pub subscription_id: String,
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Subscribe an endpoint to events (prints its signing secret once)
    Add(AddArgs),
    /// List an app's subscriptions (never their secrets)
    List(AppTarget),
    /// Stop delivering to a subscription
    Disable(SubscriptionRef),
    /// Deliver to a disabled subscription again (its failure record is cleared)
    Enable(SubscriptionRef),
    /// Issue a new signing secret; the old one also signs until the grace period ends
    RotateSecret {
        #[command(flatten)]
        subscription: SubscriptionRef,
        /// How long the old secret keeps signing (e.g. 1h, 7d; default 24h)
        #[arg(long, value_name = "DURATION")]
        grace: Option<String>,
    },
    /// Delete a subscription
    Remove(SubscriptionRef),
    /// Show an app's delivery log, newest first: attempts, status codes, response excerpts, next retry
    Deliveries {
        #[command(flatten)]
        app: AppTarget,
        /// Only deliveries that are retrying or failed for good
        #[arg(long)]
        failed: bool,
        /// At most this many deliveries
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: u16,
    },
    /// Queue a logged delivery again (same body and webhook-id, a fresh retry schedule)
    Redeliver(RedeliverArgs),
}

#[derive(Debug, Args)]
pub struct RedeliverArgs {
    #[command(flatten)]
    pub app: AppTarget,
    /// Delivery id (from `obctl webhooks deliveries`)
    pub delivery_id: String,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    #[command(flatten)]
    pub app: AppTarget,
    /// Endpoint to POST events to (https://…; http://127.0.0.1 on stages that allow local targets)
    #[arg(long)]
    pub url: String,
    /// Event types, comma-separated: data.created, data.updated, data.deleted,
    /// auth.user.created, auth.user.disabled, auth.user.deleted,
    /// auth.password.reset (or data.*, auth.*, *)
    #[arg(long, value_name = "TYPES", required = true)]
    pub events: Vec<String>,
    /// Only data events of this resource (repeatable; default every resource)
    #[arg(long = "resource", value_name = "NAME")]
    pub resources: Vec<String>,
}
