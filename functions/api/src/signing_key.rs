//! Loads the stage's token signing key from Secrets Manager, once per cold start.

use ob_core::env::{self, FunctionEnv};
use ob_core::{Error, Result};

/// The key behind the function's `SIGNING_KEY_SECRET_ARN`, as text or binary secret.
pub async fn load(sdk: &aws_config::SdkConfig, env: &FunctionEnv) -> Result<Vec<u8>> {
    let arn = env
        .required(&env::SIGNING_KEY_SECRET_ARN)
        .map_err(|err| Error::Internal(err.to_string()))?;
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
