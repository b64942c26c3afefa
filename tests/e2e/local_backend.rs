//! The `make dev` promise, through the real binaries against a deployed `local` stage: apps and keys from the
//! admin commands, then a browser-style client uploads and reads back a file, and WebSocket clients of one app
//! see each other's changes live while a client of another app sees nothing.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use futures::SinkExt;
use ob_tests::http;
use ob_tests::obctl::{obctl, obctl_bin};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::realtime::{Socket, next};

/// `obctl dev`, killed when dropped.
pub(crate) struct DevServer(Child);

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

fn start_dev(emu: &ob_tests::Emulator) -> (DevServer, String) {
    let port = ob_tests::free_port();
    let server = start_dev_at(emu, port, &["--stage", "local"]);
    (server, format!("127.0.0.1:{port}"))
}

/// `obctl dev ARGS --port PORT`, once it says it is serving.
pub(crate) fn start_dev_at(emu: &ob_tests::Emulator, port: u16, args: &[&str]) -> DevServer {
    let mut child = Command::new(obctl_bin())
        .arg("dev")
        .args(args)
        .args(["--port", &port.to_string()])
        .current_dir(ob_tests::emulator::workspace_root())
        .envs(emu.env_vars())
        .stdout(Stdio::piped())
        .spawn()
        .expect("obctl dev starts");
    let stdout = child.stdout.take().expect("stdout");
    let server = DevServer(child);
    let mut printed = String::new();
    for line in BufReader::new(stdout).lines() {
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
    server
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
    let (_server, base) = start_dev(emu);
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
}
