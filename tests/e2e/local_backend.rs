//! The `make dev` promise, through the real binaries against a deployed `local` stage: apps and keys from the
//! admin commands, then a browser-style client uploads and reads back a file, WebSocket clients of one app
//! see each other's changes live while a client of another app sees nothing, and a password is reset
//! through the link in the dev outbox.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use futures::SinkExt;
use ob_tests::http;
use ob_tests::obctl::{obctl, obctl_bin};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::realtime::{Socket, next};

/// `obctl dev`, killed when dropped.
struct DevServer(Child);

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn admin(emu: &ob_tests::Emulator, args: &[&str]) -> String {
    let run = obctl(emu, args);
    assert_eq!(
        run.code, 0,
        "obctl {args:?}\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    run.stdout.trim().to_owned()
}

/// An app and a key for it, the way an operator (and `make dev`) makes them.
fn app_with_key(emu: &ob_tests::Emulator, app: &str) -> String {
    let create = [
        "apps",
        "create",
        "--stage",
        "local",
        "--id",
        app,
        "--name",
        app,
        "--if-not-exists",
    ];
    admin(emu, &create);
    admin(
        emu,
        &[
            "keys", "create", "--stage", "local", "--app", app, "--name", "e2e", "--scopes", "*",
            "-q",
        ],
    )
}

/// `obctl dev`, its address and the console lines it prints after starting.
fn start_dev(emu: &ob_tests::Emulator) -> (DevServer, String, mpsc::Receiver<String>) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let mut child = Command::new(obctl_bin())
        .args(["dev", "--stage", "local", "--port", &port.to_string()])
        .current_dir(ob_tests::emulator::workspace_root())
        .envs(emu.env_vars())
        .stdout(Stdio::piped())
        .spawn()
        .expect("obctl dev starts");
    let stdout = child.stdout.take().expect("stdout");
    let server = DevServer(child);
    let mut printed = String::new();
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.expect("line");
        printed.push_str(&line);
        printed.push('\n');
        if line.starts_with("Ctrl-C") {
            break;
        }
    }
    assert!(
        printed.contains(&format!("ws://127.0.0.1:{port}/live")),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("http://127.0.0.1:{port}/_dev/outbox")),
        "{printed}"
    );
    let (console, later) = mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if console.send(line).is_err() {
                return;
            }
        }
    });
    (server, format!("127.0.0.1:{port}"), later)
}

