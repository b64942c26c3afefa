//! `obctl audit`: an app's audit log, newest first, filtered by time, actor and action.

use std::collections::HashSet;
use std::fmt;

use ob_core::audit::{self, AuditEntry};
use ob_core::clock;
use serde::Serialize;

use super::args::AuditArgs;
use super::{AdminContext, when};
use crate::args::{GlobalArgs, OutputFormat};
use crate::error::{CliError, Result, exit};
use crate::project::Project;

/// Entries read per Query page.
const PAGE_SIZE: i32 = 100;

/// The entries shown, newest first.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditLog {
    pub app_id: String,
    pub entries: Vec<AuditEntry>,
}

impl fmt::Display for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.entries.is_empty() {
            return write!(f, "no matching audit entries for app {}", self.app_id);
        }
        write!(
            f,
            "{:<24} {:<22} {:<28} {:<40} FIELDS",
            "AT", "ACTION", "TARGET", "ACTOR"
        )?;
        for e in &self.entries {
            write!(
                f,
                "\n{:<24} {:<22} {:<28} {:<40} {}",
                e.at,
                e.action,
                e.target,
                e.actor,
                e.changed_fields.join(",")
            )?;
        }
        Ok(())
    }
}

pub async fn run(global: &GlobalArgs, args: &AuditArgs, project: &Project) -> Result<u8> {
    let since = args
        .since
        .as_deref()
        .map(|text| when::parse_since(text, clock::now_epoch()))
        .transpose()
        .map_err(|msg| {
            CliError::new(format!("--since: {msg}")).fix("e.g. --since 1h or --since 2027-01-01")
        })?
        .map(clock::epoch_to_rfc3339);
    if args.limit == 0 {
        return Err(CliError::new("--limit must be at least 1"));
    }
    let ctx = AdminContext::connect(project, &args.target.stage, &args.target.aws).await?;
    ctx.app(&args.app).await?;
    let spinner = super::spinner(format!("reading the audit log of {}", args.app));
    let mut entries = Vec::new();
    let mut start = None;
    loop {
        let page = audit::page(&ctx.store, &args.app, since.as_deref(), PAGE_SIZE, start).await;
        let (found, next) = match page {
            Ok(page) => page,
            Err(e) => {
                spinner.finish_and_clear();
                return Err(ctx.core_error("read the audit log", &args.app, e));
            }
        };
        entries.extend(found.into_iter().filter(|e| matches(args, e)));
        start = next;
        if start.is_none() || entries.len() >= args.limit {
            break;
        }
    }
    spinner.finish_and_clear();
    entries.truncate(args.limit);
    match global.output {
        // JSON lines: one entry per line, for jq and log shippers.
        OutputFormat::Json => {
            for entry in &entries {
                let line = serde_json::to_string(entry)
                    .map_err(|err| CliError::new(format!("could not encode an entry: {err}")))?;
                println!("{line}");
            }
        }
        OutputFormat::Text => println!(
            "{}",
            AuditLog {
                app_id: args.app.clone(),
                entries: entries.clone()
            }
        ),
    }
    if args.follow {
        follow(global.output, args, &ctx, &entries).await?;
    }
    Ok(exit::OK)
}

/// Polls for entries newer than those shown and prints them as they arrive, until Ctrl-C.
async fn follow(
    format: OutputFormat,
    args: &AuditArgs,
    ctx: &AdminContext,
    shown: &[AuditEntry],
) -> Result<()> {
    use std::io::Write;
    let mut seen: HashSet<String> = shown.iter().map(|e| e.event_id.clone()).collect();
    let mut last = shown.first().map_or_else(
        || clock::epoch_to_rfc3339(clock::now_epoch() - 1),
        |e| e.at.clone(),
    );
    let _ = std::io::stdout().flush();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            () = tokio::time::sleep(crate::deploy::poll_interval()) => {}
        }
        let (mut found, _) = audit::page(&ctx.store, &args.app, Some(&last), PAGE_SIZE, None)
            .await
            .map_err(|e| ctx.core_error("read the audit log", &args.app, e))?;
        found.reverse(); // oldest first, like a log
        for entry in found.into_iter().filter(|e| matches(args, e)) {
            if !seen.insert(entry.event_id.clone()) {
                continue;
            }
            if entry.at > last {
                last.clone_from(&entry.at);
            }
            match format {
                OutputFormat::Json => {
                    let line = serde_json::to_string(&entry).map_err(|err| {
                        CliError::new(format!("could not encode an entry: {err}"))
                    })?;
                    println!("{line}");
                }
                OutputFormat::Text => println!(
                    "{:<24} {:<22} {:<28} {:<40} {}",
                    entry.at,
                    entry.action,
                    entry.target,
                    entry.actor,
                    entry.changed_fields.join(",")
                ),
            }
        }
        let _ = std::io::stdout().flush();
    }
}

fn matches(args: &AuditArgs, entry: &AuditEntry) -> bool {
    args.actor
        .as_deref()
        .is_none_or(|a| entry.actor.contains(a))
        && args
            .action
            .as_deref()
            .is_none_or(|a| entry.action.starts_with(a))
}
