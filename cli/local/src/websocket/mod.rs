//! API Gateway's WebSocket API in front of the local functions: `$connect` decides the handshake, messages take the
//! route the selection expression picks, RouteResponses send the function's reply back, `$disconnect` follows every
//! close, and the management API (`@connections`) reaches connections by id.

mod connection;
mod events;
pub(crate) mod management;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::events::{Event, InvocationReport};
use crate::ids;
use crate::runtime::{Invocation, Outcome, Runtime};
use crate::throttle::TokenBucket;
use connection::Connection;
use events::ConnectionContext;

/// API Gateway's limits on a WebSocket connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Closed after this long without a message from the client.
    pub idle: Duration,
    /// Closed after this long in any case.
    pub max_duration: Duration,
    pub max_message_bytes: usize,
    pub max_frame_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(10 * 60),
            max_duration: Duration::from_secs(2 * 60 * 60),
            max_message_bytes: 128 * 1024,
            max_frame_bytes: 32 * 1024,
        }
    }
}

/// WebSocket API integrations time out after 29 seconds.
const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(29);

/// One route of the WebSocket API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketRoute {
    pub key: String,
    pub function: String,
    /// A `$default` RouteResponse: the function's reply goes back to the client.
    pub two_way: bool,
}

/// The WebSocket API of the stack.
#[derive(Debug, Clone)]
pub struct WebSocketSpec {
    pub api_id: String,
    /// The stage: the endpoint is `/{stage}`, the management API `/{stage}/@connections/{id}`.
    pub stage: String,
    /// The JSON path of `$request.body.<path>`, the route selection expression.
    pub selection_field: Vec<String>,
    pub routes: Vec<WebSocketRoute>,
    pub throttle: Option<(f64, u32)>,
    pub limits: Limits,
}

impl WebSocketSpec {
    /// Parses `$request.body.action`; other forms are not supported locally.
    pub fn selection_field(expression: &str) -> Result<Vec<String>, String> {
        let path = expression
            .strip_prefix("$request.body.")
            .filter(|p| !p.is_empty() && p.split('.').all(|s| !s.is_empty()))
            .ok_or_else(|| {
                format!(
                    "route selection expression {expression:?}: only `$request.body.<field>` is supported locally"
                )
            })?;
        Ok(path.split('.').map(str::to_owned).collect())
    }

    fn route(&self, key: &str) -> Option<&WebSocketRoute> {
        self.routes.iter().find(|r| r.key == key)
    }
}

/// Serves the WebSocket API; cheap to clone.
#[derive(Debug, Clone)]
pub struct WebSocketApi(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    spec: WebSocketSpec,
    runtime: Runtime,
    bucket: Option<TokenBucket>,
    connections: Mutex<HashMap<String, Arc<Connection>>>,
}

impl WebSocketApi {
    pub fn new(spec: WebSocketSpec, runtime: Runtime) -> Self {
        let bucket = TokenBucket::for_stage(spec.throttle);
        Self(Arc::new(Inner {
            spec,
            runtime,
            bucket,
            connections: Mutex::new(HashMap::new()),
        }))
    }

    pub fn stage(&self) -> &str {
        &self.0.spec.stage
    }

    fn connections(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Connection>>> {
        self.0
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn connection(&self, id: &str) -> Option<Arc<Connection>> {
        self.connections().get(id).cloned()
    }

    /// How many clients are connected.
    pub fn connected(&self) -> usize {
        self.connections().len()
    }

    /// The handshake: `$connect` decides, with its status, whether the client gets a socket.
    pub async fn upgrade(
        &self,
        peer: SocketAddr,
        headers: HeaderMap,
        raw_query: Option<String>,
        upgrade: WebSocketUpgrade,
    ) -> Response {
        let spec = &self.0.spec;
        if self.0.bucket.as_ref().is_some_and(|b| !b.allow()) {
            return gateway_error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
        }
        let ctx = ConnectionContext {
            connection_id: ids::gateway_id(),
            api_id: spec.api_id.clone(),
            stage: spec.stage.clone(),
            domain: header(&headers, "host").unwrap_or_default(),
            source_ip: peer.ip().to_string(),
            user_agent: header(&headers, "user-agent"),
            connected_at: time::OffsetDateTime::now_utc(),
        };
        let mut accepted_headers = Vec::new();
        if let Some(route) = spec.route("$connect") {
            let request_id = ids::gateway_id();
            let event = events::connect(
                &ctx,
                &headers,
                raw_query.as_deref().unwrap_or_default(),
                &request_id,
            );
            let invocation = self.invoke(route, event, "$connect").await;
            let answer = invocation.as_ref().and_then(|i| match &i.outcome {
                Outcome::Response(payload) => serde_json::from_slice::<Value>(payload).ok(),
                _ => None,
            });
            let status = answer
                .as_ref()
                .map(|a| a["statusCode"].as_u64().map_or(200, |s| s as u16));
            self.report(
                route,
                "ws $connect",
                status.map_or("500".into(), |s| s.to_string()),
                invocation,
            );
            let Some(answer) = answer else {
                return gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error");
            };
            let status = status
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::OK);
            if !status.is_success() {
                let body = answer["body"].as_str().unwrap_or_default().to_owned();
                return (status, body).into_response();
            }
            if let Some(extra) = answer["headers"].as_object() {
                accepted_headers = extra
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect();
            }
        }
        let (connection, outbox) = Connection::new(ctx);
        self.connections().insert(
            connection.ctx.connection_id.clone(),
            Arc::clone(&connection),
        );
        let api = self.clone();
        let limits = spec.limits;
        let mut response = upgrade
            .max_message_size(limits.max_message_bytes)
            .max_frame_size(limits.max_frame_bytes)
            .on_failed_upgrade({
                let api = self.clone();
                let id = connection.ctx.connection_id.clone();
                move |_| {
                    api.connections().remove(&id);
                }
            })
            .on_upgrade(move |socket| async move {
                connection::serve(api, connection, socket, outbox).await;
            });
        for (name, value) in accepted_headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }

    /// Invokes a route's function with an event; `None` when the integration timed out.
    async fn invoke(
        &self,
        route: &WebSocketRoute,
        event: Value,
        _label: &str,
    ) -> Option<Invocation> {
        let payload = event.to_string().into_bytes();
        tokio::time::timeout(
            INTEGRATION_TIMEOUT,
            self.0.runtime.invoke(&route.function, payload),
        )
        .await
        .ok()
    }

    fn report(
        &self,
        route: &WebSocketRoute,
        trigger: &str,
        result: String,
        invocation: Option<Invocation>,
    ) {
        let (request_id, duration, init) = invocation
            .map(|i| (i.request_id, i.duration, i.init))
            .unwrap_or((String::new(), INTEGRATION_TIMEOUT, None));
        let result = match &result[..] {
            "" => "ok".to_owned(),
            _ => result,
        };
        self.0
            .runtime
            .events()
            .send(Event::Invoked(InvocationReport {
                function: route.function.clone(),
                trigger: trigger.to_owned(),
                result,
                request_id,
                duration,
                init,
            }));
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn gateway_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}
