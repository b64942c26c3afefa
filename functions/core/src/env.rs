//! Every environment variable a function reads, with how its value is checked, defined once.
//!
//! A function declares the variables it reads in `functions.rs`; at cold start
//! `FunctionEnv::load` reads exactly those, and a missing or unparsable value is
//! an error naming the variable (the Lambda host reports it as an init error),
//! never a silent default. Tests hold each template's `Environment.Variables`
//! to the same declarations, so a variable the template forgets, or one nothing
//! reads, fails `make test`.

use std::collections::BTreeMap;
use std::fmt;

use crate::functions::FunctionDef;
use crate::queues::QueueDef;
use crate::tables::TableDef;

/// One environment variable and what its value must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvVar {
    pub name: &'static str,
    pub kind: EnvKind,
}

/// The shape of a variable's value; every value must be non-empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvKind {
    /// Free text (a stage name, a log filter).
    Text,
    /// A whole number within `min..=max`.
    Integer { min: i64, max: i64 },
    /// A comma-separated list of non-empty items.
    List,
    /// The physical name of a table of `tables.rs`.
    Table(&'static TableDef),
    /// The URL of a queue of `queues.rs`.
    Queue(&'static QueueDef),
    /// One e-mail address.
    Email,
    /// An S3 bucket name.
    Bucket,
    /// An ARN (`arn:partition:service:…`).
    Arn,
    /// An `http://` or `https://` URL.
    Url,
    /// `true` or `false`.
    Flag,
}

impl EnvVar {
    /// The variable through which a function receives `table`'s physical name.
    pub const fn table(table: &'static TableDef) -> Self {
        Self {
            name: table.env_var,
            kind: EnvKind::Table(table),
        }
    }

    /// The variable through which a function receives `queue`'s URL.
    pub const fn queue(queue: &'static QueueDef) -> Self {
        Self {
            name: queue.env_var,
            kind: EnvKind::Queue(queue),
        }
    }

    /// Checks one value; the error says what was expected.
    fn check(&self, value: &str) -> Result<(), String> {
        let value = value.trim();
        if value.is_empty() {
            return Err("is empty".into());
        }
        match self.kind {
            EnvKind::Text | EnvKind::Table(_) | EnvKind::Bucket => Ok(()),
            EnvKind::Integer { min, max } => match value.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(()),
                _ => Err(format!(
                    "is {value:?}, not a whole number from {min} to {max}"
                )),
            },
            EnvKind::List => {
                if value.split(',').all(|item| !item.trim().is_empty()) {
                    Ok(())
                } else {
                    Err(format!("is {value:?}, which has an empty item"))
                }
            }
            EnvKind::Arn => {
                if value.starts_with("arn:") && value.split(':').count() >= 6 {
                    Ok(())
                } else {
                    Err(format!("is {value:?}, not an ARN"))
                }
            }
            EnvKind::Url | EnvKind::Queue(_) => {
                if value.starts_with("http://") || value.starts_with("https://") {
                    Ok(())
                } else {
                    Err(format!("is {value:?}, not an http(s) URL"))
                }
            }
            EnvKind::Email => crate::users::normalize_email(value)
                .map(|_| ())
                .map_err(|_| format!("is {value:?}, not an e-mail address")),
            EnvKind::Flag => match value {
                "true" | "false" => Ok(()),
                _ => Err(format!("is {value:?}, not true or false")),
            },
        }
    }
}

