//! The `make dev` promise, through the real binaries against a deployed `local` stage: `obctl dev` runs one process
//! per function (its children) behind the local API Gateway; every template route reaches its own function; apps
//! and keys come from the admin commands; a browser-style client uploads and reads back a file; WebSocket clients of
//! one app see each other's changes live (also after cancelled transactions) while a client of another app sees
//! nothing; a push to a connection that closed is `410 Gone`; a password is reset through the dev outbox
//! (`local_outbox`); and the example page is served at `/_dev/example/`, also by `obctl dev --in-process`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ob_core::realtime::{Push, PushError};
use ob_core::route_key::RouteKey;

use futures::SinkExt;
use ob_tests::http;
use ob_tests::obctl::{obctl, obctl_bin};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::local_metrics::{self, Backend, Caller};
use crate::realtime::{Socket, next};
use crate::realtime_revocation::{answers, closed, handshake_at};

/// `obctl dev`, killed when dropped; what it printed is kept.
pub(crate) struct DevServer {
    child: Child,
    printed: Arc<Mutex<Vec<String>>>,
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl DevServer {
    /// Waits for a printed line containing every one of `needles`.
    pub(crate) fn line(&self, needles: &[&str]) -> String {
        let deadline = std::time::Instant::now() + crate::realtime::PATIENCE;
        loop {
            if let Some(line) = self
                .printed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .find(|l| needles.iter().all(|n| l.contains(n)))
            {
                return line.clone();
            }
            if std::time::Instant::now() > deadline {
                let printed = self
                    .printed
                    .lock()
                    .map(|p| p.join("\n"))
                    .unwrap_or_default();
                panic!("obctl dev printed no line with {needles:?}:\n{printed}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub(crate) fn admin(emu: &ob_tests::Emulator, args: &[&str]) -> String {
    let run = obctl(emu, args);
    assert_eq!(
        run.code, 0,
        "obctl {args:?}\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    run.stdout.trim().to_owned()
}

/// An app and a key for it, the way an operator (and `make dev`) makes them.
pub(crate) fn app_with_key(emu: &ob_tests::Emulator, app: &str) -> String {
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

/// `obctl dev` for the `local` stage on a free port, with `flags`; returns it and its `host:port`.
fn start_dev(emu: &ob_tests::Emulator, flags: &[&str]) -> (DevServer, String) {
    let port = ob_tests::free_port();
    let mut args = vec!["--stage", "local"];
    args.extend(flags);
    let server = start_dev_at(emu, port, &args);
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
    let printed = Arc::new(Mutex::new(Vec::new()));
    let (ready, started) = std::sync::mpsc::channel();
    let keep = Arc::clone(&printed);
    // Reads everything obctl dev prints for as long as it runs.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let banner_done = line.starts_with("Ctrl-C");
            keep.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(line);
            if banner_done {
                let _ = ready.send(());
            }
        }
    });
    let server = DevServer { child, printed };
    started
        .recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| {
            panic!(
                "obctl dev did not start:\n{}",
                server
                    .printed
                    .lock()
                    .map(|p| p.join("\n"))
                    .unwrap_or_default()
            )
        });
    server.line(&[&format!("ws://127.0.0.1:{port}/live")]);
    server.line(&[&format!("http://127.0.0.1:{port}/_dev/outbox")]);
    server
}

/// One process per function, each a child of `obctl dev`, running its own binary.
async fn functions_run_as_child_processes(server: &DevServer, base: &str) {
    let (status, listed) =
        http::json("GET", &format!("http://{base}/_dev/functions"), &[], None).await;
    assert_eq!(status, 200, "{listed}");
    let listed = listed.as_array().expect("a list").clone();
    assert_eq!(listed.len(), ob_core::functions::ALL.len(), "{listed:?}");
    for def in ob_core::functions::ALL {
        let entry = listed
            .iter()
            .find(|f| f["function"] == def.name)
            .unwrap_or_else(|| panic!("{} is not running: {listed:?}", def.name));
        assert!(
            entry["executable"]
                .as_str()
                .is_some_and(|e| e.ends_with(def.package)),
            "{entry}"
        );
        let pid = entry["instances"][0]["pid"].as_u64().expect("a pid");
        let stat =
            std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the process exists");
        // The parent pid is the fourth field, after the parenthesised command name.
        let parent: u32 = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok())
            .expect("a parent pid");
        assert_eq!(
            parent,
            server.child.id(),
            "{} runs as a child of obctl dev",
            def.name
        );
    }
}

/// Every route of the rendered template is answered by its own function, never by API Gateway's 404.
async fn every_template_route_reaches_its_function(server: &DevServer, base: &str) {
    let project = obctl::project::Project::at(&ob_tests::emulator::workspace_root());
    let stage = obctl::stage::load(&project, "local").expect("stage");
    let template = obctl::render::render(&project, &stage).expect("renders");
    let model = obctl::render::model::read(&template).expect("model");
    let http_api = model
        .api(obctl::render::model::Protocol::Http)
        .expect("an HTTP API");
    for route in &http_api.routes {
        RouteKey::parse(&route.key).expect("route key");
        let (method, path) = route.key.split_once(' ').expect("METHOD /path");
        let method = if method == "ANY" { "GET" } else { method };
        let path = path.replace("{proxy+}", "x/y").replace(['{', '}'], "");
        let reply = http::exchange(method, &format!("http://{base}{path}"), &[], &[]).await;
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
        assert_ne!(
            body,
            json!({"message": "Not Found"}),
            "{method} {path} got API Gateway's 404"
        );
        let function = route.function.name;
        server.line(&[&format!("{function:<8} {method} {path} ({})", route.key)]);
    }
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
    let (server, base) = start_dev(emu, &[]);
    functions_run_as_child_processes(&server, &base).await;
    every_template_route_reaches_its_function(&server, &base).await;
    let (_, ada) = register(&base, "demo", &demo_key, "ada").await;
    let (bob_id, bob) = register(&base, "demo", &demo_key, "bob").await;
    let (carol_id, carol) = register(&base, "rival", &rival_key, "carol").await;
    let demo = Caller {
        app: "demo",
        key: &demo_key,
        token: &ada,
    };
    let rival = Caller {
        app: "rival",
        key: &rival_key,
        token: &carol,
    };
    local_metrics::per_app_and_route(&base, demo, rival, Backend::Processes).await;

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
    server.line(&["realtime RealtimeStreamMapping", "ok"]);

    changes_still_arrive_after_cancelled_transactions(&base, &demo_key, &bob, &mut ada_ws).await;
    a_push_to_a_closed_connection_is_gone(emu, &server, &base, carol_ws).await;
    crate::local_outbox::password_reset_through_the_outbox(&server, &base, &demo_key).await;
    crate::local_outbox::notify_commands(emu, &server);
    crate::local_webhooks::data_changes_reach_the_receiver(emu, &server, &base, &demo_key, &ada)
        .await;
    the_example_page_is_served(&base).await;
    revoking_access_closes_open_sockets(emu, &base, &demo_key, &rival_key, &carol).await;
    crate::openapi_conformance::schemathesis_finds_nothing(emu, &base).await;
    drop(server);

    // `--in-process` serves the same numbers from the API's own metrics, and the same page.
    let (_server, base) = start_dev(emu, &["--in-process"]);
    local_metrics::per_app_and_route(&base, demo, rival, Backend::InProcess).await;
    the_example_page_is_served(&base).await;
    // Its sockets are closed through its own `DELETE /live/@connections/{id}`.
    let mut carol_ws = socket(&base, &rival_key, &carol).await;
    admin(
        emu,
        &[
            "users",
            "disable",
            "--stage",
            "local",
            "--app",
            "rival",
            "carol@example.com",
        ],
    );
    assert!(
        closed(&mut carol_ws).await,
        "in-process: carol's socket is closed"
    );
}

/// `obctl users disable`, `keys revoke` and `apps update --state suspended` close the sockets they take access
/// from, through the local gateway's `DELETE @connections/{id}`; another app's socket stays open.
async fn revoking_access_closes_open_sockets(
    emu: &ob_tests::Emulator,
    base: &str,
    demo_key: &str,
    rival_key: &str,
    carol: &str,
) {
    let created = admin(
        emu,
        &[
            "keys", "create", "--stage", "local", "--app", "demo", "--name", "second", "--scopes",
            "*", "--output", "json",
        ],
    );
    let created: serde_json::Value = serde_json::from_str(&created).expect("json");
    let (second_key, second_id) = (
        created["key"].as_str().expect("key"),
        created["keyId"].as_str().expect("key id"),
    );
    let (_, dee) = register(base, "demo", second_key, "dee").await;
    let (_, eve) = register(base, "demo", demo_key, "eve").await;
    let (_, fay) = register(base, "demo", demo_key, "fay").await;
    let mut dee_ws = socket(base, second_key, &dee).await;
    let mut eve_ws = socket(base, demo_key, &eve).await;
    let mut fay_ws = socket(base, demo_key, &fay).await;
    let mut carol_ws = socket(base, rival_key, carol).await;

    let disabled = admin(
        emu,
        &[
            "users",
            "disable",
            "--stage",
            "local",
            "--app",
            "demo",
            "eve@example.com",
        ],
    );
    assert!(
        closed(&mut eve_ws).await,
        "the disabled user's socket is closed"
    );
    assert!(disabled.contains("1 connection(s) closed"), "{disabled}");
    answers(&mut dee_ws).await;
    assert_eq!(handshake_at(base, demo_key, &eve).await, 401);

    let revoked = admin(
        emu,
        &[
            "keys", "revoke", "--stage", "local", "--app", "demo", second_id,
        ],
    );
    assert!(
        closed(&mut dee_ws).await,
        "the revoked key's socket is closed"
    );
    assert!(revoked.contains("1 open connection(s) closed"), "{revoked}");
    answers(&mut fay_ws).await;

    let state = |s: &'static str| ["apps", "update", "demo", "--stage", "local", "--state", s];
    admin(emu, &state("suspended"));
    assert!(
        closed(&mut fay_ws).await,
        "the suspended app's socket is closed"
    );
    answers(&mut carol_ws).await;
    admin(emu, &state("active"));
}

/// `/_dev/example/` (`obctl dev`'s own, never a function's): the page and the helper it imports.
async fn the_example_page_is_served(base: &str) {
    let bare = http::exchange("GET", &format!("http://{base}/_dev/example"), &[], &[]).await;
    assert_eq!(bare.status, 308);
    assert_eq!(bare.header("location"), ["/_dev/example/"]);
    let page = http::exchange("GET", &format!("http://{base}/_dev/example/"), &[], &[]).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), ["text/html; charset=utf-8"]);
    assert!(String::from_utf8_lossy(&page.body).contains("example.js"));
    let helper = http::exchange(
        "GET",
        &format!("http://{base}/_dev/example/one-backend.js"),
        &[],
        &[],
    )
    .await;
    assert_eq!(helper.status, 200);
    assert_eq!(
        helper.body,
        include_bytes!("../browser/example/one-backend.js")
    );
    let missing = http::exchange(
        "GET",
        &format!("http://{base}/_dev/example/nope.js"),
        &[],
        &[],
    )
    .await;
    assert_eq!(missing.status, 404);
}

