//! `obctl apps` and `obctl keys` against a deployed local stage: records written
//! by the CLI are the ones the in-process API reads; errors name the fix.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::Router;
use axum::http::StatusCode;
use ob_core::{Store, Tables};
use ob_tests::emulator::{Emulator, emulator};
use ob_tests::fixtures::{Call, send_to, test_settings};
use ob_tests::obctl::{Run, obctl};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

pub(crate) fn ok(run: &Run) {
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
}

pub(crate) fn fails_with(run: &Run, needles: &[&str]) {
    assert_eq!(
        run.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    for needle in needles {
        assert!(
            run.stderr.contains(needle),
            "{needle:?} not in:\n{}",
            run.stderr
        );
    }
}

/// One tiny zip per function, named by its hash: enough for the emulator, which never runs them.
pub(crate) fn fake_artifacts(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("obctl-admin-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for function in ob_core::functions::ALL.iter().map(|f| f.name) {
        let bytes = obctl::build::zip::pack(
            format!("fake {function}").as_bytes(),
            obctl::build::zip::Compression::Fast,
        )
        .unwrap();
        let hash = obctl::build::zip::sha256_hex(&bytes);
        std::fs::write(dir.join(format!("{function}-{hash}.zip")), bytes).unwrap();
    }
    dir
}

/// Bootstraps the local stage and deploys it with fake function zips.
pub(crate) fn deploy_local(emu: &Emulator, label: &str) {
    ok(&obctl(emu, &["bootstrap", "--stage", "local"]));
    let artifacts = fake_artifacts(label);
    ok(&obctl(
        emu,
        &[
            "deploy",
            "--stage",
            "local",
            "--yes",
            "--artifacts",
            &artifacts.to_string_lossy(),
        ],
    ));
}

/// The deployed local stack's outputs, by key.
pub(crate) async fn stack_outputs(emu: &Emulator) -> BTreeMap<String, String> {
    let sdk = emu.sdk_config().await;
    let stack = aws_sdk_cloudformation::Client::new(&sdk)
        .describe_stacks()
        .stack_name("one-backend-local")
        .send()
        .await
        .unwrap();
    stack.stacks()[0]
        .outputs()
        .iter()
        .map(|o| {
            let key = o.output_key().unwrap_or_default().to_owned();
            (key, o.output_value().unwrap_or_default().to_owned())
        })
        .collect()
}

/// The API in-process over the deployed stage's tables and signing key.
pub(crate) async fn deployed_api(emu: &Emulator) -> (Store, Router) {
    let sdk = emu.sdk_config().await;
    let outputs = stack_outputs(emu).await;
    let secret = aws_sdk_secretsmanager::Client::new(&sdk)
        .get_secret_value()
        .secret_id(&outputs["SigningKeySecretArn"])
        .send()
        .await
        .unwrap();
    let signing_key = secret.secret_string().unwrap().as_bytes().to_vec();
    let store = Store::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        Tables::from_lookup(|def| outputs.get(def.output).cloned()),
    );
    let state = ob_api::AppState::new(store.clone(), &signing_key, test_settings()).unwrap();
    (store, ob_api::router(state))
}

async fn register(router: &Router, key: &str, email: &str) -> StatusCode {
    let body = json!({"email": email, "password": PASSWORD, "appId": "shop"});
    send_to(router, Call::post("/auth/register").json(&body).key(key))
        .await
        .status
}

pub(crate) fn json_run(emu: &Emulator, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--stage", "local", "--output", "json"]);
    let run = obctl(emu, &all);
    ok(&run);
    run.json()
}

