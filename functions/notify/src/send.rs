//! The two providers: e-mail through SES (v2 `SendEmail`) and SMS through SNS (`Publish` to a phone number).
//!
//! Every failure is sorted once, here, by the service's error type: a message
//! the provider refuses for what it is (a rejected address or content, a bad
//! number) fails for good; anything an operator or time can fix (throttling,
//! a paused or unverified account, a 5xx, the network) is retried by the
//! queue and dead-lettered after its last attempt, so nothing is lost.

use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, MessageTag};
use aws_sdk_sns::operation::publish::PublishError;
use aws_sdk_sns::types::MessageAttributeValue;
use ob_core::notify::Rendered;

/// Why a send did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The provider refused this message for good: record it as failed.
    Permanent(String),
    /// Worth another attempt (the queue retries, then dead-letters).
    Retry(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Permanent(why) | Self::Retry(why) => f.write_str(why),
        }
    }
}

impl From<ob_core::Error> for Failure {
    /// Our own storage failing is never the message's fault.
    fn from(err: ob_core::Error) -> Self {
        Self::Retry(err.to_string())
    }
}

/// A tag SES carries into the message's bounce and complaint events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag<'a> {
    pub name: &'static str,
    pub value: &'a str,
}

/// SES as the stage's sender: one client per cold start.
#[derive(Debug, Clone)]
pub struct Mailer {
    client: aws_sdk_sesv2::Client,
    /// `"Name" <address>`, RFC 2047-encoded when the name is not ASCII.
    from: String,
    reply_to: String,
    configuration_set: String,
}

/// The From header: the display name quoted, or encoded when not ASCII.
pub fn from_header(name: &str, address: &str) -> String {
    if name.is_ascii() {
        format!("\"{name}\" <{address}>")
    } else {
        let encoded = aws_smithy_types::base64::encode(name.as_bytes());
        format!("=?UTF-8?B?{encoded}?= <{address}>")
    }
}

/// SES tag values may only hold letters, digits, '_' and '-'.
fn tag_value(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(256)
        .collect()
}

impl Mailer {
    pub fn new(
        client: aws_sdk_sesv2::Client,
        sender_name: &str,
        sender_address: &str,
        reply_to: &str,
        configuration_set: &str,
    ) -> Self {
        Self {
            client,
            from: from_header(sender_name, sender_address),
            reply_to: reply_to.to_owned(),
            configuration_set: configuration_set.to_owned(),
        }
    }

    /// Sends one e-mail to one address; the answer is SES's message id.
    pub async fn send(
        &self,
        to: &str,
        content: &Rendered,
        tags: &[Tag<'_>],
    ) -> Result<String, Failure> {
        let text = |data: &str| {
            Content::builder()
                .data(data)
                .charset("UTF-8")
                .build()
                .map_err(|e| Failure::Permanent(format!("build e-mail: {e}")))
        };
        let mut body = Body::builder();
        if let Some(t) = &content.text {
            body = body.text(text(t)?);
        }
        if let Some(h) = &content.html {
            body = body.html(text(h)?);
        }
        let message = Message::builder()
            .subject(text(&content.subject)?)
            .body(body.build())
            .build();
        let tags = tags
            .iter()
            .map(|tag| {
                MessageTag::builder()
                    .name(tag.name)
                    .value(tag_value(tag.value))
                    .build()
                    .map_err(|e| Failure::Permanent(format!("build e-mail tag: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let result = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .reply_to_addresses(&self.reply_to)
            .destination(Destination::builder().to_addresses(to).build())
            .content(EmailContent::builder().simple(message).build())
            .configuration_set_name(&self.configuration_set)
            .set_email_tags(Some(tags))
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.message_id().unwrap_or_default().to_owned()),
            Err(err) => {
                let detail = aws_sdk_sesv2::error::DisplayErrorContext(&err).to_string();
                Err(match err.as_service_error() {
                    Some(
                        SendEmailError::MessageRejected(_) | SendEmailError::BadRequestException(_),
                    ) => Failure::Permanent(format!("SES refused the message: {detail}")),
                    _ => Failure::Retry(format!("SES did not take the message: {detail}")),
                })
            }
        }
    }
}

/// SNS for SMS: one client per cold start.
#[derive(Debug, Clone)]
pub struct Texter {
    client: aws_sdk_sns::Client,
}

impl Texter {
    pub fn new(client: aws_sdk_sns::Client) -> Self {
        Self { client }
    }

    /// Sends one transactional SMS; the answer is SNS's message id.
    pub async fn send(&self, phone: &str, text: &str) -> Result<String, Failure> {
        let transactional = MessageAttributeValue::builder()
            .data_type("String")
            .string_value("Transactional")
            .build()
            .map_err(|e| Failure::Permanent(format!("build SMS: {e}")))?;
        let result = self
            .client
            .publish()
            .phone_number(phone)
            .message(text)
            .message_attributes("AWS.SNS.SMS.SMSType", transactional)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.message_id().unwrap_or_default().to_owned()),
            Err(err) => {
                let detail = aws_sdk_sns::error::DisplayErrorContext(&err).to_string();
                Err(match err.as_service_error() {
                    Some(
                        PublishError::InvalidParameterException(_)
                        | PublishError::InvalidParameterValueException(_)
                        | PublishError::ValidationException(_)
                        | PublishError::EndpointDisabledException(_),
                    ) => Failure::Permanent(format!("SNS refused the SMS: {detail}")),
                    _ => Failure::Retry(format!("SNS did not take the SMS: {detail}")),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_and_tags_are_encoded_for_ses() {
        assert_eq!(
            from_header("One Backend (dev)", "no-reply@x.io"),
            "\"One Backend (dev)\" <no-reply@x.io>"
        );
        assert_eq!(
            from_header("Café", "no-reply@x.io"),
            "=?UTF-8?B?Q2Fmw6k=?= <no-reply@x.io>"
        );
        assert_eq!(tag_value("0195f0c2-7a1b-7c3d"), "0195f0c2-7a1b-7c3d");
        assert_eq!(tag_value("a.b@c d"), "a_b_c_d");
    }
}
