//! The placeholder values a stage gives its template fragments.

use ob_core::functions::FunctionDef;
use serde_yaml::Value;

use super::subst::Vars;
use crate::stage::Stage;

fn put(vars: &mut Vars, name: &str, value: impl Into<Value>) {
    vars.insert(name.to_owned(), value.into());
}

/// Values shared by every fragment.
pub fn stage_vars(stage: &Stage) -> Vars {
    let c = &stage.config;
    let mut v = Vars::new();
    put(&mut v, "stage", stage.name.as_str());
    put(&mut v, "stackName", c.stack_name.as_str());
    put(&mut v, "region", c.region.as_str());
    put(&mut v, "architecture", c.lambda.architecture.as_str());
    put(&mut v, "logRetentionDays", c.lambda.log_retention_days);
    put(
        &mut v,
        "pointInTimeRecovery",
        c.database.point_in_time_recovery,
    );
    put(&mut v, "deletionProtection", c.database.deletion_protection);
    put(
        &mut v,
        "corsOrigins",
        Value::Sequence(
            c.cors
                .allowed_origins
                .iter()
                .map(|o| o.as_str().into())
                .collect(),
        ),
    );
    put(&mut v, "corsOriginsCsv", c.cors.allowed_origins.join(","));
    put(
        &mut v,
        "alarmEmail",
        c.alarms.email.clone().unwrap_or_default(),
    );
    put(&mut v, "latencyP99Ms", c.alarms.latency_p99_ms);
    put(
        &mut v,
        "streamIteratorAgeMs",
        u64::from(c.alarms.stream_iterator_age_seconds) * 1000,
    );
    // Environment values are strings in CloudFormation.
    put(
        &mut v,
        "metricsPerAppRoutes",
        if c.metrics.per_app_routes {
            "true"
        } else {
            "false"
        },
    );
    put(
        &mut v,
        "webhooksAllowLocalTargets",
        if c.webhooks.allow_local_targets {
            "true"
        } else {
            "false"
        },
    );
    put(&mut v, "throttleRateLimit", c.api.throttling.rate_limit);
    put(&mut v, "throttleBurstLimit", c.api.throttling.burst_limit);
    put(
        &mut v,
        "appRequestsPerMinute",
        c.api.limits.app_requests_per_minute,
    );
    put(
        &mut v,
        "clientRequestsPerMinute",
        c.api.limits.client_requests_per_minute,
    );
    put(
        &mut v,
        "accessTokenTtlSeconds",
        c.auth.access_token_ttl_seconds,
    );
    put(
        &mut v,
        "refreshTokenTtlSeconds",
        c.auth.refresh_token_ttl_seconds,
    );
    put(&mut v, "sessionMaxSeconds", c.auth.session_max_seconds);
    put(&mut v, "bcryptCost", c.auth.bcrypt_cost);
    put(&mut v, "maxUploadBytes", c.files.max_upload_bytes);
    put(&mut v, "urlExpirySeconds", c.files.url_expiry_seconds);
    put(&mut v, "auditRetentionDays", c.audit.retention_days);
    let n = &c.notifications;
    put(&mut v, "senderAddress", n.sender_address.as_str());
    put(&mut v, "senderDomain", n.sender_domain());
    put(&mut v, "senderName", n.sender_name.as_str());
    put(&mut v, "replyTo", n.reply_to());
    put(
        &mut v,
        "sesConfigurationSet",
        n.configuration_set(&c.stack_name),
    );
    put(&mut v, "smsEnabled", if n.sms { "true" } else { "false" });
    put(&mut v, "emailDailyQuota", n.daily_quota.email);
    put(&mut v, "smsDailyQuota", n.daily_quota.sms);
    put(&mut v, "passwordResetUrl", n.password_reset_url.as_str());
    put(
        &mut v,
        "emailVerificationUrl",
        n.email_verification_url.as_str(),
    );
    put(
        &mut v,
        "passwordResetTtlSeconds",
        n.password_reset_ttl_seconds,
    );
    put(
        &mut v,
        "emailVerificationTtlSeconds",
        n.email_verification_ttl_seconds,
    );
    v
}

/// Values for one instance of the per-function fragments.
pub fn function_vars(stage: &Stage, base: &Vars, function: &FunctionDef) -> Vars {
    let sizing = stage.config.lambda.sizing(function.name);
    let mut v = base.clone();
    put(&mut v, "fn.name", function.name);
    put(&mut v, "fn.Name", function.resource_prefix());
    put(&mut v, "fn.memoryMb", sizing.memory_mb);
    put(&mut v, "fn.timeoutSeconds", sizing.timeout_seconds);
    v
}

/// Values for one instance of the per-queue fragments.
pub fn queue_vars(base: &Vars, queue: &ob_core::queues::QueueDef) -> Vars {
    let mut v = base.clone();
    put(&mut v, "queue.logicalId", queue.logical_id);
    put(&mut v, "queue.output", queue.output);
    put(&mut v, "queue.holds", queue.holds);
    put(
        &mut v,
        "queue.depthAlarm",
        queue.depth_alarm.unwrap_or_default(),
    );
    v
}

/// Values for one instance of the per-table fragment.
pub fn table_vars(base: &Vars, table: &ob_core::tables::TableDef) -> Vars {
    let mut v = base.clone();
    put(&mut v, "table.logicalId", table.logical_id);
    put(&mut v, "table.output", table.output);
    v
}
