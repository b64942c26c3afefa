//! `make bench`, the local runtime of `obctl dev`: the cold start of every function (process spawn to first response
//! through the local Runtime API, with its init duration) beside an empty `lambda_runtime` function built with the
//! same profile, each function's zip size beside the empty function's, and the warm cost of the local gateway path against the in-process router. Deploys the `local`
//! stage into a fresh emulator first. Prints figures; asserts nothing. `BENCH_PROFILE=release` measures optimised
//! binaries (built once, several minutes).

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use ob_local::server::{self, Gateway};
use ob_local::{EventBus, FunctionSpec, HttpApi, Runtime};
use obctl::args::{AwsArgs, BuildProfile};
use serde_json::{Value, json};

/// Cold starts measured per function.
const COLD_STARTS: usize = 5;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn p95(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * 0.95).round() as usize]
}

fn obctl(emu: &ob_tests::Emulator, args: &[&str]) {
    let root = ob_tests::emulator::workspace_root();
    let status = Command::new(root.join("target/debug/obctl"))
        .args(args)
        .current_dir(&root)
        .envs(emu.env_vars())
        .env("OBCTL_POLL_MS", "50")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|err| panic!("obctl {args:?}: {err} (run `make build` first)"));
    assert!(status.success(), "obctl {args:?} failed");
}

/// The event that reaches `function` first: an unauthenticated call of its first route (answered without storage).
fn first_event(spec: &FunctionSpec) -> Value {
    let def = ob_core::functions::FunctionDef::by_name(&spec.name);
    match def.and_then(|d| d.http_routes.first()) {
        Some(route) => {
            let (_, path) = route.split_once(' ').unwrap_or(("GET", "/"));
            let path = path.replace("{proxy+}", "x").replace(['{', '}'], "");
            json!({
                "version": "2.0", "routeKey": route, "rawPath": path, "rawQueryString": "",
                "headers": {"host": "127.0.0.1"},
                "requestContext": {
                    "accountId": "123456789012", "apiId": "httpapi", "domainName": "127.0.0.1",
                    "domainPrefix": "127", "requestId": "bench", "routeKey": route, "stage": "$default",
                    "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 0,
                    "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
                },
                "isBase64Encoded": false,
            })
        }
        None if def.is_some() => json!({
            "headers": {"host": "127.0.0.1"},
            "requestContext": {"routeKey": "$connect", "eventType": "CONNECT", "connectionId": "bench=", "requestId": "bench", "stage": "live", "apiId": "websocketapi"},
            "isBase64Encoded": false,
        }),
        None => json!({}),
    }
}

/// Spawn to first response, `COLD_STARTS` times: (median, median init).
async fn cold_start(spec: &FunctionSpec) -> (Duration, Duration) {
    let payload = first_event(spec).to_string().into_bytes();
    let mut totals = Vec::new();
    let mut inits = Vec::new();
    for _ in 0..COLD_STARTS {
        let runtime = Runtime::new(vec![spec.clone()], EventBus::default());
        let started = Instant::now();
        let invocation = runtime.invoke(&spec.name, payload.clone()).await;
        totals.push(started.elapsed());
        inits.push(invocation.init.unwrap_or_default());
        if !matches!(invocation.outcome, ob_local::Outcome::Response(_)) {
            println!("  ({} did not answer: {:?})", spec.name, invocation.outcome);
        }
        runtime.shutdown().await;
    }
    (median(totals), median(inits))
}

/// `n` sequential requests; every answer must have `status`.
async fn timed(n: usize, url: &str, method: &str, body: &[u8], status: u16) -> Vec<Duration> {
    let headers = [("Content-Type".to_owned(), "application/json".to_owned())];
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let reply = ob_tests::http::exchange(method, url, &headers, body).await;
        samples.push(started.elapsed());
        if reply.status != status {
            panic!(
                "{method} {url}: {} instead of {status}: {}",
                reply.status,
                String::from_utf8_lossy(&reply.body)
            );
        }
    }
    samples
}

async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    addr
}

