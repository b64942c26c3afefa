//! `obctl metrics`: requests, errors and latency per route and per app, from the stage's CloudWatch metrics.
//!
//! The functions publish ob-metrics' catalog through EMF; this reads it back:
//! ListMetrics finds the routes and apps that had traffic in the last two
//! weeks, then GetMetricData asks for the window's sums and percentiles in one
//! period per series (up to 500 queries per call).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{Dimension, DimensionFilter, Metric, MetricDataQuery, MetricStat};
use aws_smithy_types::DateTime;
use ob_metrics::catalog::{self, Dimension as Dim, MetricDef, NAMESPACE};

use crate::admin::when;
use crate::args::{GlobalArgs, MetricsArgs, OutputFormat};
use crate::aws::{Aws, aws_error};
use crate::error::{CliError, Result};
use crate::project::Project;
use crate::stage::{self, Stage};
use crate::terminal::Terminal;

use super::log_line::rfc3339_millis;
use super::summary::{AppRow, MetricsSummary, Realtime, RouteRow, SignIns, Traffic};

/// GetMetricData's limit on queries per call.
const QUERIES_PER_CALL: usize = 500;

/// A validated `obctl metrics`.
#[derive(Debug, Clone)]
pub struct MetricsPlan {
    pub stage: Stage,
    pub app: Option<String>,
    /// Whole minutes, as CloudWatch aligns them.
    pub start_s: i64,
    pub end_s: i64,
}

impl MetricsPlan {
    pub fn new(args: &MetricsArgs, project: &Project, now_s: i64) -> Result<Self> {
        let stage = stage::load(project, &args.target.stage)?;
        if let Some(app) = &args.app {
            ob_core::apps::validate_app_id(app).map_err(|err| {
                CliError::new(format!("--app {app}: {err}")).fix(format!(
                    "list the apps: `obctl apps list --stage {}`",
                    stage.name
                ))
            })?;
        }
        let start = when::parse_since(&args.since, now_s).map_err(|msg| {
            CliError::new(format!("--since: {msg}"))
                .fix("e.g. --since 1h, --since 7d or --since 2027-01-01")
        })?;
        let end_s = (now_s + 59) / 60 * 60;
        let start_s = start.div_euclid(60) * 60;
        if start_s >= end_s {
            return Err(
                CliError::new(format!("--since {}: the window is empty", args.since))
                    .fix("give a duration like 1h or a date in the past"),
            );
        }
        if end_s - start_s > 455 * 86_400 {
            return Err(CliError::new(format!(
                "--since {}: CloudWatch keeps metrics for 455 days",
                args.since
            ))
            .fix("give a shorter window"));
        }
        Ok(Self {
            stage,
            app: args.app.clone(),
            start_s,
            end_s,
        })
    }

    /// One period covering the window (a multiple of 60 s).
    pub fn period(&self) -> i32 {
        i32::try_from(self.end_s - self.start_s).unwrap_or(i32::MAX)
    }
}

/// One series: a catalog metric under one set of dimension values.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Series {
    metric: &'static str,
    dimensions: Vec<(Dim, String)>,
    stat: &'static str,
}

/// Dimension values of the metrics whose dimension set is exactly `names`
/// and that match `fixed`, e.g. every Route under `[Stage=dev, Route]`.
async fn values_of(cloudwatch: &Client, fixed: &[(Dim, &str)], wanted: Dim) -> Result<Vec<String>> {
    let mut found = BTreeSet::new();
    let mut token = None;
    loop {
        let mut request = cloudwatch
            .list_metrics()
            .namespace(NAMESPACE)
            .metric_name(catalog::REQUESTS.name)
            .dimensions(DimensionFilter::builder().name(wanted.name()).build())
            .set_next_token(token);
        for (d, v) in fixed {
            request =
                request.dimensions(DimensionFilter::builder().name(d.name()).value(*v).build());
        }
        let page = request
            .send()
            .await
            .map_err(|err| aws_error("list the stage's metrics (cloudwatch:ListMetrics)", &err))?;
        for metric in page.metrics() {
            let names: BTreeSet<&str> = metric
                .dimensions()
                .iter()
                .filter_map(|d| d.name())
                .collect();
            let expected: BTreeSet<&str> = fixed
                .iter()
                .map(|(d, _)| d.name())
                .chain([wanted.name()])
                .collect();
            if names != expected {
                continue;
            }
            if let Some(v) = metric
                .dimensions()
                .iter()
                .find(|d| d.name() == Some(wanted.name()))
                .and_then(|d| d.value())
            {
                found.insert(v.to_owned());
            }
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(found.into_iter().collect());
        }
    }
}

