//! A notification: one delivery to one recipient on one channel, with its content and status.

use serde::{Deserialize, Serialize};

use crate::attr::{self, Item};
use crate::error::{Error, Result};
use crate::notify::template::Rendered;

/// How a notification travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// E-mail through SES.
    Email,
    /// SMS through SNS.
    Sms,
    /// A push over the user's open WebSockets.
    Realtime,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
            Self::Realtime => "realtime",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Email, Self::Sms, Self::Realtime]
            .into_iter()
            .find(|c| c.as_str() == text)
    }
}

/// Who a notification goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Recipient {
    /// A user of the app: their e-mail address (email) or open connections (realtime).
    UserId(String),
    /// An e-mail address.
    Email(String),
    /// A phone number in E.164 form (`+` and 8 to 15 digits).
    Phone(String),
}

impl Recipient {
    /// Checks the recipient's shape and that the channel can reach it; `field`
    /// names it in errors (`to[2]`). E-mail addresses are lowercased.
    pub fn validated(self, channel: Channel, field: &str) -> Result<Self> {
        let refuse = |what: &str| {
            Err(Error::invalid(
                field,
                format!("{what} cannot receive a {} notification", channel.as_str()),
            ))
        };
        match (&self, channel) {
            (Self::UserId(id), Channel::Email | Channel::Realtime) => {
                if (1..=64).contains(&id.len()) && id.bytes().all(|c| c.is_ascii_graphic()) {
                    Ok(self)
                } else {
                    Err(Error::invalid(field, "userId must be a user id of the app"))
                }
            }
            (Self::Email(address), Channel::Email) => crate::users::normalize_email(address)
                .map(Self::Email)
                .map_err(|_| Error::invalid(field, "email must be an e-mail address")),
            (Self::Phone(number), Channel::Sms) => {
                if is_e164(number) {
                    Ok(self)
                } else {
                    Err(Error::invalid(
                        field,
                        "phone must be in E.164 form: + then the country code and number, 8 to 15 digits",
                    ))
                }
            }
            (Self::UserId(_), Channel::Sms) => refuse("a userId (send SMS to phone numbers)"),
            (Self::Email(_), _) => refuse("an e-mail address"),
            (Self::Phone(_), _) => refuse("a phone number"),
        }
    }

    /// The stored form: `user:{id}`, `email:{address}`, `phone:{number}`.
    pub fn key(&self) -> String {
        match self {
            Self::UserId(id) => format!("user:{id}"),
            Self::Email(address) => format!("email:{address}"),
            Self::Phone(number) => format!("phone:{number}"),
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        let (kind, value) = key.split_once(':')?;
        let value = value.to_owned();
        match kind {
            "user" => Some(Self::UserId(value)),
            "email" => Some(Self::Email(value)),
            "phone" => Some(Self::Phone(value)),
            _ => None,
        }
    }
}

fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len())
            && digits.bytes().all(|c| c.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

/// Where a notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting for (or being retried by) the notify function.
    Queued,
    /// Handed to SES or SNS (which gave `providerMessageId`), or pushed.
    Sent,
    /// Could not be sent (see `error`), or bounced after sending.
    Failed,
    /// Not sent: the address is on the app's suppression list.
    Suppressed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Suppressed => "suppressed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Queued, Self::Sent, Self::Failed, Self::Suppressed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// One delivery, as stored and as `GET /notify/{appId}/{id}` shows it
/// (without the bodies, which can be large and are the app's own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: String,
    pub app_id: String,
    pub channel: Channel,
    pub to: Recipient,
    pub status: Status,
    /// The config template it was rendered from, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    pub subject: String,
    #[serde(skip)]
    pub text: Option<String>,
    #[serde(skip)]
    pub html: Option<String>,
    /// SES's or SNS's message id once sent.
    pub provider_message_id: Option<String>,
    /// Why it failed, for `failed` and `suppressed`.
    pub error: Option<String>,
    /// Who asked for it (`user:{id}`, `key:{id}`, `operator:{arn}`).
    pub requested_by: String,
    pub created_at: String,
    pub updated_at: String,
}

impl Notification {
    /// The rendered content to send.
    pub fn content(&self) -> Rendered {
        Rendered {
            subject: self.subject.clone(),
            text: self.text.clone(),
            html: self.html.clone(),
        }
    }

