//! `obctl logs` against the emulator's CloudWatch Logs: the functions' lines
//! merged in time order with request ids, readable or as JSON, filtered, and
//! followed as new lines arrive.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use ob_tests::obctl::{command, obctl};
use serde_json::Value;

const STACK: &str = "one-backend-local";

fn group(function: &str) -> String {
    format!("/aws/lambda/{STACK}-{function}")
}

async fn put(logs: &aws_sdk_cloudwatchlogs::Client, function: &str, events: &[(i64, String)]) {
    let stream = "2026/01/01/[$LATEST]0123456789abcdef";
    let _ = logs
        .create_log_group()
        .log_group_name(group(function))
        .send()
        .await;
    let _ = logs
        .create_log_stream()
        .log_group_name(group(function))
        .log_stream_name(stream)
        .send()
        .await;
    let events = events
        .iter()
        .map(|(at, message)| {
            InputLogEvent::builder()
                .timestamp(*at)
                .message(message)
                .build()
                .unwrap()
        })
        .collect();
    logs.put_log_events()
        .log_group_name(group(function))
        .log_stream_name(stream)
        .set_log_events(Some(events))
        .send()
        .await
        .unwrap();
}

/// A metrics line exactly as the functions print it.
fn emf_line() -> String {
    let lines = ob_metrics::Recorder::default();
    let metrics = ob_metrics::Metrics::new("local", Default::default(), Arc::new(lines.clone()));
    let route = ob_metrics::Route::http("POST", "/auth/login");
    metrics.request(&ob_metrics::RequestSample {
        route: &route,
        app: Some("demo"),
        status: 401,
        latency_ms: 41.5,
        request_id: "apigw-req-7",
    });
    lines.lines().remove(0)
}

fn now_ms() -> i64 {
    ob_metrics::emf::now_ms() as i64
}

#[tokio::test]
async fn lines_of_every_function_merge_in_time_order_with_request_ids() {
    let emu = ob_tests::emulator().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&emu.sdk_config().await);
    let t = now_ms() - 60_000;
    put(&logs, "auth", &[
        (t + 1, "START RequestId: 4f1a-0001 Version: $LATEST".to_owned()),
        (t + 3, r#"{"level":"WARN","fields":{"message":"could not record api key use","error":"throttled"},"target":"ob_api::context","spans":[{"requestId":"4f1a-0001","name":"Lambda runtime invoke"}]}"#.to_owned()),
        (t + 4, emf_line()),
    ])
    .await;
    put(&logs, "data", &[
        (t + 2, r#"{"level":"ERROR","fields":{"message":"could not write audit entry","action":"data.create"},"spans":[{"requestId":"9d2b-0002"}]}"#.to_owned()),
        (t + 5, r#"{"time":"2026-01-01T00:00:00.000Z","type":"platform.report","record":{"requestId":"9d2b-0002","metrics":{"durationMs":12.5,"billedDurationMs":13,"memorySizeMB":256,"maxMemoryUsedMB":40}}}"#.to_owned()),
    ])
    .await;

    let run = obctl(&emu, &["logs", "--stage", "local", "--since", "10m"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{}", run.stdout);
    let expected = [
        (
            "auth",
            "4f1a-0001 START RequestId: 4f1a-0001 Version: $LATEST",
        ),
        (
            "data",
            "9d2b-0002 ERROR could not write audit entry action=data.create",
        ),
        (
            "auth",
            "4f1a-0001 WARN  could not record api key use error=throttled (ob_api::context)",
        ),
        ("auth", "apigw-req-7 METRICS Stage=local"),
        (
            "data",
            "9d2b-0002 REPORT duration=12.5 ms billed=13 ms memory=40/256 MB",
        ),
    ];
    for (line, (function, text)) in lines.iter().zip(expected) {
        let rest = line.split_once(' ').unwrap().1;
        assert!(
            rest.starts_with(&format!("{function:<8} {text}")),
            "{line:?} should be {function} {text}"
        );
    }
    assert!(!run.stdout.contains('\x1b'), "no colour into a pipe");
    assert!(
        run.stderr
            .contains(&format!("log group {} does not exist yet", group("files"))),
        "{}",
        run.stderr
    );

    // One function, a filter, and JSON with the message passed through.
    let run = obctl(
        &emu,
        &[
            "logs",
            "--stage",
            "local",
            "--function",
            "data",
            "--filter",
            "audit",
            "--output",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{}", run.stdout);
    assert_eq!(lines[0]["function"], "data");
    assert_eq!(lines[0]["requestId"], "9d2b-0002");
    assert_eq!(lines[0]["level"], "ERROR");
    assert_eq!(lines[0]["message"]["fields"]["action"], "data.create");

    // Only the newest lines within --limit, and the others are announced.
    let run = obctl(&emu, &["logs", "--stage", "local", "--limit", "2"]);
    assert_eq!(run.stdout.lines().count(), 2);
    assert!(run.stdout.contains("REPORT"), "the newest: {}", run.stdout);
    assert!(
        run.stderr.contains("3 earlier lines left out (--limit 2)"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn bad_flags_and_an_undeployed_stage_say_what_to_do() {
    let emu = ob_tests::emulator().await;
    let typo = obctl(&emu, &["logs", "--stage", "local", "--function", "auht"]);
    assert_eq!(typo.code, 1);
    assert!(
        typo.stderr.contains("--function auht: no such function"),
        "{}",
        typo.stderr
    );
    assert!(
        typo.stderr.contains("did you mean --function auth?"),
        "{}",
        typo.stderr
    );
    let since = obctl(&emu, &["logs", "--stage", "local", "--since", "yesterday"]);
    assert!(
        since
            .stderr
            .contains("--since: \"yesterday\" is not a duration"),
        "{}",
        since.stderr
    );
    let none = obctl(&emu, &["logs", "--stage", "local"]);
    assert_eq!(none.code, 1);
    assert!(
        none.stderr.contains("stage local has no log groups"),
        "{}",
        none.stderr
    );
    assert!(
        none.stderr.contains("fix: deploy it first"),
        "{}",
        none.stderr
    );
}

#[tokio::test]
async fn follow_prints_new_lines_as_they_arrive_and_never_twice() {
    let emu = ob_tests::emulator().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&emu.sdk_config().await);
    let t = now_ms() - 5_000;
    put(
        &logs,
        "realtime",
        &[(
            t,
            r#"{"level":"INFO","fields":{"message":"fan-out","delivered":3}}"#.to_owned(),
        )],
    )
    .await;
    let mut child = command(&emu)
        .args([
            "logs",
            "--stage",
            "local",
            "--function",
            "realtime",
            "--follow",
            "--since",
            "1m",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let next = || {
        rx.recv_timeout(Duration::from_secs(20))
            .expect("a line within 20 s")
    };
    assert!(next().contains("fan-out delivered=3"));
    put(
        &logs,
        "realtime",
        &[(
            now_ms(),
            r#"{"level":"INFO","fields":{"message":"fan-out","delivered":7}}"#.to_owned(),
        )],
    )
    .await;
    assert!(next().contains("fan-out delivered=7"));
    // Several polls later, nothing was printed again.
    std::thread::sleep(Duration::from_millis(600));
    assert!(rx.try_recv().is_err(), "a line was printed twice");
    child.kill().unwrap();
    child.wait().unwrap();
}
