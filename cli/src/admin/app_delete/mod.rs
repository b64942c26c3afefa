//! `obctl apps delete ID`: removes an app and everything it stores, refusing
//! while it has data unless `--force`, and saying what is left where.
//!
//! "Data" is: users, active API keys, config, data records, files (metadata and
//! objects) and WebSocket connections. The audit log is kept and expires by its
//! TTL, so the deletion itself stays on record.

mod bucket;
mod connections;
mod dynamo;
mod inventory;
mod purge;

use std::fmt;

use ob_core::apps::{self, AppState};
use ob_core::tables::{AUDIT, CONNECTIONS, FILES};
use serde::Serialize;

use self::dynamo::Partition;
use self::inventory::Tally;
use super::AdminContext;
use super::args::AppDeleteArgs;
use crate::args::{GlobalArgs, OutputFormat};
use crate::error::{CliError, Result, exit};
use crate::output;
use crate::project::Project;
use crate::prompt;

/// Where the app's files and connections live (tables by [`ob_core::Store`],
/// the bucket from the stack output).
#[derive(Debug, Clone)]
pub struct Locations {
    pub files_table: String,
    pub bucket: String,
    pub connections_table: String,
}

impl Locations {
    fn from(ctx: &AdminContext) -> Result<Self> {
        // An empty name means a stack deployed before the store existed.
        let missing = |output: &str| {
            CliError::new(format!(
                "stage {} has no stack output {output}",
                ctx.stage.name
            ))
            .fix(format!(
                "deploy the current version first: `obctl deploy --stage {}`",
                ctx.stage.name
            ))
        };
        let named = |name: Option<&String>, output: &str| {
            name.filter(|n| !n.is_empty())
                .cloned()
                .ok_or_else(|| missing(output))
        };
        let tables = &ctx.store.tables;
        Ok(Self {
            files_table: named(Some(&tables.files), FILES.output)?,
            bucket: named(ctx.outputs.get(BUCKET_OUTPUT), BUCKET_OUTPUT)?,
            connections_table: named(Some(&tables.connections), CONNECTIONS.output)?,
        })
    }
}

/// The stack output naming the files bucket.
const BUCKET_OUTPUT: &str = "FilesBucketName";

/// What `apps delete` found, deleted and left (`--output json` prints this).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteReport {
    pub stage: String,
    pub app_id: String,
    /// `deleted`, `refused` (data and no `--force`) or `nothing-to-delete`
    /// (`pending` only in the text shown before the confirmation prompt).
    pub outcome: &'static str,
    /// Whether the app record existed when the command started.
    pub app_existed: bool,
    /// The app's data per store before anything was deleted.
    pub found: Vec<Tally>,
    /// What this run deleted, per store.
    pub deleted: Vec<Tally>,
    /// What is deliberately kept, and until when.
    pub left: Vec<Tally>,
    /// Further facts (what expires by itself).
    pub notes: Vec<String>,
}

fn write_tallies(f: &mut fmt::Formatter<'_>, title: &str, tallies: &[Tally]) -> fmt::Result {
    write!(f, "\n  {title}:")?;
    for t in tallies {
        write!(f, "\n    {:<13} {} in {}", t.store, t.amount(), t.location)?;
        if let Some(note) = &t.note {
            write!(f, " ({note})")?;
        }
    }
    Ok(())
}

impl fmt::Display for DeleteReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.outcome {
            "deleted" => "deleted",
            "refused" => "NOT deleted: it still has data",
            "pending" => "about to delete",
            _ => "nothing left to delete",
        };
        write!(f, "app {} (stage {}): {what}", self.app_id, self.stage)?;
        if !self.found.is_empty() {
            write_tallies(f, "found", &self.found)?;
        }
        if !self.deleted.is_empty() {
            write_tallies(f, "deleted", &self.deleted)?;
        }
        if !self.left.is_empty() {
            write_tallies(f, "left", &self.left)?;
        }
        for note in &self.notes {
            write!(f, "\n  note: {note}")?;
        }
        Ok(())
    }
}

