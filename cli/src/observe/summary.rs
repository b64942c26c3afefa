//! What `obctl metrics` prints: requests, errors and latency per route or per app, and the stage's sign-in and realtime totals.

use std::fmt;

use serde::Serialize;

use crate::terminal::Style;

/// Traffic of one route, one app, or everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Traffic {
    pub requests: f64,
    pub client_errors: f64,
    pub server_errors: f64,
    /// Server errors (5xx) per request; `null` without requests.
    pub error_rate: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl Traffic {
    pub fn with_rate(mut self) -> Self {
        self.error_rate = (self.requests > 0.0).then(|| self.server_errors / self.requests);
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteRow {
    pub route: String,
    #[serde(flatten)]
    pub traffic: Traffic,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRow {
    pub app: String,
    #[serde(flatten)]
    pub traffic: Traffic,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignIns {
    pub logins: f64,
    pub login_failures: f64,
    pub lock_outs: f64,
    pub registrations: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Realtime {
    pub connections: f64,
    pub deliveries: f64,
    pub gone_connections: f64,
    pub fan_out_lag_p99_ms: Option<f64>,
}

/// The whole summary (`--output json` prints it as one object).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSummary {
    pub stage: String,
    /// The app asked for with `--app`.
    pub app: Option<String>,
    pub start: String,
    pub end: String,
    pub period_seconds: i32,
    /// The stage's (or with `--app`, the app's) totals.
    pub total: Traffic,
    /// Per route: the stage's, or with `--app`, the app's (needs `metrics.perAppRoutes`).
    pub routes: Vec<RouteRow>,
    /// Per app (without `--app`).
    pub apps: Vec<AppRow>,
    /// Stage-wide, also with `--app`.
    pub sign_ins: SignIns,
    pub realtime: Realtime,
    pub notes: Vec<String>,
}

fn count(n: f64) -> String {
    format!("{n:.0}")
}

fn millis(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"))
}

fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{:.2}%", v * 100.0))
}

/// A table whose first column is `names`, right-aligned numbers after it.
fn table(
    f: &mut fmt::Formatter<'_>,
    heading: &str,
    rows: &[(String, &Traffic)],
    color: bool,
) -> fmt::Result {
    let width = rows
        .iter()
        .map(|(n, _)| n.len())
        .chain([heading.len()])
        .max()
        .unwrap_or(0);
    let header = format!(
        "{heading:<width$}  {:>9}  {:>6}  {:>6}  {:>10}  {:>8}  {:>8}",
        "REQUESTS", "4XX", "5XX", "ERROR RATE", "P50 MS", "P99 MS"
    );
    writeln!(f, "{}", Style::Bold.paint(color, &header))?;
    for (name, t) in rows {
        let rate = percent(t.error_rate);
        let rate = if t.server_errors > 0.0 {
            Style::Red.paint(color, &format!("{rate:>10}"))
        } else {
            format!("{rate:>10}")
        };
        writeln!(
            f,
            "{name:<width$}  {:>9}  {:>6}  {:>6}  {rate}  {:>8}  {:>8}",
            count(t.requests),
            count(t.client_errors),
            count(t.server_errors),
            millis(t.p50_ms),
            millis(t.p99_ms)
        )?;
    }
    Ok(())
}

impl MetricsSummary {
    /// The summary as text; colour only when `color`.
    pub fn render(&self, color: bool) -> String {
        struct Text<'a>(&'a MetricsSummary, bool);
        impl fmt::Display for Text<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.write(f, self.1)
            }
        }
        Text(self, color).to_string()
    }

    fn write(&self, f: &mut fmt::Formatter<'_>, color: bool) -> fmt::Result {
        let scope = self.app.as_ref().map_or_else(
            || format!("stage {}", self.stage),
            |a| format!("app {a} on stage {}", self.stage),
        );
        writeln!(f, "{scope}, {} to {}\n", self.start, self.end)?;
        let total = if self.app.is_some() {
            "app total"
        } else {
            "all routes"
        };
        let mut rows: Vec<(String, &Traffic)> = self
            .routes
            .iter()
            .map(|r| (r.route.clone(), &r.traffic))
            .collect();
        rows.push((total.to_owned(), &self.total));
        table(f, "ROUTE", &rows, color)?;
        if !self.apps.is_empty() {
            writeln!(f)?;
            let rows: Vec<(String, &Traffic)> = self
                .apps
                .iter()
                .map(|a| (a.app.clone(), &a.traffic))
                .collect();
            table(f, "APP", &rows, color)?;
        }
        let s = &self.sign_ins;
        writeln!(
            f,
            "\nsign-ins (stage): {} logins, {} failures, {} lock-outs, {} registrations",
            count(s.logins),
            count(s.login_failures),
            count(s.lock_outs),
            count(s.registrations)
        )?;
        let r = &self.realtime;
        write!(
            f,
            "realtime (stage): {} connections, {} deliveries, {} gone, fan-out lag p99 {} ms",
            count(r.connections),
            count(r.deliveries),
            count(r.gone_connections),
            millis(r.fan_out_lag_p99_ms)
        )?;
        for note in &self.notes {
            write!(
                f,
                "\n{}",
                Style::Yellow.paint(color, &format!("note: {note}"))
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for MetricsSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, false)
    }
}
