//! Checks of a parsed stage that types alone cannot express, all reported at once.

use ob_core::functions;

use super::StageConfig;
use crate::error::{CliError, Result};

/// Retention periods CloudWatch Logs accepts.
const LOG_RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// The emulator's stage: the only one allowed a bcrypt cost under `MIN_BCRYPT_COST`.
pub const LOCAL_STAGE: &str = "local";
/// The lowest bcrypt cost a real stage may use (the functions refuse less too).
pub const MIN_BCRYPT_COST: u32 = 10;

/// The longest access-token lifetime a stage may set (one hour).
pub const MAX_ACCESS_TOKEN_TTL: u32 = 3600;

/// One problem: the key path and what is wrong with it, including what is allowed.
struct Problem {
    key: String,
    message: String,
}

pub(super) fn validate(file: &str, stage: &str, c: &StageConfig) -> Result<()> {
    let mut problems = Vec::new();
    let mut check = |ok: bool, key: &str, message: String| {
        if !ok {
            problems.push(Problem {
                key: key.to_owned(),
                message,
            });
        }
    };

    check(
        is_region(&c.region),
        "region",
        format!(
            "{:?} is not an AWS region name (e.g. eu-west-1, us-east-1)",
            c.region
        ),
    );
    check(
        is_stack_name(&c.stack_name),
        "stackName",
        format!(
            "{:?} is not a valid stack name: 1-100 characters, letters, digits and '-', starting with a letter",
            c.stack_name
        ),
    );
    check(
        !c.cors.allowed_origins.is_empty(),
        "cors.allowedOrigins",
        "is empty: list at least one origin, e.g. http://localhost:5173".to_owned(),
    );
    for (i, origin) in c.cors.allowed_origins.iter().enumerate() {
        check(
            is_origin(origin),
            &format!("cors.allowedOrigins[{i}]"),
            format!(
                "{origin:?} is not an origin: use scheme://host[:port] with no path or trailing slash \
                 (`*` is refused: list the sites that may call the API)"
            ),
        );
    }

    let lambda = &c.lambda;
    check(
        LOG_RETENTION_DAYS.contains(&lambda.log_retention_days),
        "lambda.logRetentionDays",
        format!(
            "{} is not a retention CloudWatch Logs accepts; allowed: {}",
            lambda.log_retention_days,
            join(&LOG_RETENTION_DAYS)
        ),
    );
    for name in lambda.functions.keys() {
        check(
            functions::FunctionDef::by_name(name).is_some(),
            &format!("lambda.functions.{name}"),
            format!(
                "is not a function of the stack; functions: {}",
                functions::ALL
                    .iter()
                    .map(|f| f.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    for def in functions::ALL {
        let function = def.name;
        let sizing = lambda.sizing(function);
        check(
            (128..=10240).contains(&sizing.memory_mb),
            &format!("lambda.functions.{function}.memoryMb"),
            format!("{} MB is outside Lambda's 128-10240 MB", sizing.memory_mb),
        );
        let max_timeout = if def.serves_http() { 29 } else { 900 };
        check(
            (1..=max_timeout).contains(&sizing.timeout_seconds),
            &format!("lambda.functions.{function}.timeoutSeconds"),
            if max_timeout == 29 {
                format!(
                    "{} s is outside 1-29 s: the {function} function answers HTTP API requests, \
                     which API Gateway cuts off after 30 s",
                    sizing.timeout_seconds
                )
            } else {
                format!("{} s is outside Lambda's 1-900 s", sizing.timeout_seconds)
            },
        );
        for source in def.event_sources {
            if let functions::EventSource::Queue(queue) = source.source {
                let max = queue.visibility_timeout_secs / 6;
                check(
                    sizing.timeout_seconds <= max,
                    &format!("lambda.functions.{function}.timeoutSeconds"),
                    format!(
                        "{} s is above {max} s: {} hides a received message for {} s, and a \
                         function it feeds must finish six times within that (Lambda's advice)",
                        sizing.timeout_seconds, queue.logical_id, queue.visibility_timeout_secs
                    ),
                );
            }
        }
    }

    if let Some(email) = &c.alarms.email {
        check(
            is_email(email),
            "alarms.email",
            format!("{email:?} is not an e-mail address; remove the key to send no e-mail"),
        );
    }
    check(
        (10..=30_000).contains(&c.alarms.latency_p99_ms),
        "alarms.latencyP99Ms",
        format!(
            "{} is outside 10-30000 ms (API Gateway ends a request after 30 s)",
            c.alarms.latency_p99_ms
        ),
    );
    check(
        (10..=86_400).contains(&c.alarms.stream_iterator_age_seconds),
        "alarms.streamIteratorAgeSeconds",
        format!(
            "{} is outside 10-86400 seconds (stream records expire after 24 h)",
            c.alarms.stream_iterator_age_seconds
        ),
    );
    let t = &c.api.throttling;
    check(
        (1..=10_000).contains(&t.rate_limit),
        "api.throttling.rateLimit",
        format!(
            "{} is outside 1-10000 requests per second (the account default)",
            t.rate_limit
        ),
    );
    check(
        (1..=5_000).contains(&t.burst_limit),
        "api.throttling.burstLimit",
        format!(
            "{} is outside 1-5000 requests (the account default)",
            t.burst_limit
        ),
    );

    let l = &c.api.limits;
    for (key, value) in [
        ("api.limits.appRequestsPerMinute", l.app_requests_per_minute),
        (
            "api.limits.clientRequestsPerMinute",
            l.client_requests_per_minute,
        ),
    ] {
        check(
            (1..=1_000_000).contains(&value),
            key,
            format!("{value} is outside 1-1000000 requests per minute"),
        );
    }

    let a = &c.auth;
    check(
        (60..=MAX_ACCESS_TOKEN_TTL).contains(&a.access_token_ttl_seconds),
        "auth.accessTokenTtlSeconds",
        format!(
            "{} is outside 60-{MAX_ACCESS_TOKEN_TTL} seconds: an access token is not re-checked \
             on reads, so a disabled user keeps reading until it expires",
            a.access_token_ttl_seconds
        ),
    );
    check(
        a.session_max_seconds >= a.refresh_token_ttl_seconds && a.session_max_seconds <= 31_536_000,
        "auth.sessionMaxSeconds",
        format!(
            "{} must be at least refreshTokenTtlSeconds ({}) and at most 31536000 (one year)",
            a.session_max_seconds, a.refresh_token_ttl_seconds
        ),
    );
    check(
        a.refresh_token_ttl_seconds > a.access_token_ttl_seconds
            && a.refresh_token_ttl_seconds <= 31_536_000,
        "auth.refreshTokenTtlSeconds",
        format!(
            "{} must be longer than accessTokenTtlSeconds ({}) and at most 31536000 (one year)",
            a.refresh_token_ttl_seconds, a.access_token_ttl_seconds
        ),
    );
    check(
        (4..=31).contains(&a.bcrypt_cost),
        "auth.bcryptCost",
        format!(
            "{} is outside bcrypt's 4-31 (10-12 is usual; each step doubles the time)",
            a.bcrypt_cost
        ),
    );
    check(
        stage == LOCAL_STAGE || a.bcrypt_cost >= MIN_BCRYPT_COST,
        "auth.bcryptCost",
        format!(
            "{} is below {MIN_BCRYPT_COST}: only the `{LOCAL_STAGE}` stage (the emulator) may hash \
             passwords this cheaply; use 10-12",
            a.bcrypt_cost
        ),
    );

    let f = &c.files;
    check(
        (1..=5 * 1024 * 1024 * 1024).contains(&f.max_upload_bytes),
        "files.maxUploadBytes",
        format!(
            "{} is outside 1 byte to 5 GiB (S3's limit for one PUT)",
            f.max_upload_bytes
        ),
    );
    check(
        (1..=3600).contains(&f.url_expiry_seconds),
        "files.urlExpirySeconds",
        format!(
            "{} is outside 1-3600 seconds: presigned URLs should be short-lived",
            f.url_expiry_seconds
        ),
    );
    check(
        (1..=3653).contains(&c.audit.retention_days),
        "audit.retentionDays",
        format!("{} is outside 1-3653 days", c.audit.retention_days),
    );

    let n = &c.notifications;
    check(
        is_email(&n.sender_address),
        "notifications.senderAddress",
        format!(
            "{:?} is not an e-mail address; use the address e-mails are sent from, e.g. no-reply@example.com",
            n.sender_address
        ),
    );
    check(
        !n.sender_name.trim().is_empty()
            && n.sender_name.len() <= 64
            && !n
                .sender_name
                .chars()
                .any(|c| c.is_control() || "<>\"".contains(c)),
        "notifications.senderName",
        format!(
            "{:?} must be 1-64 characters without quotes, angle brackets or control characters",
            n.sender_name
        ),
    );
    if let Some(reply_to) = &n.reply_to {
        check(
            is_email(reply_to),
            "notifications.replyTo",
            format!("{reply_to:?} is not an e-mail address; remove the key to reply to the sender"),
        );
    }
    if let Some(set) = &n.ses_configuration_set {
        check(
            (1..=64).contains(&set.len())
                && set
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "notifications.sesConfigurationSet",
            format!("{set:?} must be 1-64 letters, digits, '-' or '_' (SES's rule)"),
        );
    }
    for (key, url) in [
        ("notifications.passwordResetUrl", &n.password_reset_url),
        (
            "notifications.emailVerificationUrl",
            &n.email_verification_url,
        ),
    ] {
        check(
            ob_core::notify::links::validate_page_url(url).is_ok(),
            key,
            format!(
                "{url:?} is not a page URL: use https://host/path (http only for localhost), \
                 without a query or fragment; the link adds ?token=<value>"
            ),
        );
    }
    check(
        (300..=86_400).contains(&n.password_reset_ttl_seconds),
        "notifications.passwordResetTtlSeconds",
        format!(
            "{} is outside 300-86400 seconds (an hour is usual)",
            n.password_reset_ttl_seconds
        ),
    );
    check(
        (300..=604_800).contains(&n.email_verification_ttl_seconds),
        "notifications.emailVerificationTtlSeconds",
        format!(
            "{} is outside 300-604800 seconds (a day is usual)",
            n.email_verification_ttl_seconds
        ),
    );
    for (key, value) in [
        ("notifications.dailyQuota.email", n.daily_quota.email),
        ("notifications.dailyQuota.sms", n.daily_quota.sms),
    ] {
        check(
            value <= 10_000_000,
            key,
            format!("{value} is above 10000000 per app and day"),
        );
    }

    if problems.is_empty() {
        return Ok(());
    }
    let count = problems.len();
    let mut err = CliError::new(format!(
        "{file}: stage {stage:?} has {count} invalid setting{}",
        if count == 1 { "" } else { "s" }
    ));
    for p in problems {
        err = err.detail(format!("{}: {}", p.key, p.message));
    }
    Err(err.fix(format!("edit {file} and run the command again")))
}

fn join(values: &[u32]) -> String {
    values
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn is_region(s: &str) -> bool {
    // e.g. eu-west-1, us-gov-west-1, ap-southeast-3
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.len() <= 4
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

fn is_stack_name(s: &str) -> bool {
    // Physical names derive from the stack name; 100 leaves room for suffixes.
    (1..=100).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn is_origin(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    let host = rest.split_once(':').map_or(rest, |(host, port)| {
        if port.parse::<u16>().is_ok() {
            host
        } else {
            ""
        }
    });
    matches!(scheme, "http" | "https")
        && !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

fn is_email(s: &str) -> bool {
    s.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !s.contains(' ')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert!(is_origin("https://app.example.com"));
        assert!(is_origin("http://localhost:5173"));
        assert!(!is_origin("https://app.example.com/"));
        assert!(!is_origin("*"));
        assert!(!is_origin("ftp://x.org"));
        assert!(!is_origin("http://localhost:99999"));
    }

    #[test]
    fn regions_and_names() {
        assert!(is_region("eu-west-1"));
        assert!(is_region("us-gov-west-1"));
        assert!(!is_region("europe"));
        assert!(!is_region("eu-west"));
        assert!(is_stack_name("one-backend-prod"));
        assert!(!is_stack_name("1backend"));
        assert!(!is_stack_name("one_backend"));
        assert!(is_email("ops@example.com"));
        assert!(!is_email("ops@localhost"));
    }
}