/// The stage the function belongs to (access tokens' issuer, `/health`).
pub const STAGE: EnvVar = EnvVar {
    name: "STAGE",
    kind: EnvKind::Text,
};
/// `tracing` filter of the function's logs.
pub const RUST_LOG: EnvVar = EnvVar {
    name: "RUST_LOG",
    kind: EnvKind::Text,
};
/// The Secrets Manager secret holding the token signing key.
pub const SIGNING_KEY_SECRET_ARN: EnvVar = EnvVar {
    name: "SIGNING_KEY_SECRET_ARN",
    kind: EnvKind::Arn,
};
/// Browser origins allowed for every app (the stage's `cors.allowedOrigins`).
pub const CORS_ORIGINS: EnvVar = EnvVar {
    name: "CORS_ORIGINS",
    kind: EnvKind::List,
};
/// Days audit entries are kept.
pub const AUDIT_RETENTION_DAYS: EnvVar = EnvVar {
    name: "AUDIT_RETENTION_DAYS",
    kind: EnvKind::Integer { min: 1, max: 3653 },
};
/// At most an hour: reads trust an access token until it expires.
pub const ACCESS_TOKEN_TTL_SECONDS: EnvVar = EnvVar {
    name: "ACCESS_TOKEN_TTL_SECONDS",
    kind: EnvKind::Integer { min: 60, max: 3600 },
};
pub const REFRESH_TOKEN_TTL_SECONDS: EnvVar = EnvVar {
    name: "REFRESH_TOKEN_TTL_SECONDS",
    kind: EnvKind::Integer {
        min: 61,
        max: 31_536_000,
    },
};
/// Absolute lifetime of a session from its login.
pub const SESSION_MAX_SECONDS: EnvVar = EnvVar {
    name: "SESSION_MAX_SECONDS",
    kind: EnvKind::Integer {
        min: 61,
        max: 31_536_000,
    },
};
/// Requests per minute of one app, unless its config sets its own.
pub const APP_REQUESTS_PER_MINUTE: EnvVar = EnvVar {
    name: "APP_REQUESTS_PER_MINUTE",
    kind: EnvKind::Integer {
        min: 1,
        max: 1_000_000,
    },
};
/// Requests per minute of one client address of an app, unless its config sets its own.
pub const CLIENT_REQUESTS_PER_MINUTE: EnvVar = EnvVar {
    name: "CLIENT_REQUESTS_PER_MINUTE",
    kind: EnvKind::Integer {
        min: 1,
        max: 1_000_000,
    },
};
pub const BCRYPT_COST: EnvVar = EnvVar {
    name: "BCRYPT_COST",
    kind: EnvKind::Integer { min: 4, max: 31 },
};
/// The files bucket.
pub const FILES_BUCKET: EnvVar = EnvVar {
    name: "FILES_BUCKET",
    kind: EnvKind::Bucket,
};
/// The stage's cap on one upload (S3's single-PUT limit at most).
pub const MAX_UPLOAD_BYTES: EnvVar = EnvVar {
    name: "MAX_UPLOAD_BYTES",
    kind: EnvKind::Integer {
        min: 1,
        max: 5 * 1024 * 1024 * 1024,
    },
};
/// Lifetime of presigned URLs (SigV4 allows a week at most).
pub const URL_EXPIRY_SECONDS: EnvVar = EnvVar {
    name: "URL_EXPIRY_SECONDS",
    kind: EnvKind::Integer {
        min: 1,
        max: 604_800,
    },
};
/// Whether the function also publishes each app's per-route metrics (the stage's `metrics.perAppRoutes`).
pub const METRICS_PER_APP_ROUTES: EnvVar = EnvVar {
    name: "METRICS_PER_APP_ROUTES",
    kind: EnvKind::Flag,
};
/// The WebSocket API's management endpoint (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`).
pub const WEBSOCKET_MANAGEMENT_URL: EnvVar = EnvVar {
    name: "WEBSOCKET_MANAGEMENT_URL",
    kind: EnvKind::Url,
};

/// The address every e-mail is sent from (an SES identity of the account).
pub const SENDER_ADDRESS: EnvVar = EnvVar {
    name: "SENDER_ADDRESS",
    kind: EnvKind::Email,
};
/// The display name e-mails are sent under.
pub const SENDER_NAME: EnvVar = EnvVar {
    name: "SENDER_NAME",
    kind: EnvKind::Text,
};
/// Where replies to e-mails go (the stage's `notifications.replyTo`, else the sender).
pub const REPLY_TO: EnvVar = EnvVar {
    name: "REPLY_TO",
    kind: EnvKind::Email,
};
/// The SES configuration set every e-mail is sent through (bounce and complaint events).
pub const SES_CONFIGURATION_SET: EnvVar = EnvVar {
    name: "SES_CONFIGURATION_SET",
    kind: EnvKind::Text,
};
/// Whether the stage sends SMS (`notifications.sms`).
pub const SMS_ENABLED: EnvVar = EnvVar {
    name: "SMS_ENABLED",
    kind: EnvKind::Flag,
};
/// The stage's password-reset page, for apps that configure none.
pub const PASSWORD_RESET_URL: EnvVar = EnvVar {
    name: "PASSWORD_RESET_URL",
    kind: EnvKind::Url,
};
/// The stage's e-mail-verification page, for apps that configure none.
pub const EMAIL_VERIFICATION_URL: EnvVar = EnvVar {
    name: "EMAIL_VERIFICATION_URL",
    kind: EnvKind::Url,
};
/// Lifetime of a password-reset token.
pub const PASSWORD_RESET_TTL_SECONDS: EnvVar = EnvVar {
    name: "PASSWORD_RESET_TTL_SECONDS",
    kind: EnvKind::Integer {
        min: 300,
        max: 86_400,
    },
};
/// Lifetime of an e-mail-verification token.
pub const EMAIL_VERIFICATION_TTL_SECONDS: EnvVar = EnvVar {
    name: "EMAIL_VERIFICATION_TTL_SECONDS",
    kind: EnvKind::Integer {
        min: 300,
        max: 7 * 86_400,
    },
};
/// E-mails one app may send per UTC day through `POST /notify`.
pub const EMAIL_DAILY_QUOTA: EnvVar = EnvVar {
    name: "EMAIL_DAILY_QUOTA",
    kind: EnvKind::Integer {
        min: 0,
        max: 10_000_000,
    },
};
/// SMS one app may send per UTC day through `POST /notify`.
pub const SMS_DAILY_QUOTA: EnvVar = EnvVar {
    name: "SMS_DAILY_QUOTA",
    kind: EnvKind::Integer {
        min: 0,
        max: 10_000_000,
    },
};

