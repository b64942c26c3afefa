//! Every metric the functions publish, with its unit and dimensions, defined once.
//!
//! The functions write these as Embedded Metric Format lines (`crate::emit`),
//! the dashboard, the alarms and `obctl metrics` read them back by the same
//! names, and `obctl dev` serves them in Prometheus form. Dimension sets are
//! chosen so the number of CloudWatch series grows with routes plus apps, never
//! with routes times apps (unless a stage opts in, see [`HttpDetail`]).

/// The CloudWatch namespace of every metric here.
pub const NAMESPACE: &str = "OneBackend";

/// A dimension: part of a metric's identity in CloudWatch, a label in Prometheus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dimension {
    /// The stage (`STAGE`): several stages may share an account and region.
    Stage,
    /// The app of the verified API key (never a value a client can invent).
    App,
    /// The route key: method and path template (`GET /api/{appId}/{resource}`).
    Route,
    /// The function's short name (`auth`, `realtime`).
    Function,
}

impl Dimension {
    pub const ALL: [Self; 4] = [Self::Stage, Self::App, Self::Route, Self::Function];

    /// The member name in an EMF document and the dimension name in CloudWatch.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Stage => "Stage",
            Self::App => "App",
            Self::Route => "Route",
            Self::Function => "Function",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }
}

/// CloudWatch units the catalog uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
        }
    }
}

/// Metrics that are published together, under the same dimension sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// One document per HTTP request: by stage, route and app.
    Http,
    /// Sign-in events: by stage (the app is a property, searchable in the logs).
    Auth,
    /// WebSocket connections and fan-out: by stage (app as a property).
    Realtime,
    /// Lambda execution environments: by stage and function.
    Runtime,
}

/// Whether the HTTP family also publishes each app's routes (`[Stage, App, Route]`):
/// routes × apps series, so a stage opts in (`metrics.perAppRoutes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpDetail {
    #[default]
    AppTotals,
    AppRoutes,
}

use Dimension as D;

impl Family {
    /// The dimension sets a document of this family is published under.
    /// `with_app` is false when the request had no verified API key.
    pub fn dimension_sets(self, with_app: bool, detail: HttpDetail) -> Vec<&'static [Dimension]> {
        match self {
            Self::Http => {
                let mut sets: Vec<&'static [Dimension]> = vec![&[D::Stage], &[D::Stage, D::Route]];
                if with_app {
                    sets.push(&[D::Stage, D::App]);
                    if detail == HttpDetail::AppRoutes {
                        sets.push(&[D::Stage, D::App, D::Route]);
                    }
                }
                sets
            }
            Self::Auth | Self::Realtime => vec![&[D::Stage]],
            Self::Runtime => vec![&[D::Stage, D::Function]],
        }
    }
}

/// One metric of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    pub name: &'static str,
    pub unit: Unit,
    pub family: Family,
    /// What one data point means (the Prometheus HELP line, the README's table).
    pub help: &'static str,
}

const fn def(name: &'static str, unit: Unit, family: Family, help: &'static str) -> MetricDef {
    MetricDef {
        name,
        unit,
        family,
        help,
    }
}

pub const REQUESTS: MetricDef = def(
    "Requests",
    Unit::Count,
    Family::Http,
    "HTTP requests served",
);
pub const CLIENT_ERRORS: MetricDef = def(
    "4xx",
    Unit::Count,
    Family::Http,
    "HTTP requests answered with a 4xx status",
);
pub const SERVER_ERRORS: MetricDef = def(
    "5xx",
    Unit::Count,
    Family::Http,
    "HTTP requests answered with a 5xx status",
);
pub const LATENCY: MetricDef = def(
    "Latency",
    Unit::Milliseconds,
    Family::Http,
    "Time from the request reaching the function to its response",
);

