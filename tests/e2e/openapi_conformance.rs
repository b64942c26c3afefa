//! The OpenAPI document is true to the server: schemathesis (pinned in tests/emulator/requirements.txt, installed
//! into .venv) runs every check against `obctl dev`'s function processes with a fixed seed and example count, and
//! fails on any finding.

use std::path::PathBuf;
use std::process::Command;

use ob_tests::http;
use serde_json::json;

/// Operations run apart, last: fuzzing them rewrites the app's config (its
/// request limits too), which would starve the rest of the run.
const CONFIG_WRITES: &str = "^/config/";

fn schemathesis() -> PathBuf {
    ob_tests::emulator::workspace_root().join(".venv/bin/schemathesis")
}

/// One schemathesis run over the operations `filter` selects: its report when it found anything.
fn run(base: &str, env: &[(String, String)], filter: &[&str]) -> Result<(), String> {
    let root = ob_tests::emulator::workspace_root();
    let output = Command::new(schemathesis())
        .current_dir(&root)
        .args(["--config-file", "tests/openapi/schemathesis.toml", "run"])
        .arg(format!("http://{base}/openapi.json"))
        .args(["--url", &format!("http://{base}")])
        .args(["--checks", "all"])
        // API Gateway answers a method without a route with its own 404 before
        // any function runs (deployed and locally): no document makes it a 405.
        .args(["--exclude-checks", "unsupported_method"])
        .args(["--no-color", "--output-truncate", "true"])
        .args(filter)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap_or_else(|err| {
            panic!(
                "cannot run {}: {err}; `make venv` installs it",
                schemathesis().display()
            )
        });
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(report.contains("Seed: 15012"), "{report}");
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "schemathesis {filter:?} found what the OpenAPI document does not say:\n{report}\n{}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Run by the `make dev` scenario against its `obctl dev` (function processes).
pub(crate) async fn schemathesis_finds_nothing(emu: &ob_tests::Emulator, base: &str) {
    let app = "openapi";
    let key = crate::local_backend::app_with_key(emu, app);
    let login =
        json!({"appId": app, "email": "fuzzer@example.com", "password": "correct horse battery"});
    let url = |path: &str| format!("http://{base}{path}");
    let (status, reply) = http::json(
        "POST",
        &url("/auth/register"),
        &[("X-API-Key", &key)],
        Some(&login),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    // An admin reaches the config writes too.
    crate::local_backend::admin(
        emu,
        &[
            "users",
            "set-role",
            "--stage",
            "local",
            "--app",
            app,
            "fuzzer@example.com",
            "admin",
        ],
    );
    let (status, reply) = http::json(
        "POST",
        &url("/auth/login"),
        &[("X-API-Key", &key)],
        Some(&login),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let token = reply["accessToken"].as_str().expect("a token").to_owned();
    let env: Vec<(String, String)> = [
        ("OB_APP_ID", app.to_owned()),
        ("OB_API_KEY", key),
        ("OB_ACCESS_TOKEN", token),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let base = base.to_owned();
    let reports = tokio::task::spawn_blocking(move || {
        [
            run(&base, &env, &["--exclude-path-regex", CONFIG_WRITES]),
            run(&base, &env, &["--include-path-regex", CONFIG_WRITES]),
        ]
    })
    .await
    .expect("schemathesis ran");
    let findings: Vec<String> = reports.into_iter().filter_map(Result::err).collect();
    assert!(findings.is_empty(), "{}", findings.join("\n"));
}
