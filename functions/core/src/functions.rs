//! Every Lambda function of the stack, defined once: its crate, the routes it serves, the variables it reads, the tables it touches and what feeds it.
//!
//! `obctl` renders and builds from this list, each function's `main` reads its
//! settings through `env::FunctionEnv::load(&THIS)`, `obctl dev` runs it, and
//! the tests hold the templates to it (routes, environment, IAM). A new function
//! is one entry here, its crate under `functions/`, and `templates/functions/<name>.yaml`.

use crate::env::{self, EnvVar};
use crate::queues::{self, QueueDef};
use crate::tables::{self, TableDef};

/// One function of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionDef {
    /// Short name: `{{fn.name}}` in templates, `<stack>-<name>` deployed.
    pub name: &'static str,
    /// Cargo package and binary (`functions/<name>/`).
    pub package: &'static str,
    /// HTTP API route keys it serves, exactly as the template declares them.
    pub http_routes: &'static [&'static str],
    /// WebSocket API route keys it serves.
    pub websocket_routes: &'static [&'static str],
    /// Tables it reads or writes; it receives each one's name in `TableDef::env_var`.
    pub tables: &'static [&'static TableDef],
    /// Queues it sends to; it receives each one's URL in `QueueDef::env_var`.
    pub queues: &'static [&'static QueueDef],
    /// Every other variable it reads.
    pub env: &'static [EnvVar],
    /// Event source mappings that invoke it.
    pub event_sources: &'static [EventSourceDef],
}

/// An `AWS::Lambda::EventSourceMapping` feeding a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventSourceDef {
    /// Logical id of the mapping in the template.
    pub logical_id: &'static str,
    pub source: EventSource,
}

/// Where a mapping's records come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSource {
    /// The table's DynamoDB stream (`!GetAtt <Table>.StreamArn`).
    TableStream(&'static TableDef),
    /// An SQS queue (`!GetAtt <Queue>.Arn`); the function answers with batch item failures.
    Queue(&'static QueueDef),
}

impl FunctionDef {
    /// `Auth` for `auth`: the prefix of the function's logical ids (`AuthFunction`, `AuthRole`).
    pub fn resource_prefix(&self) -> String {
        let mut chars = self.name.chars();
        chars
            .next()
            .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
            .unwrap_or_default()
    }

    /// Logical id of the `AWS::Lambda::Function`.
    pub fn logical_id(&self) -> String {
        format!("{}Function", self.resource_prefix())
    }

    /// Whether API Gateway's HTTP API invokes it (and so its 30-second limit applies).
    pub fn serves_http(&self) -> bool {
        !self.http_routes.is_empty()
    }

    /// Whether it identifies callers by API key and access token (it serves
    /// routes), and so reads the API keys and the signing key
    /// (`templates/caller-identity.yaml`).
    pub fn identifies_callers(&self) -> bool {
        self.serves_http() || !self.websocket_routes.is_empty()
    }

    /// Every variable it reads: its own, then one per table, then one per queue.
    pub fn env_vars(&self) -> impl Iterator<Item = EnvVar> + '_ {
        self.env
            .iter()
            .copied()
            .chain(self.tables.iter().map(|table| EnvVar::table(table)))
            .chain(self.queues.iter().map(|queue| EnvVar::queue(queue)))
    }

    /// Looks a function up by name.
    pub fn by_name(name: &str) -> Option<&'static FunctionDef> {
        ALL.iter().find(|f| f.name == name)
    }
}

/// What every function behind the HTTP API reads (`ob_api::Settings`, audit,
/// CORS, request limits).
const HTTP_ENV: [EnvVar; 8] = [
    env::STAGE,
    env::RUST_LOG,
    env::METRICS_PER_APP_ROUTES,
    env::SIGNING_KEY_SECRET_ARN,
    env::CORS_ORIGINS,
    env::AUDIT_RETENTION_DAYS,
    env::APP_REQUESTS_PER_MINUTE,
    env::CLIENT_REQUESTS_PER_MINUTE,
];