fn traffic_series(dimensions: &[(Dim, String)]) -> Vec<Series> {
    [
        (&catalog::REQUESTS, "Sum"),
        (&catalog::CLIENT_ERRORS, "Sum"),
        (&catalog::SERVER_ERRORS, "Sum"),
        (&catalog::LATENCY, "p50"),
        (&catalog::LATENCY, "p99"),
    ]
    .into_iter()
    .map(|(m, stat)| Series {
        metric: m.name,
        dimensions: dimensions.to_vec(),
        stat,
    })
    .collect()
}

fn stage_series(stage: &str, metrics: &[(&'static MetricDef, &'static str)]) -> Vec<Series> {
    metrics
        .iter()
        .map(|(m, stat)| Series {
            metric: m.name,
            dimensions: vec![(Dim::Stage, stage.to_owned())],
            stat,
        })
        .collect()
}

/// Asks for every series over the plan's window; values by series (summed, or
/// the highest percentile when a window spans several periods).
async fn query(
    cloudwatch: &Client,
    plan: &MetricsPlan,
    series: &[Series],
) -> Result<BTreeMap<Series, f64>> {
    let mut values = BTreeMap::new();
    for (batch_index, batch) in series.chunks(QUERIES_PER_CALL).enumerate() {
        let queries: Vec<MetricDataQuery> = batch
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut metric = Metric::builder().namespace(NAMESPACE).metric_name(s.metric);
                for (d, v) in &s.dimensions {
                    metric =
                        metric.dimensions(Dimension::builder().name(d.name()).value(v).build());
                }
                let stat = MetricStat::builder()
                    .metric(metric.build())
                    .period(plan.period())
                    .stat(s.stat)
                    .build();
                MetricDataQuery::builder()
                    .id(format!("q{batch_index}_{i}"))
                    .metric_stat(stat)
                    .return_data(true)
                    .build()
            })
            .collect();
        let mut token = None;
        loop {
            let page = cloudwatch
                .get_metric_data()
                .start_time(DateTime::from_secs(plan.start_s))
                .end_time(DateTime::from_secs(plan.end_s))
                .set_metric_data_queries(Some(queries.clone()))
                .set_next_token(token)
                .send()
                .await
                .map_err(|err| {
                    aws_error("read the stage's metrics (cloudwatch:GetMetricData)", &err)
                })?;
            for result in page.metric_data_results() {
                let Some(index) = result
                    .id()
                    .and_then(|id| id.rsplit('_').next())
                    .and_then(|i| i.parse::<usize>().ok())
                else {
                    continue;
                };
                let Some(s) = batch.get(index) else { continue };
                let points = result.values();
                if points.is_empty() {
                    continue;
                }
                let value = if s.stat == "Sum" {
                    points.iter().sum()
                } else {
                    points.iter().copied().fold(f64::MIN, f64::max)
                };
                *values.entry(s.clone()).or_insert(0.0) += value;
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(values)
}

fn traffic(values: &BTreeMap<Series, f64>, dimensions: &[(Dim, String)]) -> Traffic {
    let get = |metric: &MetricDef, stat: &'static str| {
        values
            .get(&Series {
                metric: metric.name,
                dimensions: dimensions.to_vec(),
                stat,
            })
            .copied()
    };
    Traffic {
        requests: get(&catalog::REQUESTS, "Sum").unwrap_or(0.0),
        client_errors: get(&catalog::CLIENT_ERRORS, "Sum").unwrap_or(0.0),
        server_errors: get(&catalog::SERVER_ERRORS, "Sum").unwrap_or(0.0),
        error_rate: None,
        p50_ms: get(&catalog::LATENCY, "p50"),
        p99_ms: get(&catalog::LATENCY, "p99"),
    }
    .with_rate()
}

pub async fn run(global: &GlobalArgs, args: &MetricsArgs, project: &Project) -> Result<u8> {
    let plan = MetricsPlan::new(args, project, ob_core::clock::now_epoch())?;
    let aws = Aws::connect(&args.target.aws, &plan.stage.config.region).await;
    let summary = summarize(&aws.cloudwatch(), &plan).await?;
    match global.output {
        OutputFormat::Text => println!("{}", summary.render(Terminal::current().color_stdout)),
        OutputFormat::Json => crate::output::emit(OutputFormat::Json, &summary),
    }
    Ok(0)
}

