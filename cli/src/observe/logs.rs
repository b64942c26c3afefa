//! `obctl logs`: the functions' log lines from CloudWatch Logs, merged in time order, once or following.
//!
//! Each function has its own log group (`/aws/lambda/<stack>-<function>`,
//! named by the template); the groups are read in parallel with
//! FilterLogEvents and merged by timestamp. `--follow` polls from the newest
//! line seen, looking a few seconds back for lines ingested late, and never
//! prints a line twice.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::operation::filter_log_events::FilterLogEventsError;

use crate::admin::when;
use crate::args::{GlobalArgs, LogsArgs, OutputFormat};
use crate::aws::{Aws, aws_error, error_code};
use crate::error::{CliError, Result};
use crate::project::Project;
use crate::stage::{self, Stage};
use crate::terminal::{Style, Terminal};
use ob_core::functions;

use super::log_line::LogEvent;

/// How far back each `--follow` poll looks again for lines CloudWatch ingested late.
const LATE_LINES_MS: i64 = 10_000;

/// A validated `obctl logs`.
#[derive(Debug, Clone)]
pub struct LogsPlan {
    pub stage: Stage,
    /// (function, log group), in the stage's function order.
    pub groups: Vec<(String, String)>,
    pub start_ms: i64,
    pub filter: Option<String>,
    pub follow: bool,
    pub limit: usize,
}

impl LogsPlan {
    /// Checks every flag before any AWS call.
    pub fn new(args: &LogsArgs, project: &Project, now_ms: i64) -> Result<Self> {
        let stage = stage::load(project, &args.target.stage)?;
        let names: Vec<&str> = functions::ALL.iter().map(|f| f.name).collect();
        for name in &args.functions {
            if !names.contains(&name.as_str()) {
                let mut err = CliError::new(format!("--function {name}: no such function"))
                    .detail(format!("the stage's functions are {}", names.join(", ")));
                if let Some(close) = stage::closest(name, names.iter().copied()) {
                    err = err.fix(format!("did you mean --function {close}?"));
                }
                return Err(err);
            }
        }
        let start = when::parse_since(&args.since, now_ms / 1000).map_err(|msg| {
            CliError::new(format!("--since: {msg}"))
                .fix("e.g. --since 10m, --since 2h or --since 2027-01-01")
        })?;
        if args.limit == 0 {
            return Err(CliError::new("--limit must be at least 1"));
        }
        let filter = args.filter.clone().filter(|f| !f.trim().is_empty());
        let groups = functions::ALL
            .iter()
            .filter(|f| args.functions.is_empty() || args.functions.iter().any(|a| a == f.name))
            .map(|f| {
                (
                    f.name.to_owned(),
                    stage::log_group(&stage.config.stack_name, f),
                )
            })
            .collect();
        Ok(Self {
            stage,
            groups,
            start_ms: start.saturating_mul(1000),
            filter,
            follow: args.follow,
            limit: args.limit,
        })
    }
}

/// What one read of every group found.
#[derive(Debug, Default)]
pub struct Batch {
    /// Merged, oldest first.
    pub events: Vec<LogEvent>,
    /// Older events left out to stay within the limit.
    pub dropped: usize,
    /// Groups that do not exist (a function never deployed or deleted).
    pub missing: Vec<String>,
}

/// Reads every group from `start_ms`, keeping each group's newest `limit` events.
pub async fn read(logs: &Client, plan: &LogsPlan, start_ms: i64, limit: usize) -> Result<Batch> {
    let reads = plan.groups.iter().map(|(function, group)| async move {
        (
            group.clone(),
            read_group(
                logs,
                function,
                group,
                start_ms,
                plan.filter.as_deref(),
                limit,
            )
            .await,
        )
    });
    let mut batch = Batch::default();
    for (group, result) in futures::future::join_all(reads).await {
        match result {
            Ok((events, dropped)) => {
                batch.events.extend(events);
                batch.dropped += dropped;
            }
            Err(err) if error_code(&err) == Some("ResourceNotFoundException") => {
                batch.missing.push(group)
            }
            Err(err) => return Err(aws_error(&format!("read the log group {group}"), &err)),
        }
    }
    batch.events.sort_by(|a, b| {
        (a.timestamp_ms, &a.function, &a.event_id).cmp(&(b.timestamp_ms, &b.function, &b.event_id))
    });
    if batch.events.len() > limit {
        batch.dropped += batch.events.len() - limit;
        batch.events.drain(..batch.events.len() - limit);
    }
    Ok(batch)
}

type FilterError = aws_sdk_cloudwatchlogs::error::SdkError<
    FilterLogEventsError,
    aws_sdk_cloudwatchlogs::config::http::HttpResponse,
