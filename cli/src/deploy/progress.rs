//! Follows a stack operation through its events until it ends, showing each
//! resource's progress: a live bar on a terminal, timestamped lines otherwise.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::StackEvent;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::aws::aws_error;
use crate::error::Result;

/// One stack event, as shown to the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub time: String,
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
}

impl Event {
    pub fn from_sdk(e: &StackEvent) -> Self {
        Self {
            time: e
                .timestamp()
                .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
                .unwrap_or_default(),
            logical_id: e.logical_resource_id().unwrap_or_default().to_owned(),
            resource_type: e.resource_type().unwrap_or_default().to_owned(),
            status: e
                .resource_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            reason: e.resource_status_reason().map(str::to_owned),
        }
    }

    fn is_stack(&self) -> bool {
        self.resource_type == "AWS::CloudFormation::Stack"
    }
}

impl Event {
    /// The event as one line; the status coloured by outcome when `color`.
    pub fn render(&self, color: bool) -> String {
        use crate::terminal::Style;
        let style = if self.status.ends_with("_FAILED") || self.status.contains("ROLLBACK") {
            Style::Red
        } else if self.status.ends_with("_COMPLETE") {
            Style::Green
        } else {
            Style::Yellow
        };
        let mut line = format!(
            "{}  {:<34} {:<30} {}",
            self.time,
            self.logical_id,
            self.resource_type,
            style.paint(color, &self.status)
        );
        if let Some(reason) = &self.reason {
            line.push_str(&format!("  {reason}"));
        }
        line
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(false))
    }
}

/// How an operation ended.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub final_status: String,
    pub succeeded: bool,
    /// The first resource that failed, which caused the rollback.
    pub first_failure: Option<Event>,
}

/// Where progress goes.
pub trait Display {
    fn event(&mut self, event: &Event);
    fn finish(&mut self, outcome: &Outcome);
}

/// A live bar with per-resource lines above it (interactive terminals).
#[derive(Debug)]
pub struct Bar(ProgressBar);

impl Bar {
    pub fn new(total_resources: usize) -> Self {
        let bar = ProgressBar::new(total_resources.max(1) as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} resources  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Self(bar)
    }
}

impl Display for Bar {
    fn event(&mut self, event: &Event) {
        self.0
            .println(event.render(crate::terminal::Terminal::current().color_stderr));
        if !event.is_stack() && event.status.ends_with("_COMPLETE") {
            self.0.inc(1);
        }
        self.0.set_message(event.status.clone());
    }

    fn finish(&mut self, outcome: &Outcome) {
        self.0.finish_with_message(outcome.final_status.clone());
    }
}

/// Plain timestamped lines on stderr (CI logs, pipes).
#[derive(Debug, Default)]
pub struct Lines;

impl Display for Lines {
    fn event(&mut self, event: &Event) {
        eprintln!(
            "{}",
            event.render(crate::terminal::Terminal::current().color_stderr)
        );
    }

    fn finish(&mut self, _outcome: &Outcome) {}
}

/// Whether a stack status ends an operation.
pub fn is_terminal(status: &str) -> bool {
    !status.ends_with("_IN_PROGRESS")
}

/// The id of the stack's newest event: events after it belong to the next operation.
/// (An exact marker; comparing clocks with AWS's timestamps could drop or repeat events.)
pub async fn newest_event_id(cfn: &Client, stack_name: &str) -> Result<Option<String>> {
    let page = cfn
        .describe_stack_events()
        .stack_name(stack_name)
        .send()
        .await
        .map_err(|err| aws_error(&format!("read the events of {stack_name}"), &err))?;
    Ok(page
        .stack_events()
        .first()
        .and_then(|e| e.event_id().map(str::to_owned)))
}

/// Polls the stack's events after `baseline` until the operation ends.
/// `stack` should be the stack id: a name can also match deleted stacks.
pub async fn follow(
    cfn: &Client,
    stack: &str,
    baseline: Option<String>,
    display: &mut dyn Display,
    interval: Duration,
) -> Result<Outcome> {
    let mut seen: HashSet<String> = HashSet::new();
    seen.extend(baseline);
    let mut first_failure: Option<Event> = None;
    loop {
        let fresh = new_events(cfn, stack, &mut seen).await?;
        let mut final_status = None;
        for event in fresh {
            display.event(&event);
            if first_failure.is_none()
                && !event.is_stack()
                && event.status.ends_with("_FAILED")
                && !event
                    .reason
                    .as_deref()
                    .is_some_and(|r| r.contains("cancelled"))
            {
                first_failure = Some(event.clone());
            }
            if event.is_stack() && is_terminal(&event.status) {
                final_status = Some(event.status.clone());
            }
        }
        // Emulators may record no resource events; the stack's own status decides.
        if final_status.is_none() {
            let status = super::stack::describe(cfn, stack)
                .await?
                .and_then(|s| s.stack_status().map(|s| s.as_str().to_owned()));
            final_status = status.filter(|s| is_terminal(s));
        }
        if let Some(status) = final_status {
            let succeeded = !status.contains("ROLLBACK") && !status.ends_with("_FAILED");
            let outcome = Outcome {
                final_status: status,
                succeeded,
                first_failure,
            };
            display.finish(&outcome);
            return Ok(outcome);
        }
        tokio::time::sleep(interval).await;
    }
}

/// Events not shown yet (newer than the baseline), oldest first.
async fn new_events(
    cfn: &Client,
    stack_name: &str,
    seen: &mut HashSet<String>,
) -> Result<Vec<Event>> {
    let mut fresh = Vec::new();
    let mut token = None;
    'pages: loop {
        let page = cfn
            .describe_stack_events()
            .stack_name(stack_name)
            .set_next_token(token)
            .send()
            .await
            .map_err(|err| aws_error(&format!("read the events of {stack_name}"), &err))?;
        // Newest first: stop at the first event already shown (or the baseline).
        for e in page.stack_events() {
            let id = e.event_id().unwrap_or_default().to_owned();
            if seen.contains(&id) {
                break 'pages;
            }
            seen.insert(id);
            fresh.push(Event::from_sdk(e));
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    fresh.reverse();
    Ok(fresh)
}
