//! `GET /_dev/metrics` of `obctl dev`: requests of two apps through the local backend show up per app and route,
//! counted, classified and timed as the function processes' EMF lines say, in Prometheus text format.

use std::collections::BTreeMap;
use std::time::Instant;

use ob_tests::http;

/// One sample of the exposition: metric name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Parses Prometheus text exposition (format 0.0.4), failing on anything malformed.
fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(comment) = line.strip_prefix('#') {
            let words: Vec<&str> = comment.split_whitespace().collect();
            assert!(
                matches!(words.first(), Some(&"HELP" | &"TYPE")),
                "a comment line: {line}"
            );
            continue;
        }
        let name_end = line
            .find(['{', ' '])
            .expect("a name then labels or a value");
        let name = &line[..name_end];
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !name.starts_with(|c: char| c.is_ascii_digit()),
            "a metric name: {line}"
        );
        let mut rest = &line[name_end..];
        let mut labels = BTreeMap::new();
        if let Some(after) = rest.strip_prefix('{') {
            rest = after;
            while let Some((key, after)) = rest.split_once("=\"") {
                let key = key.trim_start_matches(',');
                let mut value = String::new();
                let mut chars = after.char_indices();
                let end = loop {
                    match chars.next().expect("a closed label value") {
                        (_, '\\') => match chars.next().expect("an escape") {
                            (_, 'n') => value.push('\n'),
                            (_, c) => value.push(c),
                        },
                        (i, '"') => break i,
                        (_, c) => value.push(c),
                    }
                };
                labels.insert(key.to_owned(), value);
                rest = &after[end + 1..];
                if let Some(after) = rest.strip_prefix('}') {
                    rest = after;
                    break;
                }
            }
        }
        let value = rest
            .trim()
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("a value: {line}"));
        samples.push((name.to_owned(), labels, value));
    }
    samples
}

/// The sum of `name`'s series whose labels include every one of `labels`.
fn sum(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

async fn scrape(base: &str) -> Vec<Sample> {
    let reply = http::exchange("GET", &format!("http://{base}/_dev/metrics"), &[], &[]).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(
        reply.header("content-type"),
        ["text/plain; version=0.0.4; charset=utf-8"]
    );
    parse(&String::from_utf8(reply.body).expect("UTF-8"))
}

/// What one app did on one route, and what `/_dev/metrics` must show for it.
struct Traffic {
    app: &'static str,
    route: &'static str,
    requests: f64,
    client_errors: f64,
    /// The clients' round trips of these requests, in ms: the functions'
    /// latencies, measured inside, cannot add up to more.
    round_trips_ms: f64,
}

/// An app's API key and one of its users' access tokens.
#[derive(Clone, Copy)]
pub(crate) struct Caller<'a> {
    pub app: &'static str,
    pub key: &'a str,
    pub token: &'a str,
}

/// Sends `count` GETs to `path` as `caller`; returns what they should count as.
async fn send(
    base: &str,
    caller: Caller<'_>,
    (route, path): (&'static str, &str),
    count: u32,
    expected_status: u16,
) -> Traffic {
    let bearer = format!("Bearer {}", caller.token);
    let auth = [
        ("X-API-Key", caller.key),
        ("Authorization", bearer.as_str()),
    ];
    let started = Instant::now();
    for _ in 0..count {
        let (status, body) = http::json("GET", &format!("http://{base}{path}"), &auth, None).await;
        assert_eq!(status, expected_status, "GET {path}: {body}");
    }
    Traffic {
        app: caller.app,
        route,
        requests: f64::from(count),
        client_errors: if expected_status >= 400 {
            f64::from(count)
        } else {
            0.0
        },
        round_trips_ms: started.elapsed().as_secs_f64() * 1000.0,
    }
}

/// Which `obctl dev` serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// One process per function (the default).
    Processes,
    /// `--in-process`.
    InProcess,
}

