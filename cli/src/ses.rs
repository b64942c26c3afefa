//! The stage's SES set-up outside the stack: the sender identity (`obctl bootstrap` starts its verification) and the checks `deploy` and `diff` warn about (unverified sender, SES sandbox, paused sending).

use aws_sdk_sesv2::operation::get_account::GetAccountOutput;
use aws_sdk_sesv2::operation::get_email_identity::GetEmailIdentityError;
use serde::Serialize;

use crate::aws::{Aws, aws_error};
use crate::error::Result;
use crate::stage::Stage;

/// Something about the stage's account an operator should fix; a deploy goes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Warning {
    /// Stable: `ses_sender_unverified`, `ses_sandbox`, `ses_sending_disabled`, `ses_unchecked`.
    pub code: &'static str,
    pub message: String,
    pub fix: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "warning: {}\n  fix: {}", self.message, self.fix)
    }
}

/// What SES says about one identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Identity {
    Missing,
    Pending,
    Verified,
}

async fn identity(client: &aws_sdk_sesv2::Client, name: &str) -> Result<Identity, String> {
    match client
        .get_email_identity()
        .email_identity(name)
        .send()
        .await
    {
        Ok(out) if out.verified_for_sending_status() => Ok(Identity::Verified),
        Ok(_) => Ok(Identity::Pending),
        Err(err)
            if matches!(
                err.as_service_error(),
                Some(GetEmailIdentityError::NotFoundException(_))
            ) =>
        {
            Ok(Identity::Missing)
        }
        Err(err) => Err(aws_sdk_sesv2::error::DisplayErrorContext(err).to_string()),
    }
}

/// The sender address and its domain, each as SES knows it.
async fn sender_identities(
    client: &aws_sdk_sesv2::Client,
    stage: &Stage,
) -> Result<(Identity, Identity), String> {
    let n = &stage.config.notifications;
    let address = identity(client, &n.sender_address).await?;
    let domain = identity(client, n.sender_domain()).await?;
    Ok((address, domain))
}

/// Starts the verification of the sender address when neither it nor its
/// domain is an SES identity yet (AWS then e-mails a link to the address;
/// the emulator verifies at once). Returns whether it was created.
pub async fn ensure_sender_identity(aws: &Aws, stage: &Stage) -> Result<bool> {
    let client = aws.sesv2();
    let sender = &stage.config.notifications.sender_address;
    let known = sender_identities(&client, stage).await.map_err(|err| {
        crate::error::CliError::new(format!("cannot read the SES identity {sender}: {err}"))
            .fix("check the credentials' ses:GetEmailIdentity permission and the stage's region")
    })?;
    if known != (Identity::Missing, Identity::Missing) {
        return Ok(false);
    }
    client
        .create_email_identity()
        .email_identity(sender)
        .send()
        .await
        .map_err(|err| aws_error(&format!("create the SES identity {sender}"), &err))?;
    Ok(true)
}

/// The warnings about a stage's SES set-up, for `deploy` and `diff`: three
/// calls, in order (GetAccount, then GetEmailIdentity of the address and of
/// its domain). A check that cannot run is itself a warning, never a failure.
pub async fn check(aws: &Aws, stage: &Stage) -> Vec<Warning> {
    let client = aws.sesv2();
    let account = client.get_account().send().await;
    let identities = sender_identities(&client, stage).await;
    let mut warnings = Vec::new();
    match account {
        Ok(out) => warnings.extend(account_warnings(&out, stage, &aws.region())),
        Err(err) => warnings.push(unchecked(
            "the SES account",
            &aws_sdk_sesv2::error::DisplayErrorContext(err).to_string(),
        )),
    }
    match identities {
        Ok(found) => warnings.extend(sender_warning(found, stage, &aws.region())),
        Err(err) => warnings.push(unchecked("the sender identity", &err)),
    }
    warnings
}

fn unchecked(what: &str, err: &str) -> Warning {
    Warning {
        code: "ses_unchecked",
        message: format!("could not check {what}: {err}"),
        fix: "give the deploying credentials ses:GetAccount and ses:GetEmailIdentity, or check SES in the console".into(),
    }
}

/// Sandbox and sending state of the account.
pub fn account_warnings(account: &GetAccountOutput, stage: &Stage, region: &str) -> Vec<Warning> {
    let mut warnings = Vec::new();
    if !account.production_access_enabled() {
        warnings.push(Warning {
            code: "ses_sandbox",
            message: format!(
                "the account is in the SES sandbox in {region}: e-mail reaches verified addresses only (password resets to users will not arrive), at most 200 a day"
            ),
            fix: format!(
                "request production access: `aws sesv2 put-account-details --region {region} --production-access-enabled --mail-type TRANSACTIONAL --website-url https://YOUR-SITE --contact-language EN --use-case-description \"Account e-mails and notifications of {stack}\"` (or SES console > Account dashboard > Request production access)",
                stack = stage.config.stack_name
            ),
        });
    }
    if !account.sending_enabled() {
        warnings.push(Warning {
            code: "ses_sending_disabled",
            message: format!("sending is paused for the SES account in {region}: nothing will be sent"),
            fix: format!("resolve the pause in the SES console's Account dashboard, then `aws sesv2 put-account-sending-attributes --region {region} --sending-enabled`"),
        });
    }
    warnings
}

fn sender_warning(found: (Identity, Identity), stage: &Stage, region: &str) -> Option<Warning> {
    let n = &stage.config.notifications;
    let (address, domain) = found;
    if address == Identity::Verified || domain == Identity::Verified {
        return None;
    }
    let state = match (address, domain) {
        (Identity::Missing, Identity::Missing) => "is not an SES identity",
        _ => "is not verified yet",
    };
    Some(Warning {
        code: "ses_sender_unverified",
        message: format!(
            "the sender {} (notifications.senderAddress) {state} in {region}: every e-mail will fail until it is",
            n.sender_address
        ),
        fix: format!(
            "`obctl bootstrap --stage {}` starts it; then open the link AWS e-mailed to {}, or verify the whole domain {} with its DKIM records (`aws sesv2 create-email-identity --region {region} --email-identity {}` prints them)",
            stage.name,
            n.sender_address,
            n.sender_domain(),
            n.sender_domain()
        ),
    })
}
