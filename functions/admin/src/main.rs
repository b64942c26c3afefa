//! The admin Lambda: serves config, verify-key, health and the OpenAPI document.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ob_lambda::serve(&ob_api::ADMIN).await
}
