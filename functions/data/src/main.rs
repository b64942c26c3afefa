//! The data Lambda: serves `/api/{appId}/{resource}[/{id}]` (routes arrive with issue #5).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ob_lambda::serve(&ob_api::DATA).await
}