/// Register, login, refresh, logout, me.
pub const AUTH: FunctionDef = FunctionDef {
    name: "auth",
    package: "ob-auth",
    http_routes: &["ANY /auth/{proxy+}"],
    websocket_routes: &[],
    tables: &[
        &tables::APPS,
        &tables::CONFIG,
        &tables::API_KEYS,
        &tables::AUDIT,
        &tables::USERS,
        &tables::SESSIONS,
        &tables::LIMITS,
    ],
    // Account e-mails; auth events for the app's webhooks.
    queues: &[&queues::NOTIFY, &queues::WEBHOOK_DELIVERIES],
    env: &[
        env::STAGE,
        env::RUST_LOG,
        env::METRICS_PER_APP_ROUTES,
        env::SIGNING_KEY_SECRET_ARN,
        env::CORS_ORIGINS,
        env::AUDIT_RETENTION_DAYS,
        env::APP_REQUESTS_PER_MINUTE,
        env::CLIENT_REQUESTS_PER_MINUTE,
        env::BCRYPT_COST,
        env::ACCESS_TOKEN_TTL_SECONDS,
        env::REFRESH_TOKEN_TTL_SECONDS,
        env::SESSION_MAX_SECONDS,
    ],
    event_sources: &[],
};

/// Generic records.
pub const DATA: FunctionDef = FunctionDef {
    name: "data",
    package: "ob-data",
    http_routes: &[
        "ANY /api/{appId}/{resource}",
        "ANY /api/{appId}/{resource}/{id}",
    ],
    websocket_routes: &[],
    tables: &[
        &tables::APPS,
        &tables::CONFIG,
        &tables::API_KEYS,
        &tables::AUDIT,
        &tables::DATA,
        &tables::LIMITS,
        &tables::USERS,
    ],
    queues: &[],
    env: &HTTP_ENV,
    event_sources: &[],
};

/// Presigned URLs, deletes and listings.
pub const FILES: FunctionDef = FunctionDef {
    name: "files",
    package: "ob-files",
    http_routes: &["ANY /files/{appId}/{proxy+}"],
    websocket_routes: &[],
    tables: &[
        &tables::APPS,
        &tables::CONFIG,
        &tables::API_KEYS,
        &tables::AUDIT,
        &tables::FILES,
        &tables::LIMITS,
        &tables::USERS,
    ],
    queues: &[],
    env: &[
        env::STAGE,
        env::RUST_LOG,
        env::METRICS_PER_APP_ROUTES,
        env::SIGNING_KEY_SECRET_ARN,
        env::CORS_ORIGINS,
        env::AUDIT_RETENTION_DAYS,
        env::APP_REQUESTS_PER_MINUTE,
        env::CLIENT_REQUESTS_PER_MINUTE,
        env::FILES_BUCKET,
        env::MAX_UPLOAD_BYTES,
        env::URL_EXPIRY_SECONDS,
    ],
    event_sources: &[],
};

/// Per-app config, notifications an app sends, key verification, health and the OpenAPI document.
pub const ADMIN: FunctionDef = FunctionDef {
    name: "admin",
    package: "ob-admin",
    http_routes: &[
        "ANY /config/{appId}",
        "ANY /notify/{appId}",
        "ANY /notify/{appId}/{id}",
        "ANY /verify-key",
        "GET /health",
        "GET /openapi.json",
    ],
    websocket_routes: &[],
    tables: &[
        &tables::APPS,
        &tables::CONFIG,
        &tables::API_KEYS,
        &tables::AUDIT,
        &tables::LIMITS,
        &tables::USERS,
        &tables::NOTIFICATIONS,
    ],
    queues: &[&queues::NOTIFY],
    env: &[
        env::STAGE,
        env::RUST_LOG,
        env::METRICS_PER_APP_ROUTES,
        env::SIGNING_KEY_SECRET_ARN,
        env::CORS_ORIGINS,
        env::AUDIT_RETENTION_DAYS,
        env::APP_REQUESTS_PER_MINUTE,
        env::CLIENT_REQUESTS_PER_MINUTE,
        env::SMS_ENABLED,
        env::EMAIL_DAILY_QUOTA,
        env::SMS_DAILY_QUOTA,
    ],
    event_sources: &[],
};

/// WebSocket routes and the fan-out of data-table changes.
pub const REALTIME: FunctionDef = FunctionDef {
    name: "realtime",
    package: "ob-realtime",
    http_routes: &[],
    websocket_routes: &["$connect", "$disconnect", "$default", "sendMessage"],
    tables: &[
        &tables::APPS,
        &tables::CONFIG,
        &tables::API_KEYS,
        &tables::USERS,
        &tables::CONNECTIONS,
        &tables::DATA,
    ],
    queues: &[],
    env: &[
        env::STAGE,
        env::RUST_LOG,
        env::METRICS_PER_APP_ROUTES,
        env::SIGNING_KEY_SECRET_ARN,
        env::CORS_ORIGINS,
        env::WEBSOCKET_MANAGEMENT_URL,
    ],
    event_sources: &[EventSourceDef {
        logical_id: "RealtimeStreamMapping",
        source: EventSource::TableStream(&tables::DATA),
    }],
};

