//! `obctl users` against a deployed local stage: roles, disabling and sessions
//! take effect on the in-process API, and each action is audited.

#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::http::StatusCode;
use ob_tests::emulator::{Emulator, emulator};
use ob_tests::fixtures::{Call, Reply, send_to};
use ob_tests::obctl::obctl;
use serde_json::json;

use crate::admin::{deploy_local, deployed_api, fails_with, json_run, ok};

const PASSWORD: &str = "correct horse battery";

async fn login(router: &Router, key: &str, email: &str) -> Reply {
    let body = json!({"email": email, "password": PASSWORD, "appId": "shop"});
    send_to(router, Call::post("/auth/login").key(key).json(&body)).await
}

fn deploy_with_app(emu: &Emulator) -> String {
    deploy_local(emu, "users");
    json_run(emu, &["apps", "create", "--name", "Shop", "--id", "shop"]);
    let key = json_run(
        emu,
        &[
            "keys", "create", "--app", "shop", "--name", "all", "--scopes", "*",
        ],
    );
    key["key"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn users_roles_disabling_and_sessions_against_a_deployed_stage() {
    let emu = emulator().await;
    let key = deploy_with_app(&emu);
    let (store, router) = deployed_api(&emu).await;

    let body = json!({"email": "ann@example.com", "password": PASSWORD, "appId": "shop"});
    let reg = send_to(&router, Call::post("/auth/register").key(&key).json(&body)).await;
    assert_eq!(reg.status, StatusCode::CREATED, "{:?}", reg.body);
    let user_id = reg.str("/user/userId");
    let put = |token: &str| {
        Call::put("/config/shop")
            .key(&key)
            .bearer(token)
            .json(&json!({}))
    };
    let before = send_to(&router, put(&reg.str("/accessToken"))).await;
    assert_eq!(before.status, StatusCode::FORBIDDEN);

    // List, by e-mail too; unknown users name the fix.
    let listed = json_run(&emu, &["users", "list", "--app", "shop"]);
    assert_eq!(listed["users"][0]["userId"], user_id.as_str());
    assert_eq!(listed["users"][0]["role"], "user");
    let one = json_run(
        &emu,
        &[
            "users",
            "list",
            "--app",
            "shop",
            "--email",
            "ANN@example.com",
        ],
    );
    assert_eq!(one["users"].as_array().unwrap().len(), 1);
    let none = json_run(
        &emu,
        &[
            "users",
            "list",
            "--app",
            "shop",
            "--email",
            "zed@example.com",
        ],
    );
    assert_eq!(none["users"], json!([]));
    let missing = obctl(
        &emu,
        &[
            "users", "disable", "--stage", "local", "--app", "shop", "nobody",
        ],
    );
    fails_with(
        &missing,
        &["user nobody not found in app shop", "obctl users list"],
    );
    let no_app = obctl(
        &emu,
        &["users", "list", "--stage", "local", "--app", "nope"],
    );
    fails_with(&no_app, &["app nope not found", "obctl apps list"]);

    // set-role (by e-mail) makes the user an admin on the API at the next login.
    let made = json_run(
        &emu,
        &[
            "users",
            "set-role",
            "--app",
            "shop",
            "ann@example.com",
            "admin",
        ],
    );
    assert_eq!(made["role"], "admin");
    assert_eq!(made["action"], "set-role");
    let session = login(&router, &key, "ann@example.com").await;
    assert_eq!(session.status, StatusCode::OK);
    let after = send_to(&router, put(&session.str("/accessToken"))).await;
    assert_eq!(after.status, StatusCode::OK, "{:?}", after.body);

    // revoke-sessions ends the refresh token; disable stops logins; enable restores them.
    let refresh = session.str("/refreshToken");
    let revoked = json_run(
        &emu,
        &["users", "revoke-sessions", "--app", "shop", &user_id],
    );
    assert!(
        revoked["sessionsRevoked"].as_u64().unwrap() >= 1,
        "{revoked}"
    );
    let refreshed = send_to(
        &router,
        Call::post("/auth/refresh")
            .key(&key)
            .json(&json!({"refreshToken": refresh})),
    )
    .await;
    assert_eq!(refreshed.status, StatusCode::UNAUTHORIZED);
    let disabled = json_run(&emu, &["users", "disable", "--app", "shop", &user_id]);
    assert_eq!(disabled["disabled"], true);
    // The app's webhooks hear of it: one auth.user.disabled event on the webhook queue.
    let outputs = crate::admin::stack_outputs(&emu).await;
    let received = aws_sdk_sqs::Client::new(&emu.sdk_config().await)
        .receive_message()
        .queue_url(&outputs[ob_core::queues::WEBHOOK_DELIVERIES.output])
        .max_number_of_messages(10)
        .send()
        .await
        .expect("the webhook queue is readable");
    let events: Vec<ob_core::webhooks::events::Event> = received
        .messages()
        .iter()
        .filter_map(|m| ob_core::webhooks::queue::Work::parse(m.body().unwrap_or_default()))
        .filter_map(|w| match w {
            ob_core::webhooks::queue::Work::Event(e) => Some(e),
            ob_core::webhooks::queue::Work::Attempt(_) => None,
        })
        .filter(|e| e.event_type == ob_core::webhooks::EventType::UserDisabled)
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].app_id, "shop");
    assert!(events[0].body.contains(&user_id), "{}", events[0].body);
    assert_eq!(
        login(&router, &key, "ann@example.com").await.status,
        StatusCode::UNAUTHORIZED
    );
    let enabled = obctl(
        &emu,
        &[
            "users", "enable", "--stage", "local", "--app", "shop", &user_id,
        ],
    );
    ok(&enabled);
    assert!(enabled.stdout.contains("enabled"), "{}", enabled.stdout);
    assert_eq!(
        login(&router, &key, "ann@example.com").await.status,
        StatusCode::OK
    );

    let entries = ob_core::audit::list(&store, "shop", 100).await.unwrap();
    let target = format!("user:{user_id}");
    for action in [
        "user.role.set",
        "user.sessions.revoke",
        "user.disable",
        "user.enable",
    ] {
        assert!(
            entries.iter().any(|e| e.action == action
                && e.target == target
                && e.actor.starts_with("operator:arn:aws:")),
            "{action} by the operator missing"
        );
    }

    // `obctl audit --follow` prints new entries as they are written.
    let mut child = std::process::Command::new(ob_tests::obctl::obctl_bin())
        .args([
            "audit", "--stage", "local", "--app", "shop", "--follow", "--output", "json",
        ])
        .current_dir(ob_tests::emulator::workspace_root())
        .envs(emu.env_vars())
        .env("OBCTL_POLL_MS", "50")
        .env_remove("AWS_PROFILE")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let first = rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap();
    assert!(
        first.contains("auth.login.success"),
        "newest first: {first}"
    );
    json_run(&emu, &["apps", "update", "shop", "--name", "Followed"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut followed = false;
    while let Ok(line) =
        rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
    {
        if line.contains("\"app.update\"") {
            followed = true;
            break;
        }
    }
    child.kill().unwrap();
    let _ = child.wait();
    assert!(followed, "--follow did not print the new entry");
}
