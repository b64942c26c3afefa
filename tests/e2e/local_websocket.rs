//! The local WebSocket API (ob-local) with a function that answers every route: `$connect` deciding the handshake,
//! route selection and RouteResponses, the management API (through the SDK the realtime function uses), and API
//! Gateway's message size and idle limits.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use ob_core::realtime::{Push, PushError};
use ob_local::{Event, Limits, WebSocketRoute, WebSocketSpec};
use ob_tests::http;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::local_runtime::{Local, PATIENCE, function};
use crate::realtime::Socket;

fn spec(limits: Limits) -> WebSocketSpec {
    let route = |key: &str, two_way: bool| WebSocketRoute {
        key: key.to_owned(),
        function: "fixture".to_owned(),
        two_way,
    };
    WebSocketSpec {
        api_id: "websocketapi".into(),
        stage: "live".into(),
        selection_field: WebSocketSpec::selection_field("$request.body.action").unwrap(),
        routes: vec![
            route("$connect", false),
            route("$disconnect", false),
            route("$default", true),
            route("shout", false),
        ],
        throttle: None,
        limits,
    }
}

async fn start(limits: Limits) -> Local {
    let fixture = function("fixture", "fixture-function", Duration::from_secs(10), &[]);
    Local::start(vec![fixture], None, Some(spec(limits))).await
}

async fn connect(local: &Local, query: &str) -> Socket {
    let url = format!("ws://{}/live{query}", local.addr);
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// The next frame: text parsed as JSON, or the close code.
async fn frame(socket: &mut Socket) -> Result<Value, Option<CloseCode>> {
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("a frame arrives")
            .expect("the socket is open")
            .unwrap();
        match message {
            Message::Text(text) => {
                return Ok(serde_json::from_str(&text).unwrap_or(Value::String(text.to_string())));
            }
            Message::Close(close) => return Err(close.map(|c| c.code)),
            _ => continue,
        }
    }
}

async fn say(socket: &mut Socket, text: &str) {
    socket
        .send(Message::Text(text.to_owned().into()))
        .await
        .unwrap();
}

/// The `$disconnect` the fixture logged for `connection`: its status code.
async fn disconnected(local: &mut Local, connection: &str) -> u64 {
    local
        .next(&format!("$disconnect of {connection}"), |e| match e {
            Event::Log(line) => {
                let v: Value = serde_json::from_str(&line.text).ok()?;
                (v["disconnected"] == connection).then(|| v["status"].as_u64().unwrap_or_default())
            }
            _ => None,
        })
        .await
}

#[tokio::test]
async fn connect_routes_replies_and_the_management_api() {
    let mut local = start(Limits::default()).await;
    let refused =
        tokio_tungstenite::connect_async(format!("ws://{}/live?deny=1", local.addr)).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 403, "the function's status");
        }
        other => panic!("not refused: {other:?}"),
    }

    let mut socket = connect(&local, "?token=t").await;
    say(&mut socket, "hello").await;
    let reply = frame(&mut socket).await.unwrap();
    assert_eq!(
        (reply["echo"].as_str(), reply["route"].as_str()),
        (Some("hello"), Some("$default"))
    );
    let id = reply["connectionId"].as_str().unwrap().to_owned();
    // `shout` has no RouteResponse: nothing comes back, so the next frame answers the next message.
    say(&mut socket, r#"{"action":"shout"}"#).await;
    say(&mut socket, r#"{"action":"other"}"#).await;
    let reply = frame(&mut socket).await.unwrap();
    assert_eq!(
        (reply["route"].as_str(), reply["echo"].as_str()),
        (Some("$default"), Some(r#"{"action":"other"}"#))
    );
    let shout = local.next("the shout invocation", |e| match e {
        Event::Invoked(r) if r.trigger == "ws shout" => Some(r.result.clone()),
        _ => None,
    });
    assert_eq!(shout.await, "200");

    let management = format!("{}/live/@connections/{id}", local.url(""));
    let pushed = http::exchange("POST", &management, &[], b"{\"pushed\":1}").await;
    assert_eq!(pushed.status, 200);
    assert_eq!(frame(&mut socket).await.unwrap()["pushed"], 1);
    let described = http::exchange("GET", &management, &[], &[]).await;
    assert_eq!(described.status, 200);
    let described: Value = serde_json::from_slice(&described.body).unwrap();
    assert_eq!(described["Identity"]["SourceIp"], "127.0.0.1");
    assert!(described["ConnectedAt"].as_str().unwrap().ends_with('Z'));

    assert_eq!(
        http::exchange("DELETE", &management, &[], &[]).await.status,
        204
    );
    assert_eq!(frame(&mut socket).await, Err(Some(CloseCode::Normal)));
    assert_eq!(disconnected(&mut local, &id).await, 1000);
    let gone = http::exchange("POST", &management, &[], b"x").await;
    assert_eq!(gone.status, 410);
    assert_eq!(gone.header("x-amzn-errortype"), ["GoneException"]);

    // The realtime function's own client sees a closed connection as Gone.
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await;
    let push = ob_realtime::push::ManagementApi::new(&sdk, &format!("{}/live", local.url("")));
    assert_eq!(push.send(&id, "{}").await, Err(PushError::Gone));
    let mut live = connect(&local, "").await;
    say(&mut live, "hi").await;
    let live_id = frame(&mut live).await.unwrap()["connectionId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(push.send(&live_id, "{\"via\":\"sdk\"}").await, Ok(()));
    assert_eq!(frame(&mut live).await.unwrap()["via"], "sdk");
}

#[tokio::test]
async fn api_gateways_size_and_idle_limits_close_connections() {
    let limits = Limits {
        idle: Duration::from_millis(1500),
        max_duration: Duration::from_secs(60),
        max_message_bytes: 1024,
        max_frame_bytes: 1024,
    };
    let mut local = start(limits).await;
    let mut big = connect(&local, "").await;
    say(&mut big, &"x".repeat(2000)).await;
    assert_eq!(
        frame(&mut big).await,
        Err(Some(CloseCode::Size)),
        "1009 Message too big"
    );

    let mut idle = connect(&local, "").await;
    say(&mut idle, "hi").await;
    let id = frame(&mut idle).await.unwrap()["connectionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = std::time::Instant::now();
    assert_eq!(
        frame(&mut idle).await,
        Err(Some(CloseCode::Away)),
        "1001 after the idle limit"
    );
    assert!(started.elapsed() >= Duration::from_millis(1400));
    assert_eq!(disconnected(&mut local, &id).await, 1001);
}