/// Whether webhooks may go to `http://` and loopback targets (`webhooks.allowLocalTargets`, `local` only).
pub const WEBHOOKS_ALLOW_LOCAL_TARGETS: EnvVar = EnvVar {
    name: "WEBHOOKS_ALLOW_LOCAL_TARGETS",
    kind: EnvKind::Flag,
};

/// Why a function's environment is unusable: every bad variable, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvError {
    pub function: &'static str,
    /// (variable, what is wrong with it).
    pub problems: Vec<(&'static str, String)>,
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the {} function's environment is invalid: ",
            self.function
        )?;
        for (i, (name, problem)) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{name} {problem}")?;
        }
        f.write_str(" (the template's Environment.Variables set them)")
    }
}

impl std::error::Error for EnvError {}

/// The checked values of every variable one function declares.
#[derive(Debug, Clone)]
pub struct FunctionEnv {
    function: &'static FunctionDef,
    values: BTreeMap<&'static str, String>,
}

impl FunctionEnv {
    /// Reads the process environment, as a Lambda cold start does.
    pub fn load(function: &'static FunctionDef) -> Result<Self, EnvError> {
        Self::from_lookup(function, |name| std::env::var(name).ok())
    }

    /// Reads each declared variable through `lookup`; all problems are reported at once.
    pub fn from_lookup(
        function: &'static FunctionDef,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, EnvError> {
        let mut values = BTreeMap::new();
        let mut problems = Vec::new();
        for var in function.env_vars() {
            match lookup(var.name) {
                None => problems.push((var.name, "is not set".to_owned())),
                Some(value) => match var.check(&value) {
                    Ok(()) => {
                        values.insert(var.name, value.trim().to_owned());
                    }
                    Err(problem) => problems.push((var.name, problem)),
                },
            }
        }
        if problems.is_empty() {
            Ok(Self { function, values })
        } else {
            Err(EnvError {
                function: function.name,
                problems,
            })
        }
    }

