//! `make bench`: latency of the API's hot paths, in-process against the local
//! emulator (so DynamoDB time is moto's, not AWS's: compare runs with each other,
//! not with production), plus rendering. Prints figures; asserts nothing.
//! Sections: routes, paths, fan-out, creates, render (`-- creates` runs one).

use std::time::{Duration, Instant};

use ob_tests::calls::round_trips;
use ob_tests::fixtures::{Api, Call, test_settings};
use serde_json::json;

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<46} n={:<4} p50 {:>8.2} ms   p95 {:>8.2} ms   max {:>8.2} ms",
        samples.len(),
        ms(pick(0.5)),
        ms(pick(0.95)),
        ms(pick(1.0))
    );
}

async fn time<F, Fut>(n: usize, mut f: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        f().await;
        samples.push(start.elapsed());
    }
    samples
}

/// Registers `bench@example.com` and returns its access token.
async fn access_token(api: &Api, app: &ob_tests::fixtures::TestApp, password: &str) -> String {
    let registered = api.register(app, "bench@example.com", password).await;
    registered.body["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn api_paths(bcrypt_cost: u32, logins: usize) {
    let mut settings = test_settings();
    settings.bcrypt_cost = bcrypt_cost;
    // Measure the paths, not the per-app request limit (its accounting still runs).
    settings.request_limits = ob_api::limits::RateLimits {
        per_app: u32::MAX,
        per_client: u32::MAX,
    };
    let api = Api::start_with(settings).await;
    let app = api.app("bench").await;
    let password = "correct horse battery";
    let token = access_token(&api, &app, password).await;

    if bcrypt_cost == test_settings().bcrypt_cost {
        report(
            "GET /health",
            time(300, || async {
                api.send(Call::get("/health")).await;
            })
            .await,
        );
        let body = json!({"apiKey": app.key});
        report(
            "POST /verify-key",
            time(200, || async {
                api.send(Call::post("/verify-key").json(&body)).await;
            })
            .await,
        );
        report(
            "GET /auth/me (key + JWT + GetItem)",
            time(200, || async {
                api.send(Call::get("/auth/me").key(&app.key).bearer(&token))
                    .await;
            })
            .await,
        );
    }
    report(
        &format!("POST /auth/login (bcrypt cost {bcrypt_cost})"),
        time(logins, || async {
            api.login(&app, "bench@example.com", password).await;
        })
        .await,
    );
}

/// Counts pushes; what the fan-out costs without a network.
#[derive(Debug, Default)]
struct Counter(std::sync::atomic::AtomicUsize);

impl ob_core::realtime::Push for Counter {
    async fn send(&self, _: &str, _: &str) -> Result<(), ob_core::realtime::PushError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// One stream batch of `changes` record inserts fanned out to `subscribers` connections.
async fn fan_out(changes: usize, subscribers: usize) {
    use ob_core::realtime::{ChangeKind, Channel, Connection, Realtime, StreamChange, connections};
    let api = Api::start().await;
    let app = api.app("bench").await;
    let token = access_token(&api, &app, "correct horse battery").await;
    let channel = Channel::parse("resource:notes").unwrap_or_else(|e| panic!("{e}"));
    for i in 0..subscribers {
        let connection = Connection {
            connection_id: format!("c{i}"),
            app_id: "bench".into(),
            user_id: format!("reader{i}"),
            key_id: app.key_id.clone(),
            endpoint: None,
            role: ob_core::users::Role::User,
            expires_at: ob_core::clock::now_epoch() + 3600,
            token_expires_at: ob_core::clock::now_epoch() + 3600,
        };
        connections::open(&api.store, &connection, None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        connections::subscribe(&api.store, &connection, &channel)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let mut batch = Vec::new();
    for i in 0..changes {
        let reply = api
            .send(
                Call::post("/api/bench/notes")
                    .key(&app.key)
                    .bearer(&token)
                    .json(&json!({"data": {"i": i}, "permissions": {"read": ["*"]}})),
            )
            .await;
        let id = reply.body["id"].as_str().unwrap_or_default().to_owned();
        let item = api
            .store
            .client
            .get_item()
            .table_name(&api.store.tables.data)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S("R#bench#notes".into()),
            )
            .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(id))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .item()
            .cloned();
        batch.push(StreamChange {
            sequence: i.to_string(),
            kind: ChangeKind::Insert,
            old: None,
            new: item,
            created_at_ms: None,
        });
    }
    let realtime = Realtime {
        store: api.store.clone(),
        signer: ob_core::signing::Keyring::ready(
            ob_tests::fixtures::SIGNING_KEY,
            &api.state.settings().issuer,
        )
        .unwrap_or_else(|e| panic!("{e}")),
        push: Counter::default(),
        metrics: ob_metrics::Metrics::discard(),
        stage_origins: Vec::new(),
    };
    let samples = time(20, || async {
        realtime.fan_out(&batch).await;
    })
    .await;
    let pushed = realtime.push.0.load(std::sync::atomic::Ordering::Relaxed) / 20;
    report(
        &format!("fan-out {changes} changes x {subscribers} subs ({pushed} pushes)"),
        samples,
    );
}

/// Creates per second from 25 concurrent clients while the data table grows
/// from empty to `total` records, every block of 1,000 reported, then the
/// last block's rate over the first's: the local backend must not slow down as
/// its own data grows. The app's request limits are lifted deliberately: 25
/// clients creating flat out make ~13,000 requests a minute, over the default
/// per-app budget (6,000/min, issue 12), and this measures storage, not the
/// limiter (its accounting still runs). Any refused create is printed.
/// Beside the wall-clock rate (which the machine's other load moves), the
/// emulator's own CPU time per create: what grows if moto's cost per request
/// grows with the table.
async fn create_throughput(total: usize) {
    use futures::StreamExt;
    let mut settings = test_settings();
    settings.request_limits = ob_api::limits::RateLimits {
        per_app: u32::MAX,
        per_client: u32::MAX,
    };
    let api = Api::start_with(settings).await;
    let app = api.app("bench").await;
    let token = access_token(&api, &app, "correct horse battery").await;
    let block = 1_000;
    let pid = api.emulator().pid();
    let mut rates = Vec::new();
    let mut cpu_costs = Vec::new();
    for start in (0..total).step_by(block) {
        let began = Instant::now();
        let cpu_before = process_cpu(pid);
        let replies: Vec<_> = futures::stream::iter(start..start + block)
            .map(|i| {
                api.send(
                    Call::post("/api/bench/notes")
                        .key(&app.key)
                        .bearer(&token)
                        .json(&json!({"data": {"i": i, "text": "x".repeat(200)}})),
                )
            })
            .buffer_unordered(25)
            .collect()
            .await;
        let secs = began.elapsed().as_secs_f64();
        let cpu = process_cpu(pid)
            .zip(cpu_before)
            .map(|(after, before)| after - before);
        let created = replies.iter().filter(|r| r.status.is_success()).count();
        let end = start + block;
        let rate = created as f64 / secs;
        rates.push(rate);
        let per_create = cpu.map(|cpu| cpu.as_secs_f64() * 1000.0 / block as f64);
        cpu_costs.extend(per_create);
        println!(
            "{:<46} {created} created in {secs:>6.2} s   {rate:>7.1} creates/s   emulator CPU {}",
            format!("creates, 25 clients, records {}..{end}", start + 1),
            per_create.map_or("n/a".to_owned(), |ms| format!("{ms:.2} ms/create")),
        );
        let mut refused = std::collections::BTreeMap::<String, usize>::new();
        for reply in replies.iter().filter(|r| !r.status.is_success()) {
            *refused
                .entry(format!("{} {}", reply.status, reply.body["error"]["code"]))
                .or_default() += 1;
        }
        for (status, n) in refused {
            println!("  refused: {n} x {status}");
        }
    }
    if let (Some(first), Some(last)) = (rates.first(), rates.last()) {
        println!(
            "creates/s, records {}..{total} over 1..{block}: {:.2}",
            total - block + 1,
            last / first
        );
    }
    if let (Some(first), Some(last)) = (cpu_costs.first(), cpu_costs.last()) {
        println!(
            "emulator CPU per create, records {}..{total} over 1..{block}: {:.2}",
            total - block + 1,
            last / first
        );
    }
}

/// User plus system CPU time a process has used so far (Linux's
/// `/proc/{pid}/stat`, in clock ticks of 10 ms); `None` elsewhere.
fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let ticks: u64 = fields.next()?.parse::<u64>().ok()? + fields.next()?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn render_stage() {
    let root = ob_tests::emulator::workspace_root();
    let project = obctl::project::Project::at(&root);
    let stage = obctl::stage::load(&project, "prod").unwrap_or_else(|err| panic!("{err}"));
    let mut samples = Vec::new();
    for _ in 0..50 {
        let start = Instant::now();
        let template =
            obctl::render::render(&project, &stage).unwrap_or_else(|err| panic!("{err}"));
        let _ = template.to_yaml();
        samples.push(start.elapsed());
    }
    report("obctl render --stage prod", samples);
}

/// DynamoDB calls, sequential round trips and latency per warm request,
/// route by route (what `tests/e2e/api_calls.rs` asserts), request-limit
/// syncs excluded (a login's own counters included).
async fn route_budget(n: usize) {
    use axum::http::Method;
    let mut settings = test_settings();
    settings.request_limits = ob_api::limits::RateLimits {
        per_app: u32::MAX,
        per_client: u32::MAX,
    };
    let api = Api::start_with_files(settings).await;
    let app = api.app("bench").await;
    let password = "correct horse battery";
    let token = access_token(&api, &app, password).await;
    let call = |method: Method, path: &str| Call::new(method, path).key(&app.key).bearer(&token);
    let created = api
        .send(call(Method::POST, "/api/bench/notes").json(&json!({"data": {"n": 0}})))
        .await;
    let id = created.body["id"].as_str().unwrap_or_default().to_owned();
    let record = format!("/api/bench/notes/{id}");
    let limits = api.store.tables.limits.clone();
    println!(
        "per route, warm ({n} requests each): DynamoDB calls and sequential round trips per request, latency"
    );
    type MakeCall<'a> = Box<dyn Fn(usize) -> Call + 'a>;
    let routes: Vec<(&str, MakeCall<'_>)> = vec![
        (
            "GET /api/{app}/{res}/{id}",
            Box::new(|_| call(Method::GET, &record)),
        ),
        ("GET /auth/me", Box::new(|_| call(Method::GET, "/auth/me"))),
        (
            "POST /api/{app}/{res}",
            Box::new(|i| call(Method::POST, "/api/bench/notes").json(&json!({"data": {"n": i}}))),
        ),
        (
            "PATCH /api/{app}/{res}/{id}",
            Box::new(|i| call(Method::PATCH, &record).json(&json!({"data": {"n": i}}))),
        ),
        (
            "POST /files/{app}/upload-url",
            Box::new(|i| {
                call(Method::POST, "/files/bench/upload-url").json(
                    &json!({"fileName": format!("f{i}.txt"), "fileType": "text/plain", "size": 3}),
                )
            }),
        ),
        (
            "POST /auth/login",
            Box::new(|_| {
                Call::post("/auth/login").key(&app.key).json(
                    &json!({"appId": "bench", "email": "bench@example.com", "password": password}),
                )
            }),
        ),
    ];
    for (name, request) in &routes {
        let mut calls = Vec::with_capacity(n);
        let mut trips = Vec::with_capacity(n);
        let mut samples = Vec::with_capacity(n);
        for i in 0..n {
            api.calls.take();
            let start = Instant::now();
            api.send(request(i)).await;
            samples.push(start.elapsed());
            let path = api.calls.take_request_path(&limits);
            calls.push(path.len());
            trips.push(round_trips(&path));
        }
        calls.sort_unstable();
        trips.sort_unstable();
        report(
            &format!(
                "{name} [{}..{} calls, {}..{} round trips]",
                calls[0],
                calls[calls.len() - 1],
                trips[0],
                trips[trips.len() - 1]
            ),
            samples,
        );
    }
}

/// Runs the sections whose name contains an argument (all without one), e.g.
/// `cargo bench -p ob-tests --bench api -- creates`.
fn main() {
    // cargo passes `--bench` to a bench without the libtest harness.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let wanted =
        |section: &str| filters.is_empty() || filters.iter().any(|f| section.contains(f.as_str()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|err| panic!("runtime: {err}"));
    runtime.block_on(async {
        if wanted("routes") {
            route_budget(50).await;
        }
        if wanted("paths") {
            api_paths(test_settings().bcrypt_cost, 30).await;
            api_paths(10, 10).await;
        }
        if wanted("fan-out") {
            fan_out(1, 50).await;
            fan_out(100, 10).await;
        }
        if wanted("creates") {
            create_throughput(10_000).await;
        }
    });
    if wanted("render") {
        render_stage();
    }
}