/// Each function's zip as `obctl build` packs it for this machine with `profile`, beside the empty function's.
fn zip_sizes(project: &obctl::project::Project, profile: BuildProfile, baseline: &std::path::Path) {
    let arch = obctl::stage::Architecture::X86_64;
    let plan = obctl::build::BuildPlan {
        arch,
        profile: profile.as_str().to_owned(),
        out_dir: obctl::build::default_out_dir(project, arch, profile.as_str()),
    };
    let artifacts = obctl::build::build(project, &plan).unwrap_or_else(|err| panic!("{err}"));
    let compression = obctl::build::zip::Compression::for_profile(profile.as_str());
    let empty = std::fs::read(baseline)
        .map_err(|err| err.to_string())
        .and_then(|binary| obctl::build::zip::pack(&binary, compression))
        .unwrap_or_else(|err| panic!("{err}"))
        .len() as f64;
    let mib = |bytes: f64| bytes / (1024.0 * 1024.0);
    println!(
        "zips ({} profile, {}, as `obctl build` packs them; Lambda's limit is per zip, the goal 3 MiB):",
        profile.as_str(),
        arch.as_str()
    );
    println!(
        "  {:<9} {:>6.2} MiB   (empty lambda_runtime function)",
        "baseline",
        mib(empty)
    );
    for artifact in &artifacts {
        let bytes = artifact.bytes as f64;
        println!(
            "  {:<9} {:>6.2} MiB   x{:.1} the empty function",
            artifact.function,
            mib(bytes),
            bytes / empty
        );
    }
}

fn main() {
    let profile = match std::env::var("BENCH_PROFILE").as_deref() {
        Ok("release") => BuildProfile::Release,
        _ => BuildProfile::Dev,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|err| panic!("runtime: {err}"));
    runtime.block_on(async {
        let emu = ob_tests::emulator().await;
        obctl(&emu, &["bootstrap", "--stage", "local"]);
        obctl(&emu, &["deploy", "--stage", "local", "--yes"]);
        let project = obctl::project::Project::at(&ob_tests::emulator::workspace_root());
        let aws = obctl::aws::Aws::connect(
            &AwsArgs {
                endpoint_url: Some(emu.endpoint_url()),
                ..AwsArgs::default()
            },
            "us-east-1",
        )
        .await;
        let address = SocketAddr::from(([127, 0, 0, 1], 0));
        let prepared = obctl::dev::prepare(&project, "local", &aws, address, profile, 4, &["ob-baseline"])
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        let plan = prepared.plan;

        let mut baseline = plan.functions[0].clone();
        baseline.name = "baseline".into();
        baseline.executable = prepared.extra_binaries["ob-baseline"].clone();
        let (empty, empty_init) = cold_start(&baseline).await;
        println!(
            "cold start, spawn to first response through the local Runtime API ({} profile, median of {COLD_STARTS}):",
            profile.as_str()
        );
        println!("  {:<9} {:>8.1} ms   init {:>7.1} ms   (empty lambda_runtime function)", "baseline", ms(empty), ms(empty_init));
        for spec in &plan.functions {
            let (total, init) = cold_start(spec).await;
            println!(
                "  {:<9} {:>8.1} ms   init {:>7.1} ms   x{:.2} the empty function",
                spec.name,
                ms(total),
                ms(init),
                total.as_secs_f64() / empty.as_secs_f64()
            );
        }
        zip_sizes(&project, profile, &baseline.executable);

        // Warm: the same requests through the local gateway to the function processes, and to the in-process router.
        let local = Runtime::new(plan.functions.clone(), EventBus::default());
        local.start_instances().await;
        // Without the stage's throttle: it would answer the later requests with 429.
        let gateway = Gateway {
            runtime: local.clone(),
            http: plan.http.clone().map(|mut spec| {
                spec.throttle = None;
                HttpApi::new(spec, local.clone())
            }),
            websocket: None,
        };
        let port = serve(axum::Router::new()).await.port();
        let gateway_addr = serve(server::router(gateway, port, axum::Router::new())).await;
        let (state, _) = obctl::dev::in_process::state(&project, "local", &aws)
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        let in_process = serve(ob_api::router(state)).await;
        // A well-formed key that does not exist: a DynamoDB Query, answered `{"valid": false}`. Keyless, these count
        // against the client address's budget (`api.limits.clientRequestsPerMinute`), which stacks/local.yaml sets
        // to the app's: 400 of them within a minute would pass the default 600 with the cold starts' requests.
        let key = json!({"apiKey": format!("ob_{}", "x".repeat(43))}).to_string();
        for (name, method, path, body, status) in [
            ("GET /health", "GET", "/health", &b""[..], 200),
            ("POST /verify-key (a key lookup)", "POST", "/verify-key", key.as_bytes(), 200),
        ] {
            let direct = timed(200, &format!("http://{in_process}{path}"), method, body, status).await;
            let through = timed(200, &format!("http://{gateway_addr}{path}"), method, body, status).await;
            println!(
                "{name:<34} in-process router p50 {:>6.2} ms p95 {:>6.2} ms   local gateway + function process p50 {:>6.2} ms p95 {:>6.2} ms   (+{:.2} ms)",
                ms(median(direct.clone())),
                ms(p95(direct.clone())),
                ms(median(through.clone())),
                ms(p95(through.clone())),
                ms(median(through)) - ms(median(direct)),
            );
        }
        local.shutdown().await;
    });
}
