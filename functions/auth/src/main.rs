//! The auth Lambda: serves `/auth/*` of the HTTP API.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ob_lambda::serve(&ob_api::AUTH).await
}
