//! Notifications: what request paths enqueue, the records and quotas of what apps send, templates, links and suppression lists.
//!
//! Nothing here calls SES or SNS: request paths store a record and enqueue a
//! job (`job::NotifyQueue`); the notify function (`functions/notify`) sends.

pub mod job;
pub mod links;
pub mod model;
pub mod store;
pub mod suppression;
pub mod template;

pub use job::{Envelope, Job, NotifyQueue};
pub use model::{Channel, Notification, Recipient, Status};
pub use template::{Rendered, Template, Variables};

/// The account e-mails the backend sends itself. An app overrides one by
/// storing a template under its name in `notifications.templates`; the
/// variables below are what the worker fills in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountMail {
    PasswordReset,
    EmailVerification,
}

impl AccountMail {
    /// The template name an app overrides it with.
    pub fn template_name(self) -> &'static str {
        match self {
            Self::PasswordReset => "passwordReset",
            Self::EmailVerification => "emailVerification",
        }
    }

    /// Variables the worker provides: `appName`, `email`, `link`, `expiresInMinutes`.
    pub const VARIABLES: [&'static str; 4] = ["appName", "email", "link", "expiresInMinutes"];

    /// The built-in template.
    pub fn default_template(self) -> Template {
        match self {
            Self::PasswordReset => Template {
                subject: "Reset your {{appName}} password".into(),
                text: Some(
                    "Someone asked to reset the password of the {{appName}} account {{email}}.\n\n\
                     To choose a new password, open this link within {{expiresInMinutes}} minutes:\n\
                     {{link}}\n\n\
                     If it was not you, ignore this e-mail: your password stays as it is.\n"
                        .into(),
                ),
                html: Some(
                    "<p>Someone asked to reset the password of the {{appName}} account {{email}}.</p>\
                     <p><a href=\"{{link}}\">Choose a new password</a> (the link works for \
                     {{expiresInMinutes}} minutes, once).</p>\
                     <p>If it was not you, ignore this e-mail: your password stays as it is.</p>"
                        .into(),
                ),
            },
            Self::EmailVerification => Template {
                subject: "Confirm your e-mail address for {{appName}}".into(),
                text: Some(
                    "Confirm that {{email}} is your address for {{appName}} by opening this link \
                     within {{expiresInMinutes}} minutes:\n{{link}}\n\n\
                     If you did not sign up, ignore this e-mail.\n"
                        .into(),
                ),
                html: Some(
                    "<p><a href=\"{{link}}\">Confirm that {{email}} is your address</a> for \
                     {{appName}} (the link works for {{expiresInMinutes}} minutes).</p>\
                     <p>If you did not sign up, ignore this e-mail.</p>"
                        .into(),
                ),
            },
        }
    }

    /// Checks an app's override: only the variables the worker provides, and a `{{link}}`.
    pub fn validate_override(self, template: &Template, field: &str) -> crate::Result<()> {
        template.validate(field)?;
        let used = template.variables();
        if let Some(unknown) = used.iter().find(|v| !Self::VARIABLES.contains(&v.as_str())) {
            return Err(crate::Error::invalid(
                field,
                format!(
                    "uses {{{{{unknown}}}}}, which the {} e-mail does not provide; it provides {}",
                    self.template_name(),
                    Self::VARIABLES.join(", ")
                ),
            ));
        }
        if !used.iter().any(|v| v == "link") {
            return Err(crate::Error::invalid(
                field,
                "must contain {{link}}: without it the e-mail is useless",
            ));
        }
        Ok(())
    }

    pub fn by_template_name(name: &str) -> Option<Self> {
        [Self::PasswordReset, Self::EmailVerification]
            .into_iter()
            .find(|m| m.template_name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_account_mails_use_only_what_the_worker_provides() {
        for mail in [AccountMail::PasswordReset, AccountMail::EmailVerification] {
            let template = mail.default_template();
            mail.validate_override(&template, "t").unwrap();
            let vars: Variables = AccountMail::VARIABLES
                .iter()
                .map(|v| ((*v).to_owned(), format!("<{v}>")))
                .collect();
            let out = template.render(&vars).unwrap();
            assert!(out.html.unwrap().contains("href=\"&lt;link&gt;\""));
            assert!(out.text.unwrap().contains("<link>"));
        }
        let odd = Template {
            subject: "s".into(),
            text: Some("{{link}} {{password}}".into()),
            html: None,
        };
        assert!(
            AccountMail::PasswordReset
                .validate_override(&odd, "t")
                .is_err()
        );
        let no_link = Template {
            subject: "s".into(),
            text: Some("hello".into()),
            html: None,
        };
        assert!(
            AccountMail::EmailVerification
                .validate_override(&no_link, "t")
                .is_err()
        );
    }
}
