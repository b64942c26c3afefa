//! `obctl apps` domains and versioned updates against a deployed local stage
//! (`apps delete` is in `admin_delete`).

#![allow(clippy::unwrap_used)]

use ob_core::Error;
use ob_core::apps::{self, AppUpdate};
use ob_tests::emulator::emulator;
use ob_tests::obctl::obctl;
use serde_json::json;

use crate::admin::{deploy_local, deployed_api, fails_with, json_run, ok};

#[tokio::test(flavor = "multi_thread")]
async fn apps_domains_and_versioned_updates_against_a_deployed_stage() {
    let emu = emulator().await;
    deploy_local(&emu, "domains");
    let (store, _) = deployed_api(&emu).await;

    // Domains: validated, stored, shown; a bad one names the flag.
    let created = json_run(
        &emu,
        &[
            "apps",
            "create",
            "--name",
            "Shop",
            "--id",
            "shop",
            "--domain",
            "shop.example.com",
            "--domain",
            "www.shop.example.com",
            "--email",
            "ops@shop.example",
        ],
    );
    assert_eq!(
        created["domains"],
        json!(["shop.example.com", "www.shop.example.com"])
    );
    assert_eq!(created["contact"], "ops@shop.example");
    assert_eq!(created["version"], 1);
    for (bad, why) in [
        ("https://x.example", "scheme"),
        ("X.example", "lowercase"),
        ("x.example:8080", "port"),
    ] {
        let run = obctl(
            &emu,
            &[
                "apps", "create", "--stage", "local", "--name", "X", "--id", "x-app", "--domain",
                bad,
            ],
        );
        fails_with(&run, &["--domain", why, "fix:"]);
    }
    assert!(
        apps::get(&store, "x-app").await.unwrap().is_none(),
        "a refused create writes nothing"
    );
    let text = obctl(&emu, &["apps", "get", "shop", "--stage", "local"]);
    ok(&text);
    assert!(
        text.stdout
            .contains("domains:  shop.example.com, www.shop.example.com"),
        "{}",
        text.stdout
    );
    let listed = obctl(&emu, &["apps", "list", "--stage", "local"]);
    assert!(
        listed.stdout.contains("DOMAINS") && listed.stdout.contains("shop.example.com"),
        "{}",
        listed.stdout
    );
    let updated = json_run(
        &emu,
        &[
            "apps",
            "update",
            "shop",
            "--add-domain",
            "api.shop.example.com",
            "--remove-domain",
            "www.shop.example.com",
        ],
    );
    assert_eq!(
        updated["domains"],
        json!(["shop.example.com", "api.shop.example.com"])
    );
    assert_eq!(updated["version"], 2);
    let bad_add = obctl(
        &emu,
        &[
            "apps",
            "update",
            "shop",
            "--stage",
            "local",
            "--add-domain",
            "a/b",
        ],
    );
    fails_with(&bad_add, &["--add-domain", "path"]);

    // --if-not-exists leaves an existing app as it is.
    let again = json_run(
        &emu,
        &[
            "apps",
            "create",
            "--name",
            "Other",
            "--id",
            "shop",
            "--if-not-exists",
        ],
    );
    assert_eq!(again["name"], "Shop");
    assert_eq!(again["version"], 2);

    // Versioned updates: an update computed from a stale read is refused and
    // does not undo the one that landed in between.
    let stale = apps::get(&store, "shop").await.unwrap().unwrap();
    let rename = |name: &str| AppUpdate {
        name: Some(name.into()),
        ..AppUpdate::default()
    };
    apps::update(&store, "shop", &rename("Shop A"))
        .await
        .unwrap();
    let lost = apps::update_from(&store, &stale, &rename("Shop B")).await;
    assert!(
        matches!(&lost, Err(Error::Conflict(m)) if m.contains("re-run")),
        "{lost:?}"
    );
    assert_eq!(
        apps::get(&store, "shop").await.unwrap().unwrap().name,
        "Shop A"
    );
}
