//! The files Lambda: serves `/files/{appId}/*` (routes arrive with issue #6).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ob_lambda::serve(ob_api::files_router).await
}
