//! The files Lambda: serves `/files/{appId}/*` (presigned URLs, deletes, listings).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ob_lambda::serve(&ob_api::FILES).await
}