>;

async fn read_group(
    logs: &Client,
    function: &str,
    group: &str,
    start_ms: i64,
    filter: Option<&str>,
    limit: usize,
) -> std::result::Result<(Vec<LogEvent>, usize), FilterError> {
    let mut kept: VecDeque<LogEvent> = VecDeque::new();
    let mut dropped = 0;
    let mut token = None;
    loop {
        let page = logs
            .filter_log_events()
            .log_group_name(group)
            .start_time(start_ms)
            .set_filter_pattern(filter.map(str::to_owned))
            .set_next_token(token)
            .send()
            .await?;
        for e in page.events() {
            kept.push_back(LogEvent {
                timestamp_ms: e.timestamp().unwrap_or_default(),
                function: function.to_owned(),
                log_stream: e.log_stream_name().unwrap_or_default().to_owned(),
                event_id: e.event_id().unwrap_or_default().to_owned(),
                message: e.message().unwrap_or_default().to_owned(),
            });
            if kept.len() > limit {
                kept.pop_front();
                dropped += 1;
            }
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok((kept.into(), dropped));
        }
    }
}

/// Prints events on standard output in the chosen format.
fn print(events: &[LogEvent], format: OutputFormat, width: usize, color: bool) {
    for e in events {
        match format {
            OutputFormat::Text => println!("{}", e.render(width, color)),
            OutputFormat::Json => match serde_json::to_string(&e.to_json()) {
                Ok(line) => println!("{line}"),
                Err(err) => eprintln!("error: could not encode a log line as JSON: {err}"),
            },
        }
    }
}

pub async fn run(global: &GlobalArgs, args: &LogsArgs, project: &Project) -> Result<u8> {
    let now_ms = ob_metrics::emf::now_ms() as i64;
    let plan = LogsPlan::new(args, project, now_ms)?;
    let aws = Aws::connect(&args.target.aws, &plan.stage.config.region).await;
    let logs = aws.logs();
    let width = plan.groups.iter().map(|(f, _)| f.len()).max().unwrap_or(0);
    let color = global.output == OutputFormat::Text && Terminal::current().color_stdout;

    let first = read(&logs, &plan, plan.start_ms, plan.limit).await?;
    if first.missing.len() == plan.groups.len() {
        return Err(CliError::new(format!(
            "stage {} has no log groups ({} …)",
            plan.stage.name, plan.groups[0].1
        ))
        .fix(format!(
            "deploy it first (`obctl deploy --stage {}`), and check --region/--profile",
            plan.stage.name
        )));
    }
    for group in &first.missing {
        eprintln!(
            "{}",
            Style::Yellow.err(&format!("note: log group {group} does not exist yet"))
        );
    }
    if first.dropped > 0 {
        eprintln!(
            "{}",
            Style::Yellow.err(&format!(
                "note: {} earlier lines left out (--limit {}); narrow --since or --filter to see them",
                first.dropped, plan.limit
            ))
        );
    }
    print(&first.events, global.output, width, color);
    if !plan.follow {
        return Ok(0);
    }
    follow(&logs, &plan, first.events, global.output, width, color).await
}

/// Polls for new lines until Ctrl-C.
async fn follow(
    logs: &Client,
    plan: &LogsPlan,
    shown: Vec<LogEvent>,
    format: OutputFormat,
    width: usize,
    color: bool,
) -> Result<u8> {
    let interval = crate::deploy::poll_interval().min(Duration::from_secs(2));
    let mut newest = shown
        .iter()
        .map(|e| e.timestamp_ms)
        .max()
        .unwrap_or(plan.start_ms);
    // Lines already printed, by (function, event id), with their time.
    let mut seen: HashMap<(String, String), i64> = shown
        .into_iter()
        .map(|e| ((e.function, e.event_id), e.timestamp_ms))
        .collect();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(0),
            () = tokio::time::sleep(interval) => {}
        }
        let from = (newest - LATE_LINES_MS).max(plan.start_ms);
        let batch = read(logs, plan, from, usize::MAX).await?;
        let fresh: Vec<LogEvent> = batch
            .events
            .into_iter()
            .filter(|e| {
                seen.insert((e.function.clone(), e.event_id.clone()), e.timestamp_ms)
                    .is_none()
            })
            .collect();
        newest = fresh
            .iter()
            .map(|e| e.timestamp_ms)
            .max()
            .unwrap_or(newest)
            .max(newest);
        print(&fresh, format, width, color);
        // Lines older than the next poll's window cannot come back.
        seen.retain(|_, at| *at >= newest - LATE_LINES_MS);
    }
}
