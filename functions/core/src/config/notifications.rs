//! The config keys of account e-mails and notifications: `auth` (link pages, verified-e-mail requirements) and `notifications` (templates).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::notify::{AccountMail, Template, links};

/// Most templates one app keeps, and their largest total size (the config is
/// one DynamoDB item of at most 400 KB).
pub const MAX_TEMPLATES: usize = 50;
pub const MAX_TEMPLATES_BYTES: usize = 128 * 1024;

/// `auth`: how the app's accounts are verified and recovered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthConfig {
    /// The app's page a password-reset link opens (with `token=`); the stage's
    /// `notifications.passwordResetUrl` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_reset_url: Option<String>,
    /// The app's page a verification link opens; the stage's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verification_url: Option<String>,
    #[serde(default)]
    pub require_verified_email: RequireVerifiedEmail,
}

/// What needs a verified e-mail address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequireVerifiedEmail {
    /// Registering sends the link instead of signing in; login and refresh
    /// answer 403 `email_not_verified` until the address is verified.
    #[serde(default)]
    pub sign_in: bool,
    /// Creating, changing and deleting records answers 403 `email_not_verified`.
    #[serde(default)]
    pub data_write: bool,
}

/// `notifications`: the app's message templates, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotificationsConfig {
    /// `POST /notify` sends them by name; `passwordReset` and
    /// `emailVerification` replace the built-in account e-mails.
    #[serde(default)]
    pub templates: BTreeMap<String, Template>,
}

impl AuthConfig {
    pub(super) fn validate(&self) -> Result<()> {
        for (field, url) in [
            ("auth.passwordResetUrl", &self.password_reset_url),
            ("auth.emailVerificationUrl", &self.email_verification_url),
        ] {
            if let Some(url) = url {
                links::validate_page_url(url).map_err(|err| match err {
                    Error::Invalid { message, .. } => Error::invalid(field, message),
                    other => other,
                })?;
            }
        }
        Ok(())
    }
}

impl NotificationsConfig {
    pub(super) fn validate(&self) -> Result<()> {
        if self.templates.len() > MAX_TEMPLATES {
            return Err(Error::invalid(
                "notifications.templates",
                format!("at most {MAX_TEMPLATES} templates"),
            ));
        }
        let size = serde_json::to_string(&self.templates)
            .map(|s| s.len())
            .unwrap_or(usize::MAX);
        if size > MAX_TEMPLATES_BYTES {
            return Err(Error::TooLarge(format!(
                "notifications.templates: {size} bytes of templates; at most {MAX_TEMPLATES_BYTES}"
            )));
        }
        for (name, template) in &self.templates {
            let field = format!("notifications.templates.{name}");
            let name_ok = (1..=64).contains(&name.len())
                && name
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
            if !name_ok {
                return Err(Error::invalid(
                    field,
                    "template names are 1 to 64 characters of A-Z, a-z, 0-9, '_', '-'",
                ));
            }
            match AccountMail::by_template_name(name) {
                Some(mail) => mail.validate_override(template, &field)?,
                None => template.validate(&field)?,
            }
        }
        Ok(())
    }

    /// The template named `name`, if the app has one.
    pub fn template(&self, name: &str) -> Option<&Template> {
        self.templates.get(name)
    }
}
