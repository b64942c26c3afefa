//! `obctl dev`'s local Lambda runtime and API Gateway (ob-local), driven with a function that misbehaves on request
//! (`tests/src/bin/fixture-function.rs`) and a real function binary: the events the HTTP API sends and how answers
//! map back, failures answered as API Gateway answers them while the server keeps serving, and init errors naming
//! the variable.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ob_core::route_key::RouteKey;
use ob_local::server::{self, Gateway};
use ob_local::{
    Event, EventBus, Failure, FunctionSpec, HttpApi, HttpApiSpec, Outcome, Runtime, WebSocketApi,
    WebSocketSpec,
};
use ob_tests::http;
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// How long a test waits for an expected event before failing (a guard, not a measurement).
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

/// A binary of this workspace's build, next to `obctl`.
pub(crate) fn executable(name: &str) -> PathBuf {
    ob_tests::obctl::obctl_bin().with_file_name(name)
}

/// A function of the test stack; `env` comes on top of what every function needs.
pub(crate) fn function(
    name: &str,
    binary: &str,
    timeout: Duration,
    env: &[(&str, &str)],
) -> FunctionSpec {
    let mut all: Vec<(String, String)> = [
        ("RUST_LOG", "info"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ]
    .iter()
    .chain(env)
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    all.dedup_by(|a, b| a.0 == b.0);
    FunctionSpec {
        name: name.to_owned(),
        function_name: format!("test-{name}"),
        arn: format!("arn:aws:lambda:us-east-1:123456789012:function:test-{name}"),
        executable: executable(binary),
        memory_mb: 128,
        timeout,
        region: "us-east-1".into(),
        log_group: format!("/aws/lambda/test-{name}"),
        log_format: Some("JSON".into()),
        env: all,
        max_instances: 2,
    }
}

pub(crate) fn http_api(routes: &[(&str, &str)]) -> HttpApiSpec {
    HttpApiSpec {
        api_id: "httpapi".into(),
        account_id: "123456789012".into(),
        stage: "$default".into(),
        routes: routes
            .iter()
            .map(|(key, function)| (RouteKey::parse(key).unwrap(), (*function).to_owned()))
            .collect(),
        throttle: None,
    }
}

/// A local stack on a free port; its processes go when the test's runtime ends.
pub(crate) struct Local {
    pub addr: SocketAddr,
    pub runtime: Runtime,
    /// Every event so far, in order; `take` removes the ones a test consumed.
    events: Arc<Mutex<Vec<Event>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Local {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Local {
    pub async fn start(
        functions: Vec<FunctionSpec>,
        http: Option<HttpApiSpec>,
        websocket: Option<WebSocketSpec>,
    ) -> Self {
        let bus = EventBus::default();
        let events = Arc::new(Mutex::new(Vec::new()));
        let recorder = record(bus.subscribe(), Arc::clone(&events));
        let runtime = Runtime::new(functions, bus);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let gateway = Gateway {
            runtime: runtime.clone(),
            http: http.map(|spec| HttpApi::new(spec, runtime.clone())),
            websocket: websocket.map(|spec| WebSocketApi::new(spec, runtime.clone())),
        };
        let app = server::router(gateway, addr.port(), axum::Router::new())
            .into_make_service_with_connect_info::<SocketAddr>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            addr,
            runtime,
            events,
            tasks: vec![server, recorder],
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The first event so far (or to come) that `pick` accepts; it is consumed.
    pub async fn next<T>(&mut self, what: &str, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            {
                let mut events = self.events.lock().unwrap();
                if let Some((i, found)) = events
                    .iter()
                    .enumerate()
                    .find_map(|(i, e)| pick(e).map(|f| (i, f)))
                {
                    events.remove(i);
                    return found;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {what} within {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The report of the next invocation of `function`.
    pub async fn invoked(&mut self, function: &str) -> ob_local::InvocationReport {
        self.next(&format!("invocation of {function}"), |e| match e {
            Event::Invoked(r) if r.function == function => Some(r.clone()),
            _ => None,
        })
        .await
    }

    /// Why the next instance of `function` to stop stopped, with its stderr.
    pub async fn stopped(&mut self, function: &str) -> (String, Vec<String>) {
        self.next(&format!("{function} stopping"), |e| match e {
            Event::InstanceStopped {
                function: f,
                reason,
                stderr,
                ..
            } if f == function => Some((reason.clone(), stderr.clone())),
            _ => None,
        })
        .await
    }
}

/// Keeps every event of the bus, in order.
fn record(
    mut events: broadcast::Receiver<Event>,
    into: Arc<Mutex<Vec<Event>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            into.lock().unwrap().push(event);
        }
    })
}

async fn get(local: &Local, path: &str) -> http::Reply {
    http::exchange("GET", &local.url(path), &[], &[]).await
}

fn body_json(reply: &http::Reply) -> Value {
    serde_json::from_slice(&reply.body)
        .unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&reply.body)))
}

#[tokio::test]
async fn http_events_are_payload_format_2_and_answers_map_back() {
    let fixture = function("fixture", "fixture-function", Duration::from_secs(10), &[]);
    let routes = [
        ("ANY /echo", "fixture"),
        ("ANY /echo/{id}", "fixture"),
        ("ANY /{proxy+}", "fixture"),
    ];
    let mut local = Local::start(vec![fixture], Some(http_api(&routes)), None).await;

    let headers = [
        ("Cookie".to_owned(), "a=1; b=2".to_owned()),
        ("X-Multi".to_owned(), "one".to_owned()),
        ("X-Multi".to_owned(), "two".to_owned()),
    ];
    let reply = http::exchange(
        "GET",
        &local.url("/echo/abc%20d?x=1&x=2&q=a%2Fb"),
        &headers,
        &[],
    )
    .await;
    assert_eq!(reply.status, 200);
    let event = body_json(&reply);
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "ANY /echo/{id}");
    assert_eq!(event["rawPath"], "/echo/abc%20d");
    assert_eq!(event["rawQueryString"], "x=1&x=2&q=a%2Fb");
    assert_eq!(
        event["queryStringParameters"],
        json!({"x": "1,2", "q": "a/b"})
    );
    assert_eq!(event["pathParameters"], json!({"id": "abc d"}));
    assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
    assert_eq!(
        event["headers"]["x-multi"], "one,two",
        "lower-cased, comma-joined"
    );
    assert!(event["headers"].get("cookie").is_none());
    let context = &event["requestContext"];
    assert_eq!(context["http"]["method"], "GET");
    assert_eq!(context["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(context["routeKey"], "ANY /echo/{id}");
    assert_eq!(context["stage"], "$default");
    assert_eq!(
        reply.header("apigw-requestid"),
        [context["requestId"].as_str().unwrap()]
    );
    assert!(context["time"].as_str().unwrap().ends_with(" +0000"));
    assert_eq!(event["isBase64Encoded"], false);

    let binary = [0_u8, 1, 2, 255];
    let sent = [("Content-Type".to_owned(), "image/png".to_owned())];
    let event = body_json(&http::exchange("POST", &local.url("/echo"), &sent, &binary).await);
    assert_eq!(event["isBase64Encoded"], true);
    assert_eq!(event["body"], "AAEC/w==");
    let sent = [("Content-Type".to_owned(), "application/json".to_owned())];
    let event = body_json(&http::exchange("POST", &local.url("/echo"), &sent, b"{\"a\":1}").await);
    assert_eq!(
        (event["body"].as_str(), event["isBase64Encoded"].as_bool()),
        (Some("{\"a\":1}"), Some(false))
    );

    let reply = get(&local, "/binary").await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.body, binary, "base64 bodies are decoded");
    assert_eq!(reply.header("set-cookie"), ["a=1; Path=/", "b=2"]);
    let plain = get(&local, "/plain").await;
    assert_eq!(
        (plain.status, body_json(&plain)),
        (200, json!({"hello": "world"}))
    );
    assert_eq!(plain.header("content-type"), ["application/json"]);

    let unrouted = get(&local, "/").await;
    assert_eq!(
        (unrouted.status, body_json(&unrouted)),
        (404, json!({"message": "Not Found"}))
    );

    let report = local.invoked("fixture").await;
    assert_eq!(report.trigger, "GET /echo/abc%20d (ANY /echo/{id})");
    assert_eq!(report.result, "200");
    assert!(
        report.init.is_some(),
        "the first invocation is a cold start"
    );
    let report = local.invoked("fixture").await;
    assert!(report.init.is_none(), "the instance is warm now");
}

#[tokio::test]
async fn the_stage_throttle_answers_429() {
    let fixture = function("fixture", "fixture-function", Duration::from_secs(10), &[]);
    let mut api = http_api(&[("ANY /{proxy+}", "fixture")]);
    api.throttle = Some((0.01, 2));
    let local = Local::start(vec![fixture], Some(api), None).await;
    assert_eq!(get(&local, "/plain").await.status, 200);
    assert_eq!(get(&local, "/plain").await.status, 200);
    let throttled = get(&local, "/plain").await;
    assert_eq!(
        (throttled.status, body_json(&throttled)),
        (429, json!({"message": "Too Many Requests"}))
    );
}

#[tokio::test]
async fn a_crash_a_timeout_and_a_failed_init_get_api_gateways_500_and_serving_goes_on() {
    let fixture = function("fixture", "fixture-function", Duration::from_secs(1), &[]);
    let broken = function(
        "broken",
        "fixture-function",
        Duration::from_secs(1),
        &[("FIXTURE_FAIL_INIT", "1")],
    );
    let routes = [
        ("ANY /broken/{proxy+}", "broken"),
        ("ANY /{proxy+}", "fixture"),
    ];
    let mut local = Local::start(vec![fixture, broken], Some(http_api(&routes)), None).await;
    let internal = json!({"message": "Internal Server Error"});

    let crashed = get(&local, "/crash").await;
    assert_eq!(
        (crashed.status, body_json(&crashed)),
        (500, internal.clone())
    );
    let (reason, stderr) = local.stopped("fixture").await;
    assert!(reason.contains("exit status: 3"), "{reason}");
    assert!(
        stderr.iter().any(|l| l.contains("crashing on purpose")),
        "{stderr:?}"
    );
    assert_eq!(
        local.invoked("fixture").await.result,
        "500 (Runtime.ExitError)"
    );
    assert_eq!(
        get(&local, "/echo").await.status,
        200,
        "a new instance serves"
    );
    assert!(
        local.invoked("fixture").await.init.is_some(),
        "after a cold start"
    );

    let started = std::time::Instant::now();
    let slow = get(&local, "/sleep").await;
    assert_eq!((slow.status, body_json(&slow)), (500, internal.clone()));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped at the 1 s timeout"
    );
    let (reason, _) = local.stopped("fixture").await;
    assert_eq!(reason, "Task timed out after 1.00 seconds");
    assert_eq!(get(&local, "/echo").await.status, 200);

    let failed = get(&local, "/error").await;
    assert_eq!((failed.status, body_json(&failed)), (500, internal.clone()));

    for _ in 0..2 {
        let refused = get(&local, "/broken/x").await;
        assert_eq!(
            (refused.status, body_json(&refused)),
            (500, internal.clone())
        );
        let (reason, _) = local.stopped("broken").await;
        assert!(reason.contains("FIXTURE_FAIL_INIT is set"), "{reason}");
    }
    assert_eq!(
        get(&local, "/plain").await.status,
        200,
        "other functions still serve"
    );
}

#[tokio::test]
async fn a_real_function_missing_a_variable_fails_its_init_naming_it() {
    let admin = function(
        "admin",
        "ob-admin",
        Duration::from_secs(5),
        &[
            ("STAGE", "local"),
            (
                "SIGNING_KEY_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:k",
            ),
            ("CORS_ORIGINS", "http://localhost:5173"),
            ("APPS_TABLE", "apps"),
            ("CONFIG_TABLE", "config"),
            ("API_KEYS_TABLE", "keys"),
            ("AUDIT_TABLE", "audit"),
        ],
    );
    let local = Local::start(vec![admin], None, None).await;
    let invocation = local.runtime.invoke("admin", b"{}".to_vec()).await;
    let Outcome::Failed(Failure::Init {
        error_type,
        message,
        ..
    }) = &invocation.outcome
    else {
        panic!("not an init failure: {:?}", invocation.outcome);
    };
    assert_eq!(error_type, "InvalidEnvironment");
    assert!(
        message.contains("AUDIT_RETENTION_DAYS is not set"),
        "{message}"
    );
}