/// The worker behind the notify queue: sends e-mail (SES), SMS (SNS) and
/// pushes to open WebSockets, issues password-reset and verification links,
/// and turns SES bounces and complaints into each app's suppression list.
/// Request paths only enqueue (`ob_core::notify`); nothing here is on one.
pub const NOTIFY: FunctionDef = FunctionDef {
    name: "notify",
    package: "ob-notify",
    http_routes: &[],
    websocket_routes: &[],
    tables: &[
        &tables::APPS,
        &tables::CONFIG,
        &tables::USERS,
        &tables::SESSIONS,
        &tables::AUDIT,
        &tables::CONNECTIONS,
        &tables::NOTIFICATIONS,
    ],
    queues: &[],
    env: &[
        env::STAGE,
        env::RUST_LOG,
        env::METRICS_PER_APP_ROUTES,
        env::AUDIT_RETENTION_DAYS,
        env::SENDER_ADDRESS,
        env::SENDER_NAME,
        env::REPLY_TO,
        env::SES_CONFIGURATION_SET,
        env::SMS_ENABLED,
        env::PASSWORD_RESET_URL,
        env::EMAIL_VERIFICATION_URL,
        env::PASSWORD_RESET_TTL_SECONDS,
        env::EMAIL_VERIFICATION_TTL_SECONDS,
        env::WEBSOCKET_MANAGEMENT_URL,
    ],
    event_sources: &[EventSourceDef {
        logical_id: "NotifyQueueMapping",
        source: EventSource::Queue(&queues::NOTIFY),
    }],
};

/// The worker behind app webhooks: turns data-table changes (its stream) and
/// queued auth events into one logged delivery per matching subscription, and
/// makes the signed attempts the webhook queue carries, retrying along the
/// backoff; a subscription it disables is e-mailed to the app's contact
/// through the notify queue. Nothing on a request path calls a receiver.
pub const WEBHOOKS: FunctionDef = FunctionDef {
    name: "webhooks",
    package: "ob-webhooks",
    http_routes: &[],
    websocket_routes: &[],
    // Apps and notifications: a subscription it disables is e-mailed to the app's contact.
    tables: &[
        &tables::WEBHOOKS,
        &tables::DATA,
        &tables::APPS,
        &tables::NOTIFICATIONS,
    ],
    queues: &[&queues::WEBHOOK_DELIVERIES, &queues::NOTIFY],
    env: &[
        env::STAGE,
        env::RUST_LOG,
        env::METRICS_PER_APP_ROUTES,
        env::WEBHOOKS_ALLOW_LOCAL_TARGETS,
    ],
    event_sources: &[
        EventSourceDef {
            logical_id: "WebhooksStreamMapping",
            source: EventSource::TableStream(&tables::DATA),
        },
        EventSourceDef {
            logical_id: "WebhooksQueueMapping",
            source: EventSource::Queue(&queues::WEBHOOK_DELIVERIES),
        },
    ],
};

/// Every function of the stack, in template order.
pub const ALL: &[FunctionDef] = &[AUTH, DATA, FILES, ADMIN, REALTIME, NOTIFY, WEBHOOKS];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route_key::RouteKey;

    #[test]
    fn definitions_are_consistent() {
        let mut names: Vec<&str> = ALL.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len(), "duplicate function name");
        for function in ALL {
            assert_eq!(function.package, format!("ob-{}", function.name));
            for route in function.http_routes {
                RouteKey::parse(route).unwrap();
            }
            let mut vars: Vec<&str> = function.env_vars().map(|v| v.name).collect();
            let count = vars.len();
            vars.sort_unstable();
            vars.dedup();
            assert_eq!(vars.len(), count, "{}: a variable twice", function.name);
            for source in function.event_sources {
                match source.source {
                    EventSource::TableStream(table) => {
                        assert!(table.stream, "{} has no stream", table.logical_id);
                        assert!(function.tables.contains(&table));
                    }
                    EventSource::Queue(queue) => {
                        assert!(
                            !queue.dead_letter,
                            "{} is a dead-letter queue",
                            queue.logical_id
                        );
                        assert!(queues::ALL.contains(queue));
                    }
                }
            }
        }
        assert_eq!(AUTH.logical_id(), "AuthFunction");
        assert_eq!(FunctionDef::by_name("realtime"), Some(&REALTIME));
        assert!(!REALTIME.serves_http() && ADMIN.serves_http());
        assert!(REALTIME.identifies_callers() && !NOTIFY.identifies_callers());
    }
}