    pub(crate) fn to_item(&self) -> Item {
        let mut item = Item::new();
        item.insert("id".into(), attr::s(&self.id));
        item.insert("appId".into(), attr::s(&self.app_id));
        item.insert("channel".into(), attr::s(self.channel.as_str()));
        item.insert("to".into(), attr::s(self.to.key()));
        item.insert("status".into(), attr::s(self.status.as_str()));
        if let Some(template) = &self.template {
            item.insert("template".into(), attr::s(template));
        }
        item.insert("subject".into(), attr::s(&self.subject));
        if let Some(text) = &self.text {
            item.insert("text".into(), attr::s(text));
        }
        if let Some(html) = &self.html {
            item.insert("html".into(), attr::s(html));
        }
        if let Some(id) = &self.provider_message_id {
            item.insert("providerMessageId".into(), attr::s(id));
        }
        if let Some(error) = &self.error {
            item.insert("error".into(), attr::s(error));
        }
        item.insert("requestedBy".into(), attr::s(&self.requested_by));
        item.insert("createdAt".into(), attr::s(&self.created_at));
        item.insert("updatedAt".into(), attr::s(&self.updated_at));
        item
    }

    pub(crate) fn from_item(item: &Item) -> Result<Self> {
        let bad = |what: &str| Error::Internal(format!("stored notification has a bad {what}"));
        Ok(Self {
            id: attr::get_s(item, "id")?,
            app_id: attr::get_s(item, "appId")?,
            channel: Channel::parse(&attr::get_s(item, "channel")?)
                .ok_or_else(|| bad("channel"))?,
            to: Recipient::from_key(&attr::get_s(item, "to")?).ok_or_else(|| bad("recipient"))?,
            status: Status::parse(&attr::get_s(item, "status")?).ok_or_else(|| bad("status"))?,
            template: attr::opt_s(item, "template"),
            subject: attr::opt_s(item, "subject").unwrap_or_default(),
            text: attr::opt_s(item, "text"),
            html: attr::opt_s(item, "html"),
            provider_message_id: attr::opt_s(item, "providerMessageId"),
            error: attr::opt_s(item, "error"),
            requested_by: attr::opt_s(item, "requestedBy").unwrap_or_default(),
            created_at: attr::opt_s(item, "createdAt").unwrap_or_default(),
            updated_at: attr::opt_s(item, "updatedAt").unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_checked_against_their_channel() {
        let ok = |r: Recipient, c| r.validated(c, "to[0]");
        assert_eq!(
            ok(Recipient::Email(" Ann@Example.com".into()), Channel::Email).unwrap(),
            Recipient::Email("ann@example.com".into())
        );
        assert!(ok(Recipient::Phone("+33612345678".into()), Channel::Sms).is_ok());
        assert!(ok(Recipient::Phone("0612345678".into()), Channel::Sms).is_err());
        assert!(ok(Recipient::Phone("+0612345678".into()), Channel::Sms).is_err());
        assert!(ok(Recipient::Email("a@b.io".into()), Channel::Sms).is_err());
        assert!(ok(Recipient::UserId("u1".into()), Channel::Sms).is_err());
        assert!(ok(Recipient::UserId("u1".into()), Channel::Realtime).is_ok());
        assert!(ok(Recipient::Phone("+33612345678".into()), Channel::Realtime).is_err());
        let json: Recipient = serde_json::from_str(r#"{"userId":"u1"}"#).unwrap();
        assert_eq!(json, Recipient::UserId("u1".into()));
        assert_eq!(Recipient::from_key(&json.key()), Some(json));
    }

    #[test]
    fn items_round_trip() {
        let n = Notification {
            id: "n1".into(),
            app_id: "shop".into(),
            channel: Channel::Sms,
            to: Recipient::Phone("+14155550100".into()),
            status: Status::Queued,
            template: Some("code".into()),
            subject: String::new(),
            text: Some("Your code: 1234".into()),
            html: None,
            provider_message_id: None,
            error: None,
            requested_by: "key:k1".into(),
            created_at: "t".into(),
            updated_at: "t".into(),
        };
        assert_eq!(Notification::from_item(&n.to_item()).unwrap(), n);
        let shown = serde_json::to_value(&n).unwrap();
        assert_eq!(shown["to"], serde_json::json!({"phone": "+14155550100"}));
        assert!(shown.get("text").is_none(), "bodies are not shown");
    }
}
