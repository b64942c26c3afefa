//! Loads the stage's token signing key from Secrets Manager, once per cold start.

use ob_core::{Error, Result};

/// The key behind `SIGNING_KEY_SECRET_ARN`, as text or binary secret.
pub async fn from_env(sdk: &aws_config::SdkConfig) -> Result<Vec<u8>> {
    let arn = std::env::var("SIGNING_KEY_SECRET_ARN")
        .map_err(|_| Error::Internal("SIGNING_KEY_SECRET_ARN is not set".into()))?;
    let secret = aws_sdk_secretsmanager::Client::new(sdk)
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            Error::Internal(format!(
                "read signing key: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            ))
        })?;
    match (secret.secret_string(), secret.secret_binary()) {
        (Some(text), _) => Ok(text.as_bytes().to_vec()),
        (None, Some(blob)) => Ok(blob.as_ref().to_vec()),
        (None, None) => Err(Error::Internal("signing key secret is empty".into())),
    }
}
