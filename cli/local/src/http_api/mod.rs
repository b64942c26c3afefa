//! API Gateway's HTTP API in front of the local functions: the template's route keys pick the function, the stage's
//! throttling applies, and the event and the answer are payload format 2.0, as deployed.

mod event;
mod response;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::response::Response;
use ob_core::route_key::{self, RouteKey};

use crate::events::{Event, InvocationReport};
use crate::ids;
use crate::runtime::{Invocation, MAX_PAYLOAD_BYTES, Outcome, Runtime};
use crate::throttle::TokenBucket;

/// API Gateway's limit on an HTTP API request body.
const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// API Gateway's HTTP API integration timeout.
pub const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);

/// The HTTP API of the stack.
#[derive(Debug, Clone)]
pub struct HttpApiSpec {
    /// Stands in for the API's id in events (`apiId`).
    pub api_id: String,
    pub account_id: String,
    /// `$default` for the template's stage.
    pub stage: String,
    /// Route keys and the function each one's integration invokes.
    pub routes: Vec<(RouteKey, String)>,
    /// The stage's `DefaultRouteSettings` throttling: (requests per second, burst).
    pub throttle: Option<(f64, u32)>,
}

/// Serves the HTTP API; cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpApi(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    spec: HttpApiSpec,
    runtime: Runtime,
    bucket: Option<TokenBucket>,
}

impl HttpApi {
    pub fn new(spec: HttpApiSpec, runtime: Runtime) -> Self {
        let bucket = TokenBucket::for_stage(spec.throttle);
        Self(Arc::new(Inner {
            spec,
            runtime,
            bucket,
        }))
    }

    /// Whether a request would reach a function (else API Gateway answers 404).
    pub fn routes(&self, method: &str, path: &str) -> bool {
        route_key::select(&self.0.spec.routes, method, path).is_some()
    }

    /// Answers one request as API Gateway would.
    pub async fn handle(
        &self,
        peer: SocketAddr,
        local_port: u16,
        request: Request<Body>,
    ) -> Response {
        let request_id = ids::gateway_id();
        let mut response = self.answer(peer, local_port, request, &request_id).await;
        if let Ok(id) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("apigw-requestid", id);
        }
        response
    }

    async fn answer(
        &self,
        peer: SocketAddr,
        local_port: u16,
        request: Request<Body>,
        request_id: &str,
    ) -> Response {
        let spec = &self.0.spec;
        if self.0.bucket.as_ref().is_some_and(|b| !b.allow()) {
            return response::gateway_error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
        }
        let (parts, body) = request.into_parts();
        let method = parts.method.as_str().to_owned();
        let raw_path = parts.uri.path().to_owned();
        let Some((key, function, path_parameters)) =
            route_key::select(&spec.routes, &method, &raw_path)
        else {
            return response::gateway_error(StatusCode::NOT_FOUND, "Not Found");
        };
        let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
            return response::gateway_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request Entity Too Large",
            );
        };
        let event = event::build(&event::Request {
            method: &method,
            raw_path: &raw_path,
            raw_query: parts.uri.query().unwrap_or_default(),
            headers: &parts.headers,
            body: &body,
            source_ip: peer.ip().to_string(),
            port: local_port,
            route_key: key.as_str(),
            path_parameters: &path_parameters,
            request_id,
            api_id: &spec.api_id,
            account_id: &spec.account_id,
            stage: &spec.stage,
            at: time::OffsetDateTime::now_utc(),
        });
        let payload = event.to_string().into_bytes();
        let trigger = format!("{method} {raw_path} ({key})");
        if payload.len() > MAX_PAYLOAD_BYTES {
            return response::gateway_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request Entity Too Large",
            );
        }
        let invoked = tokio::time::timeout(
            INTEGRATION_TIMEOUT,
            self.0.runtime.invoke(function, payload),
        )
        .await;
        let (response, result, invocation) = match invoked {
            Err(_) => (
                response::gateway_error(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
                "503 (integration timeout)".to_owned(),
                None,
            ),
            Ok(invocation) => {
                let (response, result) = match &invocation.outcome {
                    Outcome::Response(payload) => match response::from_function(payload) {
                        Some(response) => {
                            let status = response.status().as_u16().to_string();
                            (response, status)
                        }
                        None => (
                            internal_error(),
                            "500 (malformed Lambda response)".to_owned(),
                        ),
                    },
                    Outcome::FunctionError { error_type, .. } => {
                        (internal_error(), format!("500 ({error_type})"))
                    }
                    Outcome::Failed(failure) => {
                        (internal_error(), format!("500 ({})", failure.error_type()))
                    }
                };
                (response, result, Some(invocation))
            }
        };
        self.report(function, trigger, result, invocation);
        response
    }

    fn report(
        &self,
        function: &str,
        trigger: String,
        result: String,
        invocation: Option<Invocation>,
    ) {
        let (request_id, duration, init) = invocation
            .map(|i| (i.request_id, i.duration, i.init))
            .unwrap_or((String::new(), INTEGRATION_TIMEOUT, None));
        self.0
            .runtime
            .events()
            .send(Event::Invoked(InvocationReport {
                function: function.to_owned(),
                trigger,
                result,
                request_id,
                duration,
                init,
            }));
    }
}

fn internal_error() -> Response {
    response::gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}