pub async fn run(global: &GlobalArgs, args: &AppDeleteArgs, project: &Project) -> Result<u8> {
    let ctx = AdminContext::connect(project, &args.target.stage, &args.target.aws).await?;
    let loc = Locations::from(&ctx)?;
    let app_id = args.id.as_str();
    apps::validate_app_id(app_id).map_err(|e| ctx.core_error("delete the app", app_id, e))?;
    let app = apps::get(&ctx.store, app_id)
        .await
        .map_err(|e| ctx.core_error("read the app", app_id, e))?;
    let found = inventory::take(&ctx, &loc, app_id).await?;
    let mut report = DeleteReport {
        stage: ctx.stage.name.clone(),
        app_id: app_id.to_owned(),
        outcome: "nothing-to-delete",
        app_existed: app.is_some(),
        found,
        deleted: Vec::new(),
        left: Vec::new(),
        notes: Vec::new(),
    };
    if app.is_none() && report.found.is_empty() {
        report.left = left(&ctx, app_id).await?;
        output::emit(global.output, &report);
        return Ok(exit::OK);
    }
    if !report.found.is_empty() && !args.force {
        report.outcome = "refused";
        // As text, the error below already lists every store.
        if global.output == OutputFormat::Json {
            output::emit(global.output, &report);
        }
        return Err(refusal(&ctx, &report));
    }
    if !args.yes {
        report.outcome = "pending";
        eprintln!("{report}");
        let question = format!(
            "Delete app {app_id} of stage {} and everything listed above? The audit log is kept.",
            ctx.stage.name
        );
        if !prompt::confirm(&question)? {
            return Err(CliError::new("apps delete cancelled; nothing was deleted"));
        }
    }
    // Recorded first, so an interrupted deletion is on record too.
    let stores = report.found.iter().map(|t| t.store.to_owned()).collect();
    ctx.audit(app_id, "app.delete", &format!("app:{app_id}"), stores)
        .await?;
    if app.is_some_and(|a| a.state == AppState::Active) {
        // The API refuses a suspended app, so nothing new is written meanwhile.
        apps::set_state(&ctx.store, app_id, AppState::Suspended)
            .await
            .map_err(|e| ctx.core_error("suspend the app", app_id, e))?;
    }
    // Before the purge, so no connection of the app reads what is left meanwhile.
    let closed = ctx
        .close_connections(ob_core::realtime::revocation::Holder::App(app_id))
        .await?;
    report.deleted = purge::run(&ctx, &loc, app_id).await?;
    apps::delete(&ctx.store, app_id)
        .await
        .map_err(|e| ctx.core_error("delete the app record", app_id, e))?;
    report.outcome = "deleted";
    report.left = left(&ctx, app_id).await?;
    if let Some(objects) = report.deleted.iter().find(|t| t.store == "objects") {
        report.notes.push(format!(
            "noncurrent versions of the {} deleted objects in {} expire by the bucket's lifecycle rule after {} days",
            objects.count,
            objects.location,
            bucket::NONCURRENT_DAYS
        ));
    }
    report.notes.push(format!(
        "{} open WebSocket connection(s) closed; refresh-token items and failed-login counters expire by their TTL",
        closed.closed + closed.gone
    ));
    output::emit(global.output, &report);
    Ok(exit::OK)
}

/// The audit log, which stays and expires by TTL.
async fn left(ctx: &AdminContext, app_id: &str) -> Result<Vec<Tally>> {
    let table = &ctx.store.tables.audit;
    let audit = Partition::new(table, AUDIT.partition_key, app_id.to_owned());
    let count = audit.count(&ctx.store.client).await?;
    let days = ctx.stage.config.audit.retention_days;
    let tally = Tally::new("audit", table, count)
        .note(format!("audit entries, expiring by TTL after {days} days"));
    Ok(if tally.count > 0 {
        vec![tally]
    } else {
        Vec::new()
    })
}

/// Exit 1, naming every store that still has data and the fix.
fn refusal(ctx: &AdminContext, report: &DeleteReport) -> CliError {
    let mut err = CliError::new(format!(
        "app {} still has data; refusing to delete it",
        report.app_id
    ));
    for t in &report.found {
        let note = t
            .note
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        err = err.detail(format!(
            "{}: {} in {}{note}",
            t.store,
            t.amount(),
            t.location
        ));
    }
    err.fix(format!(
        "to delete it all the same, run `obctl apps delete {} --stage {} --force` (asks first; add --yes without a terminal)",
        report.app_id, ctx.stage.name
    ))
}