async fn register(base: &str, app: &str, key: &str, name: &str) -> (String, String) {
    let body = json!({"appId": app, "email": format!("{name}@example.com"), "password": "correct horse battery"});
    let (status, reply) = http::json(
        "POST",
        &format!("http://{base}/auth/register"),
        &[("X-API-Key", key)],
        Some(&body),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    (
        reply["user"]["userId"]
            .as_str()
            .expect("user id")
            .to_owned(),
        reply["accessToken"].as_str().expect("token").to_owned(),
    )
}

async fn socket(base: &str, key: &str, token: &str) -> Socket {
    let url = format!("ws://{base}/live?apiKey={key}&token={token}");
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("WebSocket connects");
    socket
        .send(Message::Text(
            json!({"action": "subscribe", "channel": "resource:notes"})
                .to_string()
                .into(),
        ))
        .await
        .expect("send");
    assert_eq!(next(&mut socket).await["type"], "subscribed");
    socket
}

async fn note(base: &str, app: &str, key: &str, token: &str, text: &str) -> String {
    let bearer = format!("Bearer {token}");
    let body = json!({"data": {"text": text}, "permissions": {"read": ["*"]}});
    let (status, reply) = http::json(
        "POST",
        &format!("http://{base}/api/{app}/notes"),
        &[("X-API-Key", key), ("Authorization", &bearer)],
        Some(&body),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    reply["id"].as_str().expect("id").to_owned()
}

/// Upload through a presigned URL, then read the same bytes back.
async fn file_round_trip(base: &str, key: &str, token: &str) {
    let bearer = format!("Bearer {token}");
    let auth = [("X-API-Key", key), ("Authorization", bearer.as_str())];
    let content = b"hello from the browser".to_vec();
    let ask =
        json!({"fileName": "docs/hello.txt", "fileType": "text/plain", "size": content.len()});
    let (status, upload) = http::json(
        "POST",
        &format!("http://{base}/files/demo/upload-url"),
        &auth,
        Some(&ask),
    )
    .await;
    assert_eq!(status, 200, "{upload}");
    let headers: Vec<(String, String)> = upload["headers"]
        .as_object()
        .expect("headers")
        .iter()
        .map(|(n, v)| (n.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    let url = upload["url"].as_str().expect("url");
    let (status, _) = http::request("PUT", url, &headers, &content).await;
    assert_eq!(status, 200, "PUT to the presigned URL");
    let (status, download) = http::json(
        "POST",
        &format!("http://{base}/files/demo/download-url"),
        &auth,
        Some(&json!({"key": upload["key"]})),
    )
    .await;
    assert_eq!(status, 200, "{download}");
    let (status, bytes) =
        http::request("GET", download["url"].as_str().expect("url"), &[], &[]).await;
    assert_eq!((status, bytes), (200, content));
}

/// Run by the deploy lifecycle test once the `local` stage is deployed.
pub(crate) async fn make_dev_promise(emu: &ob_tests::Emulator) {
    let demo_key = app_with_key(emu, "demo");
    let rival_key = app_with_key(emu, "rival");
    let (_server, base, console) = start_dev(emu);
    let (_, ada) = register(&base, "demo", &demo_key, "ada").await;
    let (bob_id, bob) = register(&base, "demo", &demo_key, "bob").await;
    let (carol_id, carol) = register(&base, "rival", &rival_key, "carol").await;

    file_round_trip(&base, &demo_key, &ada).await;

    let mut ada_ws = socket(&base, &demo_key, &ada).await;
    let mut carol_ws = socket(&base, &rival_key, &carol).await;
    let id = note(&base, "demo", &demo_key, &bob, "from bob").await;
    let seen = next(&mut ada_ws).await;
    assert_eq!(
        (seen["type"].as_str(), seen["id"].as_str()),
        (Some("created"), Some(id.as_str()))
    );
    assert_eq!(seen["record"]["ownerId"], bob_id.as_str());
    // Carol's first event is her own note: nothing of app demo reached her.
    let own = note(&base, "rival", &rival_key, &carol, "from carol").await;
    let seen = next(&mut carol_ws).await;
    assert_eq!(
        (seen["id"].as_str(), seen["record"]["ownerId"].as_str()),
        (Some(own.as_str()), Some(carol_id.as_str()))
    );

    password_reset_through_the_outbox(&base, &demo_key, &console).await;
    notify_commands(emu);
}

/// The message to `to` in `GET /_dev/outbox`, once the worker sent it.
async fn outbox_message(base: &str, to: &str) -> serde_json::Value {
    for _ in 0..60 {
        let (status, outbox) = http::json("GET", &format!("http://{base}/_dev/outbox"), &[], None).await;
        assert_eq!(status, 200, "{outbox}");
        let found = outbox["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .rev()
            .find(|m| m["to"] == json!([to]))
            .cloned();
        if let Some(message) = found {
            return message;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("no message to {to} in the dev outbox");
}

/// A frontend developer's reset: ask, open the link from the outbox, set a new password, sign in with it.
async fn password_reset_through_the_outbox(base: &str, key: &str, console: &mpsc::Receiver<String>) {
    let post = |path: &str, body: serde_json::Value| {
        let url = format!("http://{base}{path}");
        async move { http::json("POST", &url, &[("X-API-Key", key)], Some(&body)).await }
    };
    let (status, reply) = post("/auth/password-reset", json!({"appId": "demo", "email": "ada@example.com"})).await;
    assert_eq!(status, 202, "{reply}");
    let mail = outbox_message(base, "ada@example.com").await;
    assert_eq!(mail["subject"], "Reset your demo password");
    assert!(mail["from"].as_str().unwrap_or_default().contains("no-reply@localhost.example"), "{mail}");
    assert!(mail["sentAt"].is_string() && mail["html"].is_string(), "{mail}");
    let text = mail["text"].as_str().expect("text");
    let link = text
        .split_whitespace()
        .find(|w| w.starts_with("http://localhost:5173/reset-password?token="))
        .unwrap_or_else(|| panic!("no reset link in {text}"));
    let token = link.split("token=").nth(1).expect("token");
    let line = console.recv_timeout(Duration::from_secs(10)).expect("a console line per message");
    assert!(line.starts_with("mail to ada@example.com: \"Reset your demo password\""), "{line}");

    let (status, reply) = post("/auth/password-reset/confirm", json!({"token": token, "password": "a brand new password"})).await;
    assert_eq!(status, 204, "{reply}");
    let (status, _) = post("/auth/login", json!({"appId": "demo", "email": "ada@example.com", "password": "correct horse battery"})).await;
    assert_eq!(status, 401, "the old password is refused");
    let (status, reply) = post("/auth/login", json!({"appId": "demo", "email": "ada@example.com", "password": "a brand new password"})).await;
    assert_eq!(status, 200, "{reply}");
    let (status, _) = post("/auth/password-reset/confirm", json!({"token": token, "password": "yet another password"})).await;
    assert_eq!(status, 400, "the link works once");
}

/// `obctl notify test` goes through the deployed queue and the worker `obctl dev` runs.
fn notify_commands(emu: &ob_tests::Emulator) {
    let test = obctl(
        emu,
        &["notify", "test", "--stage", "local", "--app", "demo", "--to", "ops@example.com", "--output", "json"],
    );
    assert_eq!(test.code, 0, "stdout:\n{}\nstderr:\n{}", test.stdout, test.stderr);
    let result = test.json();
    assert_eq!(result["status"], "sent", "{result}");
    assert!(result["providerMessageId"].is_string(), "{result}");
    let list = obctl(emu, &["notify", "suppressions", "list", "--stage", "local", "--app", "demo", "--output", "json"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert_eq!(list.json()["suppressions"], json!([]));
    let clear = obctl(emu, &["notify", "suppressions", "clear", "--stage", "local", "--app", "demo", "ops@example.com"]);
    assert_eq!(clear.code, 1, "nothing to clear");
    assert!(clear.stderr.contains("nothing to clear"), "{}", clear.stderr);
}
