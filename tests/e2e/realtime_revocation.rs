//! Open WebSockets end with access: a disabled or demoted user's, a revoked key's and a suspended app's connections are closed (another app's stay open), and the old token cannot reconnect.

#![allow(clippy::unwrap_used)]

use axum::http::StatusCode;
use futures::{SinkExt, StreamExt};
use ob_core::apps::AppState;
use ob_core::realtime::PushError;
use ob_core::realtime::revocation::{self, Holder};
use ob_core::users::{self, Role};
use ob_tests::fixtures::{Api, TestApp};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::api_data::{User, user};
use crate::realtime::{Live, PATIENCE, Socket, connect, next, serve};

/// Whether the server closed the socket (a close frame, or the stream ending) within the patience.
pub(crate) async fn closed(socket: &mut Socket) -> bool {
    loop {
        match tokio::time::timeout(PATIENCE, socket.next()).await {
            Err(_) => return false,
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return true,
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// The socket still answers a ping.
pub(crate) async fn answers(socket: &mut Socket) {
    socket
        .send(Message::Text(json!({"action": "ping"}).to_string().into()))
        .await
        .unwrap();
    assert_eq!(next(socket).await["type"], "pong");
}

/// The status of a WebSocket handshake with `key` and `token` (101 when accepted).
async fn handshake(live: &Live, key: &str, token: &str) -> u16 {
    handshake_at(&live.addr().to_string(), key, token).await
}

/// The status of a handshake at `ws://{base}/live` (101 when accepted).
pub(crate) async fn handshake_at(base: &str, key: &str, token: &str) -> u16 {
    let url = format!("ws://{base}/live?apiKey={key}&token={token}");
    match tokio_tungstenite::connect_async(url).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("unexpected error: {other}"),
    }
}

async fn connect_with(live: &Live, key: &str, who: &User) -> Socket {
    let app = TestApp {
        app_id: String::new(),
        key: key.to_owned(),
        key_id: String::new(),
    };
    connect(live, &app, who).await
}

#[tokio::test]
async fn a_disabled_user_is_disconnected_and_cannot_reconnect() {
    let api = Api::start().await;
    let shop = api.app("shop").await;
    let ada = user(&api, &shop, "ada", Role::User).await;
    let bob = user(&api, &shop, "bob", Role::User).await;
    let live = serve(&api).await;
    let mut ada_ws = connect(&live, &shop, &ada).await;
    let mut bob_ws = connect(&live, &shop, &bob).await;
    answers(&mut ada_ws).await;

    users::set_disabled(&api.store, "shop", &ada.id, true)
        .await
        .unwrap();
    let holder = Holder::User {
        app_id: "shop",
        user_id: &ada.id,
    };
    let report = revocation::close_all(&api.store, &live.realtime().push, holder)
        .await
        .unwrap();
    assert_eq!((report.closed, report.gone), (1, 0), "{report:?}");
    assert!(closed(&mut ada_ws).await, "ada's socket is closed");
    answers(&mut bob_ws).await;
    assert!(
        revocation::find(&api.store, holder)
            .await
            .unwrap()
            .is_empty(),
        "ada's connection items are gone"
    );
    // Her access token has not expired, but it opens nothing any more.
    assert_eq!(handshake(&live, &shop.key, &ada.token).await, 401);
    assert_eq!(handshake(&live, &shop.key, &bob.token).await, 101);
}

#[tokio::test]
async fn a_demoted_admin_is_disconnected_and_reconnects_only_as_a_user() {
    let api = Api::start().await;
    let shop = api.app("shop").await;
    let root = user(&api, &shop, "root", Role::Admin).await;
    let live = serve(&api).await;
    let mut root_ws = connect(&live, &shop, &root).await;
    answers(&mut root_ws).await;

    users::set_role(&api.store, "shop", &root.id, Role::User)
        .await
        .unwrap();
    let holder = Holder::User {
        app_id: "shop",
        user_id: &root.id,
    };
    revocation::close_all(&api.store, &live.realtime().push, holder)
        .await
        .unwrap();
    assert!(closed(&mut root_ws).await, "the admin's socket is closed");
    // The token still says admin: refused. A fresh sign-in (role user) connects.
    assert_eq!(handshake(&live, &shop.key, &root.token).await, 401);
    let fresh = api
        .login(&shop, "root@example.com", "correct horse battery")
        .await
        .expect(StatusCode::OK);
    assert_eq!(fresh.str("/user/role"), "user");
    assert_eq!(
        handshake(&live, &shop.key, &fresh.str("/accessToken")).await,
        101
    );
}

#[tokio::test]
async fn a_revoked_key_closes_the_connections_opened_with_it_only() {
    let api = Api::start().await;
    let shop = api.app("shop").await;
    let second = api.key("shop", &["*"]).await;
    let ada = user(&api, &shop, "ada", Role::User).await;
    let bob = user(&api, &shop, "bob", Role::User).await;
    let live = serve(&api).await;
    let mut ada_ws = connect_with(&live, &second.secret, &ada).await;
    let mut bob_ws = connect(&live, &shop, &bob).await;

    ob_core::api_keys::revoke(&api.store, "shop", &second.key.key_id)
        .await
        .unwrap();
    let holder = Holder::Key {
        app_id: "shop",
        key_id: &second.key.key_id,
    };
    let report = revocation::close_all(&api.store, &live.realtime().push, holder)
        .await
        .unwrap();
    assert_eq!(report.closed, 1, "{report:?}");
    assert!(
        closed(&mut ada_ws).await,
        "the revoked key's socket is closed"
    );
    answers(&mut bob_ws).await;
    assert_eq!(handshake(&live, &second.secret, &ada.token).await, 401);
    assert_eq!(handshake(&live, &shop.key, &ada.token).await, 101);
}

#[tokio::test]
async fn a_suspended_app_loses_every_connection_and_another_app_keeps_its_own() {
    let api = Api::start().await;
    let shop = api.app("shop").await;
    let other = api.app("other").await;
    let ada = user(&api, &shop, "ada", Role::User).await;
    let bob = user(&api, &shop, "bob", Role::Admin).await;
    let carl = user(&api, &other, "carl", Role::User).await;
    let live = serve(&api).await;
    let mut ada_ws = connect(&live, &shop, &ada).await;
    let mut bob_ws = connect(&live, &shop, &bob).await;
    let mut carl_ws = connect(&live, &other, &carl).await;

    ob_core::apps::set_state(&api.store, "shop", AppState::Suspended)
        .await
        .unwrap();
    let report = revocation::close_all(&api.store, &live.realtime().push, Holder::App("shop"))
        .await
        .unwrap();
    assert_eq!(report.closed, 2, "{report:?}");
    assert!(closed(&mut ada_ws).await, "ada's socket is closed");
    assert!(closed(&mut bob_ws).await, "bob's socket is closed");
    answers(&mut carl_ws).await;
    assert_eq!(handshake(&live, &shop.key, &ada.token).await, 401);

    // What obctl calls: `DELETE @connections/{id}` of the in-process server, through the SDK.
    let found = revocation::find(&api.store, Holder::App("other"))
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let carl_id = &found[0].connection_id;
    let management =
        ob_realtime::push::ManagementApi::new(&api.sdk, &format!("http://{}/live", live.addr()));
    assert_eq!(
        ob_core::realtime::Push::close(&management, carl_id).await,
        Ok(())
    );
    assert!(
        closed(&mut carl_ws).await,
        "closed through the management route"
    );
    assert_eq!(
        ob_core::realtime::Push::close(&management, carl_id).await,
        Err(PushError::Gone)
    );
}
