//! `obctl config` against a deployed local stage: typed set/get, unset, an
//! import/export round trip, versioning and validation as on the API, audited.

#![allow(clippy::unwrap_used)]

use axum::http::StatusCode;
use ob_tests::emulator::emulator;
use ob_tests::fixtures::{Call, send_to};
use ob_tests::obctl::obctl;
use serde_json::json;

use crate::admin::{deploy_local, deployed_api, fails_with, json_run, ok};

#[tokio::test(flavor = "multi_thread")]
async fn config_and_audit_against_a_deployed_stage() {
    let emu = emulator().await;
    deploy_local(&emu, "config");
    json_run(&emu, &["apps", "create", "--name", "Shop", "--id", "shop"]);
    let key = json_run(&emu, &["keys", "create", "--app", "shop", "--name", "k"]);
    let key = key["key"].as_str().unwrap().to_owned();
    let (store, router) = deployed_api(&emu).await;

    // Defaults at version 0; typed values (JSON where it parses, else a string).
    let initial = json_run(&emu, &["config", "get", "--app", "shop"]);
    assert_eq!(initial["version"], 0);
    assert_eq!(initial["value"]["uploads"]["maxBytes"], 10 * 1024 * 1024);
    let set = json_run(
        &emu,
        &[
            "config",
            "set",
            "--app",
            "shop",
            "featureFlags.search=true",
            "indexedFields.orders=[\"customerId\",\"status\"]",
            "uploads.maxBytes=1048576",
        ],
    );
    assert_eq!(set["version"], 1);
    assert_eq!(
        set["changed"],
        json!(["featureFlags", "indexedFields", "uploads"])
    );
    let flag = json_run(
        &emu,
        &["config", "get", "--app", "shop", "featureFlags.search"],
    );
    assert_eq!(flag["value"], true);
    assert_eq!(flag["key"], "featureFlags.search");

    // The API serves what the CLI wrote.
    let served = send_to(&router, Call::get("/config/shop").key(&key)).await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.body["version"], 1);
    assert_eq!(
        served.body["indexedFields"]["orders"],
        json!(["customerId", "status"])
    );

    // Validation as on the API; nothing is written.
    let wrong_type = obctl(
        &emu,
        &[
            "config",
            "set",
            "--stage",
            "local",
            "--app",
            "shop",
            "featureFlags.x=maybe",
        ],
    );
    fails_with(&wrong_type, &["not a valid config", "featureFlags"]);
    let bad_origin = obctl(
        &emu,
        &[
            "config",
            "set",
            "--stage",
            "local",
            "--app",
            "shop",
            "allowedOrigins=[\"ftp://x\"]",
        ],
    );
    fails_with(&bad_origin, &["not a valid config"]);
    let unknown = obctl(
        &emu,
        &[
            "config",
            "set",
            "--stage",
            "local",
            "--app",
            "shop",
            "colour=red",
        ],
    );
    fails_with(
        &unknown,
        &[
            "colour is not a config key",
            "fix:",
            "settings.colour=VALUE",
        ],
    );
    let no_app = obctl(
        &emu,
        &["config", "get", "--stage", "local", "--app", "nope"],
    );
    fails_with(&no_app, &["app nope not found", "obctl apps list"]);

    // Unset: a field returns to its default.
    let unset = json_run(
        &emu,
        &[
            "config",
            "unset",
            "--app",
            "shop",
            "uploads",
            "featureFlags.search",
        ],
    );
    assert_eq!(unset["version"], 2);
    assert_eq!(unset["value"]["uploads"]["maxBytes"], 10 * 1024 * 1024);
    assert_eq!(unset["value"]["featureFlags"], json!({}));

    // Export, then import it elsewhere and back: the same body.
    let exported = obctl(
        &emu,
        &["config", "export", "--stage", "local", "--app", "shop"],
    );
    ok(&exported);
    let dir = std::env::temp_dir().join(format!("obctl-admin-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let yaml = dir.join("shop.yaml");
    std::fs::write(&yaml, &exported.stdout).unwrap();
    let json_file = dir.join("new.json");
    std::fs::write(
        &json_file,
        r#"{"featureFlags":{"beta.checkout":true},"allowedOrigins":["https://shop.example"]}"#,
    )
    .unwrap();
    let imported = json_run(
        &emu,
        &[
            "config",
            "import",
            "--app",
            "shop",
            &json_file.to_string_lossy(),
        ],
    );
    assert_eq!(imported["version"], 3);
    assert_eq!(
        imported["value"]["indexedFields"],
        json!({}),
        "import replaces the whole config"
    );
    assert_eq!(imported["value"]["featureFlags"]["beta.checkout"], true);
    let back = json_run(
        &emu,
        &["config", "import", "--app", "shop", &yaml.to_string_lossy()],
    );
    assert_eq!(back["version"], 4);
    assert_eq!(back["value"], unset["value"], "export/import round trip");
    let bad_file = dir.join("bad.yaml");
    std::fs::write(&bad_file, "uploads:\n  maxBytes: lots\n").unwrap();
    let bad = obctl(
        &emu,
        &[
            "config",
            "import",
            "--stage",
            "local",
            "--app",
            "shop",
            &bad_file.to_string_lossy(),
        ],
    );
    fails_with(
        &bad,
        &["bad.yaml is not a valid config", "uploads.maxBytes"],
    );
    let json_export = obctl(
        &emu,
        &[
            "config", "export", "--stage", "local", "--app", "shop", "--format", "json",
        ],
    );
    ok(&json_export);
    let parsed: serde_json::Value = serde_json::from_str(&json_export.stdout).unwrap();
    assert_eq!(parsed, back["value"]);

    let entries = ob_core::audit::list(&store, "shop", 100).await.unwrap();
    let writes: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "config.update" && e.actor.starts_with("operator:arn:aws:"))
        .collect();
    assert_eq!(writes.len(), 4, "one audit entry per written version");
    assert_eq!(writes[0].target, "config:v4");

    // `obctl audit`: newest first, JSON lines, filters, limit, and its errors.
    let lines = |args: &[&str]| -> Vec<serde_json::Value> {
        let mut all = vec![
            "audit", "--stage", "local", "--app", "shop", "--output", "json",
        ];
        all.extend_from_slice(args);
        let run = obctl(&emu, &all);
        ok(&run);
        run.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let all = lines(&[]);
    assert_eq!(all.len(), entries.len());
    assert_eq!(all[0]["action"], "config.update");
    assert_eq!(all[0]["target"], "config:v4");
    assert_eq!(all.last().unwrap()["action"], "app.create");
    for entry in &all {
        for field in [
            "appId",
            "eventId",
            "at",
            "actor",
            "action",
            "target",
            "changedFields",
        ] {
            assert!(entry.get(field).is_some(), "{field} missing in {entry}");
        }
    }
    // The API's own entry for the key's first use is there too, by the key.
    assert_eq!(lines(&["--action", "apikey."]).len(), 2);
    assert_eq!(lines(&["--actor", "key:"]).len(), 1);
    assert_eq!(
        lines(&["--actor", "operator:arn:aws:", "--since", "1h"]).len(),
        all.len() - 1
    );
    assert_eq!(lines(&["--actor", "user:"]).len(), 0);
    assert_eq!(lines(&["--since", "2999-01-01"]).len(), 0);
    assert_eq!(lines(&["--limit", "2"]).len(), 2);
    let table = obctl(&emu, &["audit", "--stage", "local", "--app", "shop"]);
    ok(&table);
    assert!(
        table.stdout.starts_with("AT") && table.stdout.contains("config:v4"),
        "{}",
        table.stdout
    );
    let bad_since = obctl(
        &emu,
        &[
            "audit",
            "--stage",
            "local",
            "--app",
            "shop",
            "--since",
            "yesterday",
        ],
    );
    fails_with(&bad_since, &["--since", "fix:"]);
    let no_app = obctl(&emu, &["audit", "--stage", "local", "--app", "nope"]);
    fails_with(&no_app, &["app nope not found"]);

    // The app's own values go under settings (dots descend), served to its signed-in users.
    let themed = json_run(
        &emu,
        &[
            "config",
            "set",
            "--app",
            "shop",
            "settings.theme=dark",
            "settings.colors.primary=#123456",
        ],
    );
    assert_eq!(themed["version"], 5);
    assert_eq!(
        themed["changed"],
        json!(["settings.colors", "settings.theme"])
    );
    let primary = json_run(
        &emu,
        &["config", "get", "--app", "shop", "settings.colors.primary"],
    );
    assert_eq!(primary["value"], "#123456");
    let public = send_to(&router, Call::get("/config/shop").key(&key)).await;
    assert!(public.body.get("settings").is_none(), "{}", public.body);
    let user = send_to(
        &router,
        Call::post("/auth/register").key(&key).json(&json!({
            "appId": "shop", "email": "ann@example.com", "password": "correct horse battery"
        })),
    )
    .await;
    assert_eq!(user.status, StatusCode::CREATED);
    let signed_in = send_to(
        &router,
        Call::get("/config/shop")
            .key(&key)
            .bearer(&user.str("/accessToken")),
    )
    .await;
    assert_eq!(signed_in.body["settings"]["theme"], "dark");
    let unset = json_run(
        &emu,
        &["config", "unset", "--app", "shop", "settings.colors"],
    );
    assert_eq!(unset["value"]["settings"], json!({"theme": "dark"}));
}
