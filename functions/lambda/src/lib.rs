//! Runs One Backend's functions on Lambda: the function's environment is read and checked, SDK clients, tables and the
//! signing key are loaded once per cold start (a failure is reported to Lambda as an init error naming its cause), then
//! every invocation is served by the same code `obctl dev` and the tests use.

use std::future::Future;

use lambda_http::lambda_runtime::{Runtime, layers::TracingLayer};
use lambda_http::request::RequestContext;
use lambda_http::{Error, Request, RequestExt};
use ob_api::{AppState, ClientAddr};
use ob_core::env::{self, FunctionEnv};
use ob_core::functions::FunctionDef;
use tower::ServiceBuilder;

use crate::after_answer::AfterAnswer;

pub mod after_answer;
pub mod roots;
pub mod sdk;

/// Serves `function`'s HTTP routes until Lambda stops us.
pub async fn serve(function: &'static ob_api::HttpFunction) -> Result<(), Error> {
    let (router, deferred) = start(function.def, |sdk, env| async move {
        let mut state = AppState::from_function_env(&sdk, &env)?;
        if let Some(file_store) = function.file_store {
            state = state.with_file_store(file_store(&sdk, &env)?);
        }
        let deferred = state.deferred().clone();
        Ok((ob_api::http_function_router(function, state), deferred))
    })
    .await?;
    let service = ServiceBuilder::new()
        .map_request(with_gateway_context)
        .service(router);
    // `lambda_http::run`, plus the work the answers deferred, run after each one.
    Runtime::new(lambda_http::Adapter::from(service))
        .layer(TracingLayer::new())
        .layer(AfterAnswer(deferred))
        .run()
        .await
}

/// A cold start: checks the function's environment, starts logging, loads the
/// SDK configuration and runs `init`, then counts the cold start (`ColdStarts`). Any failure is logged and reported to the
/// Runtime API's `/init/error` (so Lambda shows it as the init error, naming
/// the variable or the call that failed) before it is returned.
pub async fn start<T, F, Fut>(function: &'static FunctionDef, init: F) -> Result<T, Error>
where
    F: FnOnce(aws_config::SdkConfig, FunctionEnv) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let started = std::time::Instant::now();
    let env = match FunctionEnv::load(function) {
        Ok(env) => env,
        Err(err) => {
            init_logging("info");
            return Err(init_failed("InvalidEnvironment", err.into()).await);
        }
    };
    if let Err(err) = try_init_logging(env.text(&env::RUST_LOG).unwrap_or("info")) {
        init_logging("info");
        return Err(init_failed("InvalidEnvironment", err).await);
    }
    let metrics = ob_api::state::function_metrics(&env);
    let sdk = sdk_config();
    match init(sdk, env).await {
        Ok(ready) => {
            metrics.cold_start(function.name, started.elapsed().as_secs_f64() * 1000.0);
            Ok(ready)
        }
        Err(err) => Err(init_failed("InitError", err).await),
    }
}

/// Lambda's SDK configuration from the environment alone (`sdk`), its HTTPS client trusting the OS's one root bundle
/// (`roots`), read at the first connection: the native store would read every file of the certificate directory, and
/// parsing even the one bundle's roots was most of a cold start, which a first request without an AWS call never needs.
fn sdk_config() -> aws_config::SdkConfig {
    sdk::from_env(
        |name| std::env::var(name).ok(),
        Some(roots::lazy_https_client()),
    )
}

/// Logs `err` and posts it to `/runtime/init/error`; returns it for `main` to exit with.
async fn init_failed(error_type: &str, err: Error) -> Error {
    tracing::error!(error_type, error = %err, "cold start failed");
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return err; // not under Lambda (or a local runtime): the log and exit code say it
    };
    let body = serde_json::json!({"errorType": error_type, "errorMessage": err.to_string()});
    let report = async {
        let endpoint: http::Uri = format!("http://{api}").parse()?;
        let client = lambda_runtime_api_client::Client::builder()
            .with_endpoint(endpoint)
            .build()?;
        let request = lambda_runtime_api_client::build_request()
            .method("POST")
            .uri("/2018-06-01/runtime/init/error")
            .header("Lambda-Runtime-Function-Error-Type", "Runtime.InitError")
            .header("Content-Type", "application/json")
            .body(lambda_runtime_api_client::body::Body::from(
                body.to_string(),
            ))?;
        client.call(request).await?;
        Ok::<(), Error>(())
    };
    if let Err(report_err) = report.await {
        tracing::error!(error = %report_err, "could not report the init error to the Runtime API");
    }
    err
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

/// JSON logs for CloudWatch at the `RUST_LOG` filter: a default level and `target=level` directives
/// (`info,ob_core=debug`). Secrets are never logged: handlers log error details and request ids only.
fn try_init_logging(filter: &str) -> Result<(), Error> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let targets: tracing_subscriber::filter::Targets = filter.parse().map_err(|err| {
        format!("RUST_LOG is {filter:?}, not a log filter (`info`, `warn,ob_core=debug`): {err}")
    })?;
    tracing_subscriber::fmt()
        .json()
        // `targets` decides; the builder's own default would cap it at INFO.
        .with_max_level(tracing::level_filters::LevelFilter::TRACE)
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .finish()
        .with(targets)
        .try_init()
        .map_err(Error::from)
}

fn init_logging(filter: &str) {
    let _ = try_init_logging(filter);
}

#[cfg(test)]
mod tests {
    /// The configuration every client of a function is built from carries the bundle-trusting client: without one the
    /// SDK would build its default, which reads the native store and its certificate directory.
    #[test]
    fn the_sdk_configuration_carries_the_bundle_client() {
        assert!(super::sdk_config().http_client().is_some());
    }
}
