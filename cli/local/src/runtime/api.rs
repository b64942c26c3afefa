//! The Lambda Runtime API (2018-06-01) one instance talks to: next invocation, response, invocation error, init error.
//!
//! Answers as Lambda's do: the event with `Lambda-Runtime-Aws-Request-Id`,
//! `-Deadline-Ms`, `-Invoked-Function-Arn` and `-Trace-Id` (`-Client-Context`
//! and `-Cognito-Identity` only come with mobile SDK invocations, which never
//! happen here); `202 {"status":"OK"}` for accepted reports; 400 for a request
//! id that is not the current invocation, 403 for an init error after init,
//! 413 for a response over 6 MB.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::instance::Handle;
use super::pool::{ApiError, Pool};
use super::{Failure, MAX_PAYLOAD_BYTES, Outcome};

#[derive(Debug, Clone)]
struct Ctx {
    pool: Arc<Pool>,
    handle: Arc<Handle>,
}

pub(crate) fn router(pool: Arc<Pool>, handle: Arc<Handle>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{request_id}/response",
            post(response),
        )
        .route(
            "/2018-06-01/runtime/invocation/{request_id}/error",
            post(error),
        )
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .fallback(|| async {
            api_error(
                StatusCode::NOT_FOUND,
                "NotFound",
                "unknown Runtime API path",
            )
        })
        .layer(DefaultBodyLimit::disable())
        .with_state(Ctx { pool, handle })
}

fn api_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"errorMessage": message, "errorType": error_type})),
    )
        .into_response()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

fn refused(err: ApiError) -> Response {
    match err {
        ApiError::InvalidRequestId => api_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "not the invocation this runtime is working on",
        ),
        ApiError::InvalidState => api_error(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            "not allowed in the runtime's current state",
        ),
    }
}

/// Blocks until the pool hands this instance an invocation.
async fn next(State(ctx): State<Ctx>) -> Response {
    if !ctx.pool.ready(ctx.handle.id) {
        return api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Runtime.Stopping",
            "this instance is being stopped; exit",
        );
    }
    let Some(job) = ctx.handle.next_job().await else {
        return api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Runtime.Stopping",
            "this instance is being stopped; exit",
        );
    };
    let Some(event) = ctx.pool.begin(ctx.handle.id, job) else {
        return api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Runtime.Stopping",
            "this instance is being stopped; exit",
        );
    };
    Response::builder()
        .status(StatusCode::OK)
        .header("Lambda-Runtime-Aws-Request-Id", &event.request_id)
        .header("Lambda-Runtime-Deadline-Ms", event.deadline_ms.to_string())
        .header("Lambda-Runtime-Invoked-Function-Arn", &ctx.pool.spec.arn)
        .header("Lambda-Runtime-Trace-Id", &event.trace_id)
        .header("Content-Type", "application/json")
        .body(Body::from(event.payload))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn response(State(ctx): State<Ctx>, Path(request_id): Path<String>, body: Body) -> Response {
    match axum::body::to_bytes(body, MAX_PAYLOAD_BYTES).await {
        Ok(bytes) => {
            match ctx.pool.complete(
                ctx.handle.id,
                &request_id,
                Outcome::Response(bytes.to_vec()),
            ) {
                Ok(()) => accepted(),
                Err(err) => refused(err),
            }
        }
        Err(_) => {
            let _ = ctx.pool.complete(
                ctx.handle.id,
                &request_id,
                Outcome::Failed(Failure::ResponseTooLarge),
            );
            api_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &format!("Exceeded maximum allowed payload size ({MAX_PAYLOAD_BYTES} bytes)."),
            )
        }
    }
}

/// `errorType` from the body, else the `Lambda-Runtime-Function-Error-Type` header.
fn error_type(headers: &HeaderMap, body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["errorType"].as_str().map(str::to_owned))
        .or_else(|| {
            headers
                .get("lambda-runtime-function-error-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "Unhandled".to_owned())
}

async fn error(
    State(ctx): State<Ctx>,
    Path(request_id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let outcome = Outcome::FunctionError {
        error_type: error_type(&headers, &body),
        body,
    };
    match ctx.pool.complete(ctx.handle.id, &request_id, outcome) {
        Ok(()) => accepted(),
        Err(err) => refused(err),
    }
}

async fn init_error(State(ctx): State<Ctx>, headers: HeaderMap, body: String) -> Response {
    let message = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["errorMessage"].as_str().map(str::to_owned))
        .unwrap_or(body.clone());
    match ctx
        .pool
        .init_error(ctx.handle.id, error_type(&headers, &body), message)
    {
        Ok(()) => accepted(),
        Err(err) => refused(err),
    }
}