pub const REGISTRATIONS: MetricDef = def(
    "Registrations",
    Unit::Count,
    Family::Auth,
    "Accounts registered",
);
pub const LOGINS: MetricDef = def("Logins", Unit::Count, Family::Auth, "Successful sign-ins");
pub const LOGIN_FAILURES: MetricDef = def(
    "LoginFailures",
    Unit::Count,
    Family::Auth,
    "Sign-ins refused for a wrong e-mail or password or a disabled user",
);
pub const LOCK_OUTS: MetricDef = def(
    "LockOuts",
    Unit::Count,
    Family::Auth,
    "Sign-ins refused because the account or client address is locked out after repeated failures",
);

pub const CONNECTIONS: MetricDef = def(
    "Connections",
    Unit::Count,
    Family::Realtime,
    "WebSocket connections accepted",
);
pub const DELIVERIES: MetricDef = def(
    "Deliveries",
    Unit::Count,
    Family::Realtime,
    "Messages pushed to WebSocket connections (record changes and room messages)",
);
pub const GONE_CONNECTIONS: MetricDef = def(
    "GoneConnections",
    Unit::Count,
    Family::Realtime,
    "Connections found gone during a push and removed",
);
pub const FAN_OUT_LAG: MetricDef = def(
    "FanOutLag",
    Unit::Milliseconds,
    Family::Realtime,
    "Time from a record change (its stream record's creation) to the end of its fan-out",
);

pub const COLD_STARTS: MetricDef = def(
    "ColdStarts",
    Unit::Count,
    Family::Runtime,
    "New execution environments (the function's code was initialised)",
);

/// Every metric of the catalog.
pub const ALL: &[MetricDef] = &[
    REQUESTS,
    CLIENT_ERRORS,
    SERVER_ERRORS,
    LATENCY,
    REGISTRATIONS,
    LOGINS,
    LOGIN_FAILURES,
    LOCK_OUTS,
    CONNECTIONS,
    DELIVERIES,
    GONE_CONNECTIONS,
    FAN_OUT_LAG,
    COLD_STARTS,
];

impl MetricDef {
    pub fn by_name(name: &str) -> Option<&'static MetricDef> {
        ALL.iter().find(|m| m.name == name)
    }
}

/// The route key of an HTTP request: its method and the path template it
/// matched, as API Gateway writes route keys. Methods outside the standard set
/// become `OTHER`, and requests no route matched share one key, so a client
/// cannot create new series by inventing methods or paths.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route(String);

impl Route {
    /// The key of requests that matched no route (404s of unknown paths).
    pub const UNMATCHED: &'static str = "unmatched";

    pub fn http(method: &str, template: &str) -> Self {
        const KNOWN: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"];
        let method = KNOWN.into_iter().find(|m| *m == method).unwrap_or("OTHER");
        Self(format!("{method} {template}"))
    }

    pub fn unmatched() -> Self {
        Self(Self::UNMATCHED.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_within_cloudwatch_limits() {
        let mut names: Vec<_> = ALL.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        assert!(ALL.iter().all(|m| (1..=255).contains(&m.name.len())));
        assert!(
            Dimension::ALL
                .iter()
                .all(|d| Dimension::from_name(d.name()) == Some(*d))
        );
    }

    #[test]
    fn only_a_verified_app_and_an_opt_in_add_app_series() {
        use Dimension::{App, Route, Stage};
        let http = |with_app, detail| Family::Http.dimension_sets(with_app, detail);
        assert_eq!(
            http(false, HttpDetail::AppRoutes),
            vec![&[Stage][..], &[Stage, Route]]
        );
        assert_eq!(
            http(true, HttpDetail::AppTotals),
            vec![&[Stage][..], &[Stage, Route], &[Stage, App]]
        );
        assert_eq!(
            http(true, HttpDetail::AppRoutes).last(),
            Some(&&[Stage, App, Route][..])
        );
        assert_eq!(
            Family::Auth.dimension_sets(true, HttpDetail::AppRoutes),
            vec![&[Stage][..]]
        );
    }

    #[test]
    fn route_keys_are_bounded() {
        assert_eq!(Route::http("GET", "/health").as_str(), "GET /health");
        assert_eq!(Route::http("BREW", "/health").as_str(), "OTHER /health");
        assert_eq!(Route::unmatched().as_str(), "unmatched");
    }
}
