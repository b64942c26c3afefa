//! The `make dev` promise of issue 13, on the `obctl dev` of `local_backend` (one process per function): a password
//! reset goes through the auth function, the notify queue and its mapping to the notify function's process, lands in
//! `GET /_dev/outbox` with one console line, and its link sets a new password; `obctl notify test` goes the same way.

use std::time::Duration;

use ob_tests::http;
use ob_tests::obctl::obctl;
use serde_json::json;

use crate::local_backend::DevServer;

/// The newest message to `to` in `GET /_dev/outbox`, once the worker sent it.
async fn outbox_message(base: &str, to: &str) -> serde_json::Value {
    for _ in 0..120 {
        let (status, outbox) =
            http::json("GET", &format!("http://{base}/_dev/outbox"), &[], None).await;
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
pub(crate) async fn password_reset_through_the_outbox(server: &DevServer, base: &str, key: &str) {
    let post = |path: &str, body: serde_json::Value| {
        let url = format!("http://{base}{path}");
        async move { http::json("POST", &url, &[("X-API-Key", key)], Some(&body)).await }
    };
    let (status, reply) = post(
        "/auth/password-reset",
        json!({"appId": "demo", "email": "ada@example.com"}),
    )
    .await;
    assert_eq!(status, 202, "{reply}");
    let mail = outbox_message(base, "ada@example.com").await;
    assert_eq!(mail["subject"], "Reset your demo password");
    assert!(
        mail["from"]
            .as_str()
            .unwrap_or_default()
            .contains("no-reply@localhost.example"),
        "{mail}"
    );
    assert!(
        mail["sentAt"].is_string() && mail["html"].is_string(),
        "{mail}"
    );
    let text = mail["text"].as_str().expect("text");
    let link = text
        .split_whitespace()
        .find(|w| w.starts_with("http://localhost:5173/reset-password?token="))
        .unwrap_or_else(|| panic!("no reset link in {text}"));
    let token = link.split("token=").nth(1).expect("token");
    // The notify function's own process sent it, fed by the queue's mapping.
    server.line(&["notify   NotifyQueueMapping 1 record", "ok"]);
    server.line(&[
        "mail to ada@example.com: \"Reset your demo password\"",
        "/_dev/outbox",
    ]);

    let (status, reply) = post(
        "/auth/password-reset/confirm",
        json!({"token": token, "password": "a brand new password"}),
    )
    .await;
    assert_eq!(status, 204, "{reply}");
    let login = |password: &str| {
        post(
            "/auth/login",
            json!({"appId": "demo", "email": "ada@example.com", "password": password}),
        )
    };
    assert_eq!(
        login("correct horse battery").await.0,
        401,
        "the old password is refused"
    );
    let (status, reply) = login("a brand new password").await;
    assert_eq!(status, 200, "{reply}");
    let (status, _) = post(
        "/auth/password-reset/confirm",
        json!({"token": token, "password": "yet another password"}),
    )
    .await;
    assert_eq!(status, 403, "the link works once");
}

/// `obctl notify test` goes through the deployed queue and the notify function `obctl dev` runs.
pub(crate) fn notify_commands(emu: &ob_tests::Emulator, server: &DevServer) {
    let test = obctl(
        emu,
        &[
            "notify",
            "test",
            "--stage",
            "local",
            "--app",
            "demo",
            "--to",
            "ops@example.com",
            "--output",
            "json",
        ],
    );
    assert_eq!(
        test.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        test.stdout, test.stderr
    );
    let result = test.json();
    assert_eq!(result["status"], "sent", "{result}");
    assert!(result["providerMessageId"].is_string(), "{result}");
    server.line(&["mail to ops@example.com"]);
    let list = obctl(
        emu,
        &[
            "notify",
            "suppressions",
            "list",
            "--stage",
            "local",
            "--app",
            "demo",
            "--output",
            "json",
        ],
    );
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert_eq!(list.json()["suppressions"], json!([]));
    let clear = obctl(
        emu,
        &[
            "notify",
            "suppressions",
            "clear",
            "--stage",
            "local",
            "--app",
            "demo",
            "ops@example.com",
        ],
    );
    assert_eq!(clear.code, 1, "nothing to clear");
    assert!(
        clear.stderr.contains("nothing to clear"),
        "{}",
        clear.stderr
    );
}