/// A conflicting registration (a cancelled transaction on the users table) and a
/// stale `If-Match` update leave the stream mapping delivering.
async fn changes_still_arrive_after_cancelled_transactions(
    base: &str,
    key: &str,
    bob: &str,
    ada_ws: &mut crate::realtime::Socket,
) {
    let again =
        json!({"appId": "demo", "email": "bob@example.com", "password": "correct horse battery"});
    let (status, _) = http::json(
        "POST",
        &format!("http://{base}/auth/register"),
        &[("X-API-Key", key)],
        Some(&again),
    )
    .await;
    assert_eq!(status, 409);
    let id = note(base, "demo", key, bob, "before the stale update").await;
    assert_eq!(next(ada_ws).await["id"], id.as_str());
    let bearer = format!("Bearer {bob}");
    let (status, _) = http::json(
        "PUT",
        &format!("http://{base}/api/demo/notes/{id}"),
        &[
            ("X-API-Key", key),
            ("Authorization", &bearer),
            ("If-Match", "\"41\""),
        ],
        Some(&json!({"data": {"text": "stale"}})),
    )
    .await;
    assert_eq!(status, 412);
    let after = note(base, "demo", key, bob, "after the cancellations").await;
    assert_eq!(next(ada_ws).await["id"], after.as_str());
}

/// The realtime function's management client gets `410 Gone` for a connection that closed.
async fn a_push_to_a_closed_connection_is_gone(
    emu: &ob_tests::Emulator,
    server: &DevServer,
    base: &str,
    mut carol_ws: crate::realtime::Socket,
) {
    let sdk = emu.sdk_config().await;
    let outputs = crate::admin::stack_outputs(emu).await;
    let store = ob_core::Store::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        ob_core::Tables::from_lookup(|def| outputs.get(def.output).cloned()),
    );
    let members = ob_core::realtime::connections::members(&store, "rival", "resource:notes")
        .await
        .expect("members");
    assert_eq!(members.len(), 1, "carol's connection");
    let carol = members[0].connection_id.clone();
    let push = ob_realtime::push::ManagementApi::new(&sdk, &format!("http://{base}/live"));
    assert_eq!(push.send(&carol, "{\"type\":\"hello\"}").await, Ok(()));
    assert_eq!(next(&mut carol_ws).await["type"], "hello");
    carol_ws.close(None).await.expect("close");
    server.line(&["realtime ws $disconnect", "200"]);
    assert_eq!(push.send(&carol, "{}").await, Err(PushError::Gone));
}
