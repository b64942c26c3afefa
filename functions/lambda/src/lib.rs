//! Runs an HTTP API router as a Lambda function: SDK clients, tables and the
//! signing key are loaded once per cold start, then every invocation is served
//! by the same axum router `obctl dev` and the tests use.

use lambda_http::request::RequestContext;
use lambda_http::{Error, Request, RequestExt};
use ob_api::{AppState, ClientAddr};
use tower::ServiceBuilder;

/// Serves `router` (one of `ob_api`'s per-function routers) as `function`
/// (its short name, the `Function` dimension of the cold-start metric) until Lambda stops us.
pub async fn serve(function: &str, router: fn(AppState) -> axum::Router) -> Result<(), Error> {
    let started = std::time::Instant::now();
    init_logging();
    let sdk = aws_config::load_from_env().await;
    let state = AppState::from_env(&sdk).await?;
    state
        .metrics()
        .cold_start(function, started.elapsed().as_secs_f64() * 1000.0);
    let service = ServiceBuilder::new()
        .map_request(with_gateway_context)
        .service(router(state));
    lambda_http::run(service).await
}

/// Copies API Gateway's request id and the caller's address into the request,
/// replacing any client-sent values, for error bodies, audit and throttling.
fn with_gateway_context(mut request: Request) -> Request {
    let (request_id, source_ip) = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            (ctx.request_id.clone(), ctx.http.source_ip.clone())
        }
        _ => (None, None),
    };
    if let Some(id) = request_id.and_then(|id| id.parse().ok()) {
        request.headers_mut().insert("x-amzn-requestid", id);
    }
    if let Some(ip) = source_ip {
        request.extensions_mut().insert(ClientAddr(ip));
    }
    request
}

/// JSON logs for CloudWatch, level from `RUST_LOG`. Secrets are never logged:
/// handlers log error details and request ids only.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .init();
}