/// Requests of two apps appear in `/_dev/metrics` per app and route: requests,
/// 4xx, 5xx and latency, and (with function processes) every function's cold start.
pub(crate) async fn per_app_and_route(
    base: &str,
    demo: Caller<'_>,
    rival: Caller<'_>,
    backend: Backend,
) {
    let before = scrape(base).await;
    let list = "GET /api/{appId}/{resource}";
    let one = "GET /api/{appId}/{resource}/{id}";
    let demo_list = format!("/api/{}/tallies", demo.app);
    let rival_list = format!("/api/{}/tallies", rival.app);
    // A well-formed record id nobody created: a 404.
    let demo_missing = format!(
        "/api/{}/tallies/01890a5d-ac96-774b-bcce-b302099a8057",
        demo.app
    );
    let traffic = [
        send(base, demo, (list, &demo_list), 3, 200).await,
        send(base, rival, (list, &rival_list), 2, 200).await,
        send(base, demo, (one, &demo_missing), 1, 404).await,
    ];

    // The lines arrive on the functions' stdout, possibly after the responses.
    let deadline = Instant::now() + crate::realtime::PATIENCE;
    let delta = |after: &[Sample], name: &str, t: &Traffic| {
        let labels = [("app", t.app), ("route", t.route), ("stage", "local")];
        sum(after, name, &labels) - sum(&before, name, &labels)
    };
    let after = loop {
        let after = scrape(base).await;
        let counted = traffic
            .iter()
            .all(|t| delta(&after, "one_backend_requests_total", t) >= t.requests);
        if counted || Instant::now() > deadline {
            break after;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    for t in &traffic {
        let what = format!("{} {}", t.app, t.route);
        assert_eq!(
            delta(&after, "one_backend_requests_total", t),
            t.requests,
            "{what}"
        );
        assert_eq!(
            delta(&after, "one_backend_4xx_total", t),
            t.client_errors,
            "{what}"
        );
        assert_eq!(delta(&after, "one_backend_5xx_total", t), 0.0, "{what}");
        assert_eq!(
            delta(&after, "one_backend_latency_milliseconds_count", t),
            t.requests,
            "{what}: one latency per request"
        );
        let inf = [
            ("app", t.app),
            ("route", t.route),
            ("stage", "local"),
            ("le", "+Inf"),
        ];
        assert_eq!(
            sum(&after, "one_backend_latency_milliseconds_bucket", &inf)
                - sum(&before, "one_backend_latency_milliseconds_bucket", &inf),
            t.requests,
            "{what}: every latency in the +Inf bucket"
        );
        let latency = delta(&after, "one_backend_latency_milliseconds_sum", t);
        assert!(
            latency > 0.0 && latency <= t.round_trips_ms,
            "{what}: {latency} ms inside the functions, {} ms at the client",
            t.round_trips_ms
        );
    }
    // Every function process counted its cold start.
    let processes = if backend == Backend::Processes {
        ob_core::functions::ALL
    } else {
        &[]
    };
    for def in processes {
        assert!(
            sum(
                &after,
                "one_backend_cold_starts_total",
                &[("function", def.name)]
            ) >= 1.0,
            "no cold start of {}",
            def.name
        );
    }
    assert_eq!(sum(&after, "emf_rejected_total", &[]), 0.0);
}

#[test]
fn the_parser_reads_labels_with_braces_and_escapes() {
    let samples = parse(concat!(
        "# HELP x_total Requests\n",
        "# TYPE x_total counter\n",
        "x_total{route=\"GET /api/{appId}\",app=\"a\\\"b\"} 2\n",
        "up 1\n",
    ));
    assert_eq!(
        sum(&samples, "x_total", &[("route", "GET /api/{appId}")]),
        2.0
    );
    assert_eq!(sum(&samples, "x_total", &[("app", "a\"b")]), 2.0);
    assert_eq!(sum(&samples, "up", &[]), 1.0);
}