    pub fn function(&self) -> &'static FunctionDef {
        self.function
    }

    /// The value of `var`, or `None` when this function does not declare it.
    pub fn text(&self, var: &EnvVar) -> Option<&str> {
        self.values.get(var.name).map(String::as_str)
    }

    /// The value of a variable the function must declare; an error naming it otherwise.
    pub fn required(&self, var: &EnvVar) -> Result<&str, EnvError> {
        self.text(var).ok_or_else(|| EnvError {
            function: self.function.name,
            problems: vec![(
                var.name,
                "is read but not declared (add it to the function in functions.rs)".to_owned(),
            )],
        })
    }

    /// A declared integer variable (checked within its bounds at load).
    pub fn integer<T: TryFrom<i64>>(&self, var: &EnvVar) -> Option<T> {
        self.text(var)?
            .parse::<i64>()
            .ok()
            .and_then(|n| T::try_from(n).ok())
    }

    /// A declared list variable's items, trimmed.
    pub fn list(&self, var: &EnvVar) -> Option<Vec<String>> {
        Some(
            self.text(var)?
                .split(',')
                .map(|item| item.trim().to_owned())
                .collect(),
        )
    }

    /// The physical name of `table`, when this function may touch it.
    pub fn table(&self, table: &TableDef) -> Option<String> {
        self.values.get(table.env_var).cloned()
    }

    /// The URL of `queue`, when this function sends to it.
    pub fn queue(&self, queue: &QueueDef) -> Option<String> {
        self.values.get(queue.env_var).cloned()
    }

    /// A declared `true`/`false` variable.
    pub fn flag(&self, var: &EnvVar) -> Option<bool> {
        self.text(var).map(|v| v == "true")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::{ADMIN, AUTH};

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn admin_env() -> Vec<(&'static str, &'static str)> {
        vec![
            ("STAGE", "dev"),
            ("RUST_LOG", "info"),
            ("METRICS_PER_APP_ROUTES", "true"),
            (
                "SIGNING_KEY_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:k",
            ),
            ("CORS_ORIGINS", "https://a.example, https://b.example"),
            ("AUDIT_RETENTION_DAYS", "30"),
            ("APPS_TABLE", "t-apps"),
            ("CONFIG_TABLE", "t-config"),
            ("API_KEYS_TABLE", "t-keys"),
            ("AUDIT_TABLE", "t-audit"),
            ("NOTIFICATIONS_TABLE", "t-notifications"),
            (
                "NOTIFY_QUEUE_URL",
                "https://sqs.eu-west-1.amazonaws.com/123456789012/notify",
            ),
            ("SMS_ENABLED", "false"),
            ("EMAIL_DAILY_QUOTA", "1000"),
            ("SMS_DAILY_QUOTA", "0"),
            ("LIMITS_TABLE", "t-limits"),
            ("USERS_TABLE", "t-users"),
            ("APP_REQUESTS_PER_MINUTE", "6000"),
            ("CLIENT_REQUESTS_PER_MINUTE", "600"),
        ]
    }

    #[test]
    fn declared_variables_are_read_and_typed() {
        let env = FunctionEnv::from_lookup(&ADMIN, lookup(&admin_env())).unwrap();
        assert_eq!(env.text(&STAGE), Some("dev"));
        assert_eq!(env.integer::<u32>(&AUDIT_RETENTION_DAYS), Some(30));
        assert_eq!(
            env.list(&CORS_ORIGINS).unwrap(),
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(env.table(&crate::tables::AUDIT).as_deref(), Some("t-audit"));
        assert_eq!(
            env.table(&crate::tables::SESSIONS),
            None,
            "not admin's table"
        );
        assert_eq!(env.text(&BCRYPT_COST), None, "not declared by admin");
        assert_eq!(env.flag(&SMS_ENABLED), Some(false));
        assert_eq!(
            env.queue(&crate::queues::NOTIFY).as_deref(),
            Some("https://sqs.eu-west-1.amazonaws.com/123456789012/notify")
        );
        assert_eq!(env.flag(&METRICS_PER_APP_ROUTES), Some(true));
    }

    #[test]
    fn missing_and_unparsable_values_are_errors_naming_the_variable() {
        let mut vars = admin_env();
        vars.retain(|(k, _)| *k != "APPS_TABLE" && *k != "AUDIT_RETENTION_DAYS");
        vars.push(("AUDIT_RETENTION_DAYS", "forever"));
        let err = FunctionEnv::from_lookup(&ADMIN, lookup(&vars)).unwrap_err();
        assert_eq!(err.function, "admin");
        let names: Vec<&str> = err.problems.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["AUDIT_RETENTION_DAYS", "APPS_TABLE"]);
        let text = err.to_string();
        assert!(text.contains("APPS_TABLE is not set"), "{text}");
        assert!(
            text.contains("AUDIT_RETENTION_DAYS is \"forever\", not a whole number from 1 to 3653"),
            "{text}"
        );

        let mut auth = admin_env();
        auth.extend([
            ("USERS_TABLE", "u"),
            ("SESSIONS_TABLE", "s"),
            ("BCRYPT_COST", "99"),
            ("ACCESS_TOKEN_TTL_SECONDS", "900"),
            ("REFRESH_TOKEN_TTL_SECONDS", "86400"),
            ("SESSION_MAX_SECONDS", "864000"),
            (
                "WEBHOOK_QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/1/w",
            ),
        ]);
        let err = FunctionEnv::from_lookup(&AUTH, lookup(&auth)).unwrap_err();
        assert_eq!(err.problems.len(), 1, "{err}");
        assert!(err.to_string().contains("BCRYPT_COST is \"99\""), "{err}");
    }

    #[test]
    fn values_are_checked_by_kind() {
        let arn = SIGNING_KEY_SECRET_ARN;
        assert!(
            arn.check("arn:aws:secretsmanager:us-east-1:1:secret:x")
                .is_ok()
        );
        assert!(arn.check("my-secret").is_err());
        assert!(WEBSOCKET_MANAGEMENT_URL.check("ftp://x").is_err());
        assert!(CORS_ORIGINS.check("a,,b").is_err());
        assert!(SMS_ENABLED.check("yes").is_err() && SMS_ENABLED.check("false").is_ok());
        assert!(SENDER_ADDRESS.check("no-reply@example.com").is_ok());
        assert!(
            SENDER_ADDRESS
                .check("Example <no-reply@example.com>")
                .is_err()
        );
        let queue = EnvVar::queue(&crate::queues::NOTIFY);
        assert_eq!(queue.name, "NOTIFY_QUEUE_URL");
        assert!(queue.check("http://127.0.0.1:4566/000000000000/q").is_ok());
        assert!(queue.check("arn:aws:sqs:us-east-1:1:q").is_err());
        assert!(STAGE.check("  ").is_err());
        assert!(METRICS_PER_APP_ROUTES.check("false").is_ok());
        assert!(METRICS_PER_APP_ROUTES.check("yes").is_err());
    }
}
