//! Realtime over WebSocket, end to end: `obctl dev`'s server in-process, a real WebSocket client, changes arriving through the emulator's DynamoDB stream.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use futures::{SinkExt, StreamExt};
use ob_core::realtime::{Realtime, connections};
use ob_core::tokens::TokenSigner;
use ob_core::users::Role;
use ob_tests::fixtures::{Api, SIGNING_KEY, TestApp};
use obctl::live::{self, LocalHub, StreamFollower};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::api_data::{User, call, create, user};

/// How long a test waits for an expected message before failing (a guard, not a measurement).
pub(crate) const PATIENCE: Duration = Duration::from_secs(15);

/// The local backend (HTTP, `/live`, stream follower) on a free port.
pub(crate) struct Live {
    addr: SocketAddr,
    realtime: live::LocalRealtime,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Live {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Live {
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn realtime(&self) -> &live::LocalRealtime {
        &self.realtime
    }
}

pub(crate) async fn serve(api: &Api) -> Live {
    let realtime = Realtime {
        store: api.store.clone(),
        signer: ob_core::signing::Keyring::ready(SIGNING_KEY, &api.state.settings().issuer)
            .unwrap(),
        push: LocalHub::default(),
        metrics: api.state.metrics().clone(),
        stage_origins: api.state.settings().stage_origins.clone(),
    };
    let follower = StreamFollower::for_table(
        &api.store.client,
        aws_sdk_dynamodbstreams::Client::new(&api.sdk),
        &api.store.tables.data,
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = live::app(api.state.clone(), realtime.clone())
        .into_make_service_with_connect_info::<SocketAddr>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let stream = tokio::spawn(live::follow(follower, realtime.clone()));
    Live {
        addr,
        realtime,
        tasks: vec![server, stream],
    }
}

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn url(live: &Live, key: &str, token: &str) -> String {
    format!("ws://{}/live?apiKey={key}&token={token}", live.addr)
}

pub(crate) async fn connect(live: &Live, app: &TestApp, who: &User) -> Socket {
    let (socket, response) = tokio_tungstenite::connect_async(url(live, &app.key, &who.token))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    socket
}

/// The HTTP status of a refused handshake.
async fn refused(live: &Live, url: &str) -> u16 {
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("connection to {} was accepted", live.addr),
    }
}

/// The next text message, parsed (pings and other frames skipped).
pub(crate) async fn next(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("a message arrives")
            .expect("the socket stays open")
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

async fn ask(socket: &mut Socket, request: Value) -> Value {
    socket
        .send(Message::Text(request.to_string().into()))
        .await
        .unwrap();
    next(socket).await
}

pub(crate) async fn subscribe(socket: &mut Socket, channel: &str) {
    let reply = ask(socket, json!({"action": "subscribe", "channel": channel})).await;
    assert_eq!(reply, json!({"type": "subscribed", "channel": channel}));
}

/// Two users of app `shop`, one of app `other`, each connected.
struct Scene {
    api: Api,
    _live: Live,
    shop: TestApp,
    other: TestApp,
    ada: User,
    bob: User,
    carol: User,
    sockets: [Socket; 3],
}

async fn scene() -> Scene {
    let api = Api::start().await;
    let live = serve(&api).await;
    let (shop, other) = (api.app("shop").await, api.app("other").await);
    let ada = user(&api, &shop, "ada", Role::User).await;
    let bob = user(&api, &shop, "bob", Role::User).await;
    let carol = user(&api, &other, "carol", Role::User).await;
    let sockets = [
        connect(&live, &shop, &ada).await,
        connect(&live, &shop, &bob).await,
        connect(&live, &other, &carol).await,
    ];
    Scene {
        api,
        _live: live,
        shop,
        other,
        ada,
        bob,
        carol,
        sockets,
    }
}

#[tokio::test]
async fn subscribers_see_changes_they_may_read_and_nothing_of_other_apps() {
    // Every field is bound: an unbound one would be dropped (the server or the emulator with it).
    let Scene {
        api,
        _live: _server,
        shop,
        other,
        ada,
        bob: _,
        carol,
        sockets,
    } = scene().await;
    let [mut ada_ws, mut bob_ws, mut carol_ws] = sockets;
    for socket in [&mut ada_ws, &mut bob_ws, &mut carol_ws] {
        subscribe(socket, "resource:notes").await;
    }

    let private = create(
        &api,
        &shop,
        &ada,
        "notes",
        json!({"data": {"text": "mine"}}),
    )
    .await
    .expect(StatusCode::CREATED);
    let event = next(&mut ada_ws).await;
    assert_eq!(event["type"], "created");
    assert_eq!(event["record"]["data"]["text"], "mine");
    assert_eq!(event["id"], private.str("/id").as_str());

    let shared = create(
        &api,
        &shop,
        &ada,
        "notes",
        json!({"data": {"text": "ours"}, "permissions": {"read": ["*"]}}),
    )
    .await
    .expect(StatusCode::CREATED);
    let id = shared.str("/id");
    // Bob's first event is the shared note: the private one never reached him.
    let event = next(&mut bob_ws).await;
    assert_eq!(
        (event["type"].as_str(), event["id"].as_str()),
        (Some("created"), Some(id.as_str()))
    );
    assert_eq!(event["record"]["ownerId"], ada.id.as_str());

    let path = format!("/api/shop/notes/{id}");
    api.send(call(Method::PATCH, &path, &shop, &ada).json(&json!({"data": {"text": "edited"}})))
        .await
        .expect(StatusCode::OK);
    let event = next(&mut bob_ws).await;
    assert_eq!(event["type"], "updated");
    assert_eq!(event["record"]["data"]["text"], "edited");

    api.send(call(Method::DELETE, &path, &shop, &ada))
        .await
        .expect(StatusCode::NO_CONTENT);
    let event = next(&mut bob_ws).await;
    assert_eq!(
        (event["type"].as_str(), event["id"].as_str()),
        (Some("deleted"), Some(id.as_str()))
    );

    // Carol (another app, same resource name) saw none of it: her first event is her own.
    create(
        &api,
        &other,
        &carol,
        "notes",
        json!({"data": {"text": "carol's"}}),
    )
    .await
    .expect(StatusCode::CREATED);
    let event = next(&mut carol_ws).await;
    assert_eq!(event["record"]["data"]["text"], "carol's");
    assert_eq!(event["record"]["ownerId"], carol.id.as_str());
}

#[tokio::test]
async fn connect_needs_a_valid_token_and_key_of_the_same_app() {
    let api = Api::start().await;
    let live = serve(&api).await;
    let (shop, other) = (api.app("shop").await, api.app("other").await);
    let ada = user(&api, &shop, "ada", Role::User).await;
    assert_eq!(
        refused(&live, &url(&live, &shop.key, "not-a-token")).await,
        401
    );
    assert_eq!(
        refused(&live, &url(&live, &other.key, &ada.token)).await,
        401
    );
    let no_key = format!("ws://{}/live?token={}", live.addr, ada.token);
    assert_eq!(refused(&live, &no_key).await, 401);
    ob_core::api_keys::revoke(&api.store, "shop", &shop.key_id)
        .await
        .unwrap();
    assert_eq!(
        refused(&live, &url(&live, &shop.key, &ada.token)).await,
        401
    );
}

#[tokio::test]
async fn room_messages_reach_the_other_members_only() {
    let Scene {
        api: _emulator,
        _live: _server,
        bob,
        sockets,
        ..
    } = scene().await;
    let [mut ada_ws, mut bob_ws, mut carol_ws] = sockets;

    let early = ask(
        &mut bob_ws,
        json!({"action": "sendMessage", "channel": "room:lobby", "data": 1, "id": 7}),
    )
    .await;
    assert_eq!(
        (early["type"].as_str(), early["error"]["code"].as_str()),
        (Some("error"), Some("forbidden"))
    );
    assert_eq!(early["id"], 7, "replies echo the request id");

    for socket in [&mut ada_ws, &mut bob_ws, &mut carol_ws] {
        subscribe(socket, "room:lobby").await;
    }
    let sent = ask(
        &mut bob_ws,
        json!({"action": "sendMessage", "channel": "room:lobby", "data": {"text": "hi"}}),
    )
    .await;
    assert_eq!(sent["type"], "sent");
    assert_eq!(
        sent["delivered"], 1,
        "ada, not bob himself, not carol of another app"
    );
    let got = next(&mut ada_ws).await;
    assert_eq!(got["type"], "message");
    assert_eq!(got["from"], bob.id.as_str());
    assert_eq!(got["data"], json!({"text": "hi"}));
    let lonely = ask(
        &mut carol_ws,
        json!({"action": "sendMessage", "channel": "room:lobby", "data": "?"}),
    )
    .await;
    assert_eq!(lonely["delivered"], 0);

    let resource = ask(
        &mut ada_ws,
        json!({"action": "sendMessage", "channel": "resource:notes", "data": 1}),
    )
    .await;
    assert_eq!(resource["error"]["code"], "invalid_request");
    let unsubscribed = ask(
        &mut ada_ws,
        json!({"action": "unsubscribe", "channel": "room:lobby"}),
    )
    .await;
    assert_eq!(unsubscribed["type"], "unsubscribed");
    let sent = ask(
        &mut bob_ws,
        json!({"action": "sendMessage", "channel": "room:lobby", "data": 2}),
    )
    .await;
    assert_eq!(sent["delivered"], 0);
}

#[tokio::test]
async fn bad_messages_get_error_replies_and_ping_pongs() {
    let api = Api::start().await;
    let live = serve(&api).await;
    let shop = api.app("shop").await;
    let (ada, bob) = (
        user(&api, &shop, "ada", Role::User).await,
        user(&api, &shop, "bob", Role::User).await,
    );
    let mut socket = connect(&live, &shop, &bob).await;
    assert_eq!(
        ask(&mut socket, json!({"action": "ping"})).await,
        json!({"type": "pong"})
    );
    socket.send(Message::Text("not json".into())).await.unwrap();
    let reply = next(&mut socket).await;
    assert_eq!(reply["error"]["code"], "invalid_request");
    assert!(
        reply["error"]["requestId"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    let unknown = ask(&mut socket, json!({"action": "dance"})).await;
    assert_eq!(unknown["error"]["code"], "invalid_request");
    let bad = ask(
        &mut socket,
        json!({"action": "subscribe", "channel": "everything"}),
    )
    .await;
    assert_eq!(bad["error"]["code"], "invalid_request");
    // One record's channel needs read access to it now.
    let private = create(&api, &shop, &ada, "notes", json!({"data": {}}))
        .await
        .expect(StatusCode::CREATED);
    let channel = format!("resource:notes:{}", private.str("/id"));
    let denied = ask(
        &mut socket,
        json!({"action": "subscribe", "channel": channel}),
    )
    .await;
    assert_eq!(denied["error"]["code"], "not_found");
}

#[tokio::test]
async fn a_connection_found_gone_is_removed() {
    let api = Api::start().await;
    let live = serve(&api).await;
    let shop = api.app("shop").await;
    let ada = user(&api, &shop, "ada", Role::User).await;
    // A connection the store knows but no socket backs: what a lost $disconnect leaves.
    let ghost = live
        .realtime
        .connect("ghost", Some(&shop.key), Some(&ada.token), None)
        .await
        .unwrap();
    connections::subscribe(
        &api.store,
        &ghost,
        &ob_core::realtime::Channel::parse("resource:notes").unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        connections::members(&api.store, "shop", "resource:notes")
            .await
            .unwrap()
            .len(),
        1
    );
    create(&api, &shop, &ada, "notes", json!({"data": {}}))
        .await
        .expect(StatusCode::CREATED);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while connections::get(&api.store, "ghost")
        .await
        .unwrap()
        .is_some()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the gone connection was not removed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        connections::members(&api.store, "shop", "resource:notes")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        connections::subscriptions(&api.store, "ghost")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_expired_token_stops_delivery_until_auth_renews_it() {
    let Scene {
        api,
        _live: live,
        shop,
        ada,
        bob,
        sockets,
        ..
    } = scene().await;
    let [mut ada_ws, _, _] = sockets;
    subscribe(&mut ada_ws, "resource:notes").await;
    let signer = TokenSigner::new(SIGNING_KEY, &api.state.settings().issuer).unwrap();
    // Past its expiry, but within the verifier's clock-skew leeway: accepted at
    // connect, yet expired for everything after.
    let expired = signer.issue(&bob.id, "shop", Role::User, -5).unwrap();
    let mut stale = tokio_tungstenite::connect_async(url(&live, &shop.key, &expired))
        .await
        .unwrap()
        .0;
    let refused = ask(
        &mut stale,
        json!({"action": "subscribe", "channel": "resource:notes"}),
    )
    .await;
    assert_eq!(refused["error"]["code"], "unauthorized");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"auth\"")
    );
    assert_eq!(
        ask(&mut stale, json!({"action": "ping"})).await["type"],
        "pong"
    );
    let other_user = ask(&mut stale, json!({"action": "auth", "token": ada.token})).await;
    assert_eq!(other_user["error"]["code"], "unauthorized");

    let renewed = ask(&mut stale, json!({"action": "auth", "token": bob.token})).await;
    assert_eq!(renewed["type"], "authenticated");
    subscribe(&mut stale, "resource:notes").await;

    // Expired again: a change fans out to ada but not to this connection.
    assert_eq!(
        ask(&mut stale, json!({"action": "auth", "token": expired})).await["type"],
        "authenticated"
    );
    let missed = create(
        &api,
        &shop,
        &ada,
        "notes",
        json!({"data": {"n": 1}, "permissions": {"read": ["*"]}}),
    )
    .await
    .expect(StatusCode::CREATED)
    .str("/id");
    assert_eq!(
        next(&mut ada_ws).await["id"],
        missed.as_str(),
        "the change was fanned out"
    );

    assert_eq!(
        ask(&mut stale, json!({"action": "auth", "token": bob.token})).await["type"],
        "authenticated"
    );
    let seen = create(
        &api,
        &shop,
        &ada,
        "notes",
        json!({"data": {"n": 2}, "permissions": {"read": ["*"]}}),
    )
    .await
    .expect(StatusCode::CREATED)
    .str("/id");
    assert_eq!(
        next(&mut stale).await["id"],
        seen.as_str(),
        "the first event after renewal is the second note"
    );
}
