//! `-v` shows every AWS call on stderr, `-vv` each attempt; colour follows the
//! terminal and `--no-color` or `NO_COLOR` turn it off.

#![allow(clippy::unwrap_used)]

use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use ob_tests::obctl::{obctl, obctl_with_env};

use crate::replay;

fn aws_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("aws ")).collect()
}

#[tokio::test]
async fn v_shows_each_call_with_status_time_and_request_id() {
    let emu = ob_tests::emulator().await;
    let quiet = obctl(&emu, &["status", "--stage", "local"]);
    assert!(aws_lines(&quiet.stderr).is_empty(), "{}", quiet.stderr);

    let run = obctl(&emu, &["status", "--stage", "local", "-v"]);
    assert_eq!(run.code, 1, "not deployed");
    let lines = aws_lines(&run.stderr);
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    let words: Vec<&str> = lines[0].split(' ').collect();
    assert_eq!(
        &words[..3],
        ["aws", "CloudFormation.DescribeStacks", "400"],
        "{}",
        lines[0]
    );
    assert!(
        words[3].parse::<u64>().is_ok() && words[4] == "ms",
        "{}",
        lines[0]
    );
    assert!(
        words[5].starts_with("request-id=") && words[5].len() > 20,
        "{}",
        lines[0]
    );
    assert!(!run.stderr.contains('\x1b'), "no colour without a terminal");

    let logs = obctl(
        &emu,
        &["logs", "--stage", "local", "--function", "auth", "-v"],
    );
    let lines = aws_lines(&logs.stderr);
    assert_eq!(lines.len(), 1, "{}", logs.stderr);
    assert!(
        lines[0].starts_with("aws CloudWatch Logs.FilterLogEvents 400 ResourceNotFoundException "),
        "{}",
        lines[0]
    );

    let vv = obctl(&emu, &["status", "--stage", "local", "-vv"]);
    let endpoint = emu.endpoint_url();
    assert!(
        vv.stderr.contains(&format!(
            "aws   region us-east-1, endpoint {endpoint}, profile"
        )),
        "{}",
        vv.stderr
    );
    assert!(
        vv.stderr.contains(&format!(
            "aws   CloudFormation.DescribeStacks attempt 1: POST {endpoint}/"
        )),
        "{}",
        vv.stderr
    );
    assert!(
        vv.stderr
            .contains("aws   CloudFormation.DescribeStacks attempt 1: 400 in "),
        "{}",
        vv.stderr
    );
}

#[tokio::test]
async fn colour_is_forced_on_request_and_no_color_always_wins() {
    let emu = ob_tests::emulator().await;
    let args = ["status", "--stage", "local", "-v"];
    let forced = obctl_with_env(&emu, &args, &[("CLICOLOR_FORCE", "1")]);
    assert!(
        forced.stderr.contains("\x1b[1;31merror:\x1b[0m"),
        "{:?}",
        forced.stderr
    );
    assert!(
        forced
            .stderr
            .contains("\x1b[1mCloudFormation.DescribeStacks\x1b[0m"),
        "{:?}",
        forced.stderr
    );
    for env in [
        [("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")],
        [("CLICOLOR_FORCE", "1"), ("NO_COLOR", "0")],
    ] {
        let off = obctl_with_env(&emu, &args, &env);
        assert!(!off.stderr.contains('\x1b'), "{env:?}: {:?}", off.stderr);
        assert!(off.stderr.contains("error: stage local is not deployed"));
    }
    let mut flag = args.to_vec();
    flag.push("--no-color");
    let off = obctl_with_env(&emu, &flag, &[("CLICOLOR_FORCE", "1")]);
    assert!(!off.stderr.contains('\x1b'), "{:?}", off.stderr);
    // clap's own messages too.
    let usage = obctl_with_env(
        &emu,
        &["status", "--bogus", "--no-color"],
        &[("CLICOLOR_FORCE", "1")],
    );
    assert_eq!(usage.code, i32::from(obctl::error::exit::USAGE));
    assert!(!usage.stderr.contains('\x1b'), "{:?}", usage.stderr);
}

fn replayed(status: u16, body: &str) -> ReplayEvent {
    let headers = [
        ("content-type", "text/xml"),
        ("x-amzn-RequestId", "5ccc7dcd-744c-11e5-be70-1b08c228efb3"),
    ];
    replay::answer(
        "https://cloudformation.eu-west-1.amazonaws.com/",
        status,
        &headers,
        body.to_owned(),
    )
}

/// Retries are invisible with `-v` except for their count, and shown one by one with `-vv`
/// (recorded AWS answers: a 503 throttle, then the result).
#[tokio::test]
async fn vv_shows_retried_attempts() {
    let throttled = r#"<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>5ccc7dcd</RequestId></ErrorResponse>"#;
    let listed = r#"<ListStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><ListStacksResult><StackSummaries/></ListStacksResult><ResponseMetadata><RequestId>5ccc7dcd-744c-11e5-be70-1b08c228efb3</RequestId></ResponseMetadata></ListStacksResponse>"#;
    let http = StaticReplayClient::new(vec![replayed(503, throttled), replayed(200, listed)]);
    let (trace, lines) = obctl::trace::CallTrace::recording(2);
    let config = aws_sdk_cloudformation::config::Builder::from(&replay::sdk_config(&http))
        .interceptor(trace)
        .build();
    aws_sdk_cloudformation::Client::from_conf(config)
        .list_stacks()
        .send()
        .await
        .unwrap();
    let lines = lines.lock().unwrap().clone();
    let shapes: Vec<String> = lines
        .iter()
        .map(|l| {
            l.split(" in ")
                .next()
                .unwrap()
                .split(" request-id")
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        shapes[0],
        "aws   CloudFormation.ListStacks attempt 1: POST https://cloudformation.eu-west-1.amazonaws.com/"
    );
    assert_eq!(shapes[1], "aws   CloudFormation.ListStacks attempt 1: 503");
    assert_eq!(shapes[3], "aws   CloudFormation.ListStacks attempt 2: 200");
    assert!(
        lines[4].starts_with("aws CloudFormation.ListStacks 200 "),
        "{}",
        lines[4]
    );
    assert!(
        lines[4].ends_with("request-id=5ccc7dcd-744c-11e5-be70-1b08c228efb3 (2 attempts)"),
        "{}",
        lines[4]
    );
}
