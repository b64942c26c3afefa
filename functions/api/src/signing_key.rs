//! Reads the stage's token signing key from Secrets Manager, once per cold start (`ob_core::signing::Keyring`).

use std::sync::Arc;

use ob_core::env::{self, FunctionEnv};
use ob_core::signing::{KeyLoader, KeyRead};
use ob_core::{Error, Result};

/// Reads the key behind the function's `SIGNING_KEY_SECRET_ARN` (checked now), as text or binary secret, when called.
pub fn loader(sdk: &aws_config::SdkConfig, env: &FunctionEnv) -> Result<KeyLoader> {
    let arn = env
        .required(&env::SIGNING_KEY_SECRET_ARN)
        .map_err(|err| Error::Internal(err.to_string()))?
        .to_owned();
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    Ok(Arc::new(move || -> KeyRead {
        let (client, arn) = (client.clone(), arn.clone());
        Box::pin(async move { load(&client, &arn).await })
    }))
}

async fn load(client: &aws_sdk_secretsmanager::Client, arn: &str) -> Result<Vec<u8>> {
    let secret = client
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