#[tokio::test(flavor = "multi_thread")]
async fn apps_and_keys_against_a_deployed_stage() {
    let emu = emulator().await;

    // Before a deploy: the stage is named and so is the fix; unknown stages fail too.
    let early = obctl(&emu, &["apps", "list", "--stage", "local"]);
    fails_with(
        &early,
        &["stage local is not deployed", "obctl deploy --stage local"],
    );
    let unknown = obctl(&emu, &["apps", "list", "--stage", "nope"]);
    assert_ne!(unknown.code, 0);
    assert!(unknown.stderr.contains("nope"), "{}", unknown.stderr);

    deploy_local(&emu, "apps");

    // Apps: create, refuse a duplicate, list, get, update.
    let created = json_run(
        &emu,
        &[
            "apps",
            "create",
            "--name",
            "Shop",
            "--id",
            "shop",
            "--origin",
            "https://shop.example",
            "--email",
            "ops@shop.example",
        ],
    );
    assert_eq!(created["appId"], "shop");
    assert_eq!(created["stage"], "local");
    assert_eq!(created["state"], "active");
    assert_eq!(created["origins"], json!(["https://shop.example"]));
    assert_eq!(created["contact"], "ops@shop.example");
    let again = obctl(
        &emu,
        &[
            "apps", "create", "--stage", "local", "--name", "Shop", "--id", "shop",
        ],
    );
    fails_with(&again, &["already exists", "fix:"]);
    let bad = obctl(
        &emu,
        &[
            "apps", "create", "--stage", "local", "--name", "X", "--id", "Bad#Id",
        ],
    );
    fails_with(&bad, &["appId", "fix:"]);
    let listed = json_run(&emu, &["apps", "list"]);
    assert_eq!(listed["apps"].as_array().unwrap().len(), 1);
    assert_eq!(listed["apps"][0]["appId"], "shop");
    let text = obctl(&emu, &["apps", "list", "--stage", "local"]);
    ok(&text);
    assert!(
        text.stdout.contains("shop") && text.stdout.contains("ID"),
        "{}",
        text.stdout
    );
    assert_eq!(json_run(&emu, &["apps", "get", "shop"])["name"], "Shop");
    let missing = obctl(&emu, &["apps", "get", "nope", "--stage", "local"]);
    fails_with(
        &missing,
        &["app nope not found", "obctl apps list --stage local"],
    );
    let updated = json_run(
        &emu,
        &[
            "apps",
            "update",
            "shop",
            "--name",
            "Shop Two",
            "--clear-origins",
        ],
    );
    assert_eq!(updated["name"], "Shop Two");
    assert_eq!(updated["origins"], json!([]));
    assert_eq!(updated["contact"], "ops@shop.example");
    let nothing = obctl(&emu, &["apps", "update", "shop", "--stage", "local"]);
    fails_with(&nothing, &["nothing to update"]);

    // Keys: the key printed once works on the API; listing never shows it.
    let (store, router) = deployed_api(&emu).await;
    let issued = json_run(
        &emu,
        &[
            "keys",
            "create",
            "--app",
            "shop",
            "--name",
            "ci",
            "--scopes",
            "auth,config:read",
        ],
    );
    let key = issued["key"].as_str().unwrap().to_owned();
    let key_id = issued["keyId"].as_str().unwrap().to_owned();
    assert!(key.starts_with("ob_"));
    assert_eq!(issued["state"], "active");
    assert_eq!(issued["scopes"], json!(["auth", "config:read"]));
    assert_eq!(
        register(&router, &key, "ann@example.com").await,
        StatusCode::CREATED
    );

    let quiet = obctl(
        &emu,
        &[
            "keys",
            "create",
            "--stage",
            "local",
            "--app",
            "shop",
            "--name",
            "q",
            "-q",
            "--expires",
            "1d",
        ],
    );
    ok(&quiet);
    let quiet_key = quiet.stdout.trim().to_owned();
    assert!(quiet_key.starts_with("ob_") && !quiet_key.contains(char::is_whitespace));

    let list = obctl(
        &emu,
        &[
            "keys", "list", "--stage", "local", "--app", "shop", "--output", "json",
        ],
    );
    ok(&list);
    assert!(!list.stdout.contains(&key) && !list.stdout.contains(&quiet_key));
    let keys = list.json()["keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 2);
    let q = keys.iter().find(|k| k["name"] == "q").unwrap();
    let expires = q["expiresAt"].as_i64().unwrap();
    let now = ob_core::clock::now_epoch();
    assert!((now + 86_300..=now + 86_500).contains(&expires), "{q}");

    // Revoke: refused from the next request on.
    let revoked = json_run(&emu, &["keys", "revoke", "--app", "shop", &key_id]);
    assert_eq!(revoked["state"], "revoked");
    assert_eq!(
        register(&router, &key, "bob@example.com").await,
        StatusCode::UNAUTHORIZED
    );

    // Rotation with grace: both work until the grace ends; without grace the old stops at once.
    let quiet_id = q["keyId"].as_str().unwrap().to_owned();
    let rotated = json_run(
        &emu,
        &[
            "keys", "rotate", "--app", "shop", &quiet_id, "--grace", "1h",
        ],
    );
    let new_key = rotated["key"].as_str().unwrap().to_owned();
    let old_until = rotated["replaces"]["expiresAt"].as_i64().unwrap();
    assert!(
        old_until <= ob_core::clock::now_epoch() + 3_600,
        "{rotated}"
    );
    assert_eq!(rotated["replaces"]["state"], "active");
    assert_eq!(
        rotated["expiresAt"].as_i64(),
        Some(expires),
        "the new key keeps the expiry"
    );
    assert_eq!(
        register(&router, &quiet_key, "cy@example.com").await,
        StatusCode::CREATED
    );
    assert_eq!(
        register(&router, &new_key, "di@example.com").await,
        StatusCode::CREATED
    );
    let new_id = rotated["keyId"].as_str().unwrap().to_owned();
    let hard = json_run(&emu, &["keys", "rotate", "--app", "shop", &new_id]);
    assert_eq!(hard["replaces"]["state"], "revoked");
    assert_eq!(
        register(&router, &new_key, "ed@example.com").await,
        StatusCode::UNAUTHORIZED
    );
    let newest = hard["key"].as_str().unwrap();
    assert_eq!(
        register(&router, newest, "fa@example.com").await,
        StatusCode::CREATED
    );

    // Error paths of keys.
    let past = obctl(
        &emu,
        &[
            "keys",
            "create",
            "--stage",
            "local",
            "--app",
            "shop",
            "--name",
            "x",
            "--expires",
            "2020-01-01",
        ],
    );
    fails_with(&past, &["in the past"]);
    let garbled = obctl(
        &emu,
        &[
            "keys",
            "create",
            "--stage",
            "local",
            "--app",
            "shop",
            "--name",
            "x",
            "--expires",
            "soon",
        ],
    );
    fails_with(&garbled, &["--expires", "fix:"]);
    let no_app = obctl(&emu, &["keys", "list", "--stage", "local", "--app", "nope"]);
    fails_with(&no_app, &["app nope not found", "obctl apps list"]);
    let no_key = obctl(
        &emu,
        &[
            "keys",
            "revoke",
            "--stage",
            "local",
            "--app",
            "shop",
            "missing-id",
        ],
    );
    fails_with(&no_key, &["key missing-id not found", "obctl keys list"]);

    // Every operator action is audited with the caller's AWS identity, and no secret.
    let entries = ob_core::audit::list(&store, "shop", 100).await.unwrap();
    let operator: Vec<_> = entries
        .iter()
        .filter(|e| e.actor.starts_with("operator:arn:aws:"))
        .collect();
    let actions: Vec<&str> = operator.iter().map(|e| e.action.as_str()).collect();
    for action in [
        "app.create",
        "app.update",
        "apikey.create",
        "apikey.revoke",
        "apikey.rotate",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
    let dump = serde_json::to_string(&entries).unwrap();
    for secret in [&key, &quiet_key, &new_key] {
        assert!(
            !dump.contains(secret.as_str()),
            "a key leaked into the audit log"
        );
    }
}