/// Reads the summary of `plan` from CloudWatch.
pub async fn summarize(cloudwatch: &Client, plan: &MetricsPlan) -> Result<MetricsSummary> {
    let stage = plan.stage.name.as_str();
    let stage_dim = (Dim::Stage, stage.to_owned());
    let mut notes = Vec::new();
    let (scope, routes, apps) = match &plan.app {
        None => {
            let routes = values_of(cloudwatch, &[(Dim::Stage, stage)], Dim::Route).await?;
            let apps = values_of(cloudwatch, &[(Dim::Stage, stage)], Dim::App).await?;
            (vec![stage_dim.clone()], routes, apps)
        }
        Some(app) => {
            let routes = values_of(
                cloudwatch,
                &[(Dim::Stage, stage), (Dim::App, app)],
                Dim::Route,
            )
            .await?;
            if routes.is_empty() && !plan.stage.config.metrics.per_app_routes {
                notes.push(format!(
                    "per-route figures of one app need `metrics.perAppRoutes: true` in stacks/{stage}.yaml (it adds apps × routes custom metrics)"
                ));
            }
            (
                vec![stage_dim.clone(), (Dim::App, app.clone())],
                routes,
                Vec::new(),
            )
        }
    };
    let route_dims = |route: &String| {
        let mut d = scope.clone();
        d.push((Dim::Route, route.clone()));
        d
    };
    let app_dims = |app: &String| vec![stage_dim.clone(), (Dim::App, app.clone())];
    let mut series = traffic_series(&scope);
    series.extend(routes.iter().flat_map(|r| traffic_series(&route_dims(r))));
    series.extend(apps.iter().flat_map(|a| traffic_series(&app_dims(a))));
    series.extend(stage_series(
        stage,
        &[
            (&catalog::LOGINS, "Sum"),
            (&catalog::LOGIN_FAILURES, "Sum"),
            (&catalog::LOCK_OUTS, "Sum"),
            (&catalog::REGISTRATIONS, "Sum"),
            (&catalog::CONNECTIONS, "Sum"),
            (&catalog::DELIVERIES, "Sum"),
            (&catalog::GONE_CONNECTIONS, "Sum"),
            (&catalog::FAN_OUT_LAG, "p99"),
        ],
    ));
    let values = query(cloudwatch, plan, &series).await?;
    let stat = |metric: &MetricDef, s: &'static str| {
        values
            .get(&Series {
                metric: metric.name,
                dimensions: vec![stage_dim.clone()],
                stat: s,
            })
            .copied()
    };
    let sum = |metric: &MetricDef| stat(metric, "Sum").unwrap_or(0.0);
    let by_requests = |a: &Traffic, b: &Traffic| b.requests.total_cmp(&a.requests);
    let mut route_rows: Vec<RouteRow> = routes
        .iter()
        .map(|r| RouteRow {
            route: r.clone(),
            traffic: traffic(&values, &route_dims(r)),
        })
        .collect();
    route_rows
        .sort_by(|a, b| by_requests(&a.traffic, &b.traffic).then_with(|| a.route.cmp(&b.route)));
    let mut app_rows: Vec<AppRow> = apps
        .iter()
        .map(|a| AppRow {
            app: a.clone(),
            traffic: traffic(&values, &app_dims(a)),
        })
        .collect();
    app_rows.sort_by(|a, b| by_requests(&a.traffic, &b.traffic).then_with(|| a.app.cmp(&b.app)));
    let total = traffic(&values, &scope);
    if total.requests == 0.0 {
        notes.push(
            "no requests recorded in this window; metrics appear a minute or two after the functions log them"
                .to_owned(),
        );
    }
    Ok(MetricsSummary {
        stage: stage.to_owned(),
        app: plan.app.clone(),
        start: rfc3339_millis(plan.start_s * 1000),
        end: rfc3339_millis(plan.end_s * 1000),
        period_seconds: plan.period(),
        total,
        routes: route_rows,
        apps: app_rows,
        sign_ins: SignIns {
            logins: sum(&catalog::LOGINS),
            login_failures: sum(&catalog::LOGIN_FAILURES),
            lock_outs: sum(&catalog::LOCK_OUTS),
            registrations: sum(&catalog::REGISTRATIONS),
        },
        realtime: Realtime {
            connections: sum(&catalog::CONNECTIONS),
            deliveries: sum(&catalog::DELIVERIES),
            gone_connections: sum(&catalog::GONE_CONNECTIONS),
            fan_out_lag_p99_ms: stat(&catalog::FAN_OUT_LAG, "p99"),
        },
        notes,
    })
}
