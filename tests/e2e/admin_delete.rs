//! `obctl apps delete` against a deployed local stage: it refuses while an app
//! has data, then removes exactly that app's items from every store (never
//! another app's), keeps the audit log, and a second run finds nothing left.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use axum::Router;
use axum::http::StatusCode;
use ob_core::{Store, apps, attr, keys};
use ob_tests::emulator::{Emulator, emulator};
use ob_tests::fixtures::{Call, send_to};
use ob_tests::obctl::obctl;
use serde_json::{Value, json};

use crate::admin::{deploy_local, deployed_api, fails_with, json_run, ok, stack_outputs};

const PASSWORD: &str = "correct horse battery";

async fn s3(emu: &Emulator) -> aws_sdk_s3::Client {
    let sdk = emu.sdk_config().await;
    let config = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Number of items in one partition of a table (consistent).
async fn items_in(store: &Store, table: &str, pk: &str) -> usize {
    let out = store
        .client
        .query()
        .table_name(table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", attr::s(pk))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    out.items().len()
}

async fn keys_of(store: &Store, app: &str) -> usize {
    ob_core::api_keys::list(store, app).await.unwrap().len()
}

async fn objects_under(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> usize {
    let out = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    out.contents().len()
}

/// An app with a key, a config with an indexed field, two users with sessions,
/// records with index entries, file metadata, objects and a subscription.
async fn populate(
    emu: &Emulator,
    router: &Router,
    store: &Store,
    out: &BTreeMap<String, String>,
    app: &str,
) -> String {
    json_run(emu, &["apps", "create", "--name", app, "--id", app]);
    let key = json_run(
        emu,
        &[
            "keys", "create", "--app", app, "--name", "all", "--scopes", "*",
        ],
    )["key"]
        .as_str()
        .unwrap()
        .to_owned();
    json_run(
        emu,
        &[
            "config",
            "set",
            "--app",
            app,
            r#"indexedFields.notes=["tag"]"#,
        ],
    );
    for name in ["ann", "bob"] {
        let body =
            json!({"email": format!("{name}@example.com"), "password": PASSWORD, "appId": app});
        let reg = send_to(router, Call::post("/auth/register").key(&key).json(&body)).await;
        assert_eq!(reg.status, StatusCode::CREATED, "{:?}", reg.body);
        let token = reg.str("/accessToken");
        for resource in ["notes", "tasks"] {
            let call = Call::post(&format!("/api/{app}/{resource}"))
                .key(&key)
                .bearer(&token)
                .json(&json!({"data": {"tag": "red", "by": name}}));
            let made = send_to(router, call).await;
            assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
        }
    }
    let mut file = attr::Item::new();
    file.insert("pk".into(), attr::s(format!("F#{app}")));
    file.insert("sk".into(), attr::s(format!("{app}/u1/a.txt")));
    file.insert("ownerPk".into(), attr::s(format!("{app}#u1")));
    put(store, &out["FilesTableName"], file).await;
    let s3 = s3(emu).await;
    for name in ["u1/a.txt", "u2/b.txt"] {
        s3.put_object()
            .bucket(&out["FilesBucketName"])
            .key(format!("{app}/{name}"))
            .body(b"hello".to_vec().into())
            .send()
            .await
            .unwrap();
    }
    let mut sub = attr::Item::new();
    sub.insert("pk".into(), attr::s(format!("CH#{app}#room")));
    sub.insert("sk".into(), attr::s(format!("conn-{app}")));
    put(store, &out["ConnectionsTableName"], sub).await;
    key
}

async fn put(store: &Store, table: &str, item: attr::Item) {
    let put = store
        .client
        .put_item()
        .table_name(table)
        .set_item(Some(item));
    put.send().await.unwrap();
}

fn stores(tallies: &Value) -> Vec<String> {
    tallies
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["store"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn apps_delete_removes_one_app_from_every_store() {
    let emu = emulator().await;
    deploy_local(&emu, "apps-delete");
    let (store, router) = deployed_api(&emu).await;
    let out = stack_outputs(&emu).await;

    // Two apps with data in every store: "shop-data" is deleted, "blog" must survive.
    let shop_key = populate(&emu, &router, &store, &out, "shop-data").await;
    populate(&emu, &router, &store, &out, "blog").await;
    let s3 = s3(&emu).await;
    let bucket = out["FilesBucketName"].clone();
    s3.put_object()
        .bucket(&bucket)
        .key("shop-data-2/u1/x.txt")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    let app = "shop-data";
    let tables = store.tables.clone();
    assert_eq!(
        items_in(&store, &tables.data, &keys::resources_pk(app)).await,
        2,
        "notes and tasks are registered"
    );

    // Without --force: exit 1, a report naming every store, and the fix.
    let refused = obctl(&emu, &["apps", "delete", app, "--stage", "local"]);
    fails_with(
        &refused,
        &[
            "still has data",
            "users: 2",
            "apiKeys: 1",
            "config: 1",
            "records: 4",
            "files: 1",
            "objects: 2",
            "connections: 1",
            "--force",
        ],
    );
    let refused_json = obctl(
        &emu,
        &[
            "apps", "delete", app, "--stage", "local", "--output", "json",
        ],
    );
    assert_eq!(refused_json.code, 1);
    let report = refused_json.json();
    assert_eq!(report["outcome"], "refused");
    assert_eq!(
        stores(&report["found"]),
        [
            "users",
            "apiKeys",
            "config",
            "records",
            "files",
            "objects",
            "connections"
        ]
    );
    // --force without a terminal needs --yes; nothing is touched meanwhile.
    let unconfirmed = obctl(
        &emu,
        &["apps", "delete", app, "--stage", "local", "--force"],
    );
    fails_with(&unconfirmed, &["--yes"]);
    assert!(apps::get(&store, app).await.unwrap().is_some());

    let deleted = json_run(&emu, &["apps", "delete", app, "--force", "--yes"]);
    assert_eq!(deleted["outcome"], "deleted", "{deleted}");
    assert_eq!(deleted["appExisted"], true);
    for store_name in [
        "apiKeys",
        "sessions",
        "users",
        "config",
        "records",
        "indexEntries",
        "resources",
        "files",
        "objects",
        "connections",
    ] {
        assert!(
            stores(&deleted["deleted"]).contains(&store_name.to_owned()),
            "{store_name} not in {deleted}"
        );
    }
    let records = deleted["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["store"] == "records")
        .unwrap();
    assert_eq!(records["count"], 4);
    assert_eq!(deleted["left"][0]["store"], "audit");
    assert_eq!(deleted["left"][0]["location"], tables.audit.as_str());
    assert!(
        deleted["left"][0]["note"]
            .as_str()
            .unwrap()
            .contains("expiring by TTL after"),
        "{deleted}"
    );
    assert!(
        deleted["notes"][0]
            .as_str()
            .unwrap()
            .contains("lifecycle rule after 30 days"),
        "{deleted}"
    );

    // Everything of the app is gone, from every store.
    assert!(apps::get(&store, app).await.unwrap().is_none());
    assert_eq!(
        items_in(&store, &tables.users, &keys::users_pk(app)).await,
        0
    );
    assert_eq!(keys_of(&store, app).await, 0);
    assert_eq!(ob_core::config::get(&store, app).await.unwrap().version, 0);
    for pk in [
        keys::records_pk(app, "notes"),
        keys::records_pk(app, "tasks"),
        keys::index_pk(app, "notes", "tag", "red"),
        keys::resources_pk(app),
    ] {
        assert_eq!(items_in(&store, &tables.data, &pk).await, 0, "{pk}");
    }
    assert_eq!(
        items_in(&store, &out["FilesTableName"], &format!("F#{app}")).await,
        0
    );
    assert_eq!(
        items_in(
            &store,
            &out["ConnectionsTableName"],
            &format!("CH#{app}#room")
        )
        .await,
        0
    );
    assert_eq!(objects_under(&s3, &bucket, &format!("{app}/")).await, 0);
    let refused_key = send_to(
        &router,
        Call::post("/auth/register")
            .key(&shop_key)
            .json(&json!({"email": "x@example.com", "password": PASSWORD, "appId": app})),
    )
    .await;
    assert_eq!(refused_key.status, StatusCode::UNAUTHORIZED);

    // The other apps are untouched, including the one whose id shares the prefix.
    assert_eq!(
        items_in(&store, &tables.users, &keys::users_pk("blog")).await,
        4,
        "2 users + 2 e-mail guards"
    );
    assert_eq!(keys_of(&store, "blog").await, 1);
    assert_eq!(
        ob_core::config::get(&store, "blog").await.unwrap().version,
        1
    );
    assert_eq!(
        items_in(&store, &tables.data, &keys::records_pk("blog", "notes")).await,
        2
    );
    assert_eq!(
        items_in(
            &store,
            &tables.data,
            &keys::index_pk("blog", "notes", "tag", "red")
        )
        .await,
        2
    );
    assert_eq!(
        items_in(&store, &tables.data, &keys::resources_pk("blog")).await,
        2
    );
    assert_eq!(items_in(&store, &out["FilesTableName"], "F#blog").await, 1);
    assert_eq!(
        items_in(&store, &out["ConnectionsTableName"], "CH#blog#room").await,
        1
    );
    assert_eq!(objects_under(&s3, &bucket, "blog/").await, 2);
    assert_eq!(objects_under(&s3, &bucket, "shop-data-2/").await, 1);
    assert!(apps::get(&store, "blog").await.unwrap().is_some());

    // The deletion is audited with the operator's identity, and the log is kept.
    let audit = ob_core::audit::list(&store, app, 100).await.unwrap();
    let entry = audit.iter().find(|e| e.action == "app.delete").unwrap();
    assert!(
        entry.actor.starts_with("operator:arn:aws:"),
        "{}",
        entry.actor
    );

    // Resumable: a run that stopped half-way (keys and index entries gone,
    // the rest still there) is finished by the next one.
    populate(&emu, &router, &store, &out, "half").await;
    for pk in [keys::index_pk("half", "notes", "tag", "red")] {
        let page = store
            .client
            .query()
            .table_name(&tables.data)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", attr::s(&pk))
            .send()
            .await
            .unwrap();
        for item in page.items() {
            store
                .client
                .delete_item()
                .table_name(&tables.data)
                .key("pk", item["pk"].clone())
                .key("sk", item["sk"].clone())
                .send()
                .await
                .unwrap();
        }
    }
    for key in ob_core::api_keys::list(&store, "half").await.unwrap() {
        store
            .client
            .delete_item()
            .table_name(&tables.api_keys)
            .key("appId", attr::s("half"))
            .key("keyId", attr::s(&key.key_id))
            .send()
            .await
            .unwrap();
    }
    let resumed = json_run(&emu, &["apps", "delete", "half", "--force", "--yes"]);
    assert_eq!(resumed["outcome"], "deleted", "{resumed}");
    assert!(
        !stores(&resumed["found"]).contains(&"apiKeys".to_owned()),
        "{resumed}"
    );
    assert!(apps::get(&store, "half").await.unwrap().is_none());
    for pk in [
        keys::records_pk("half", "notes"),
        keys::index_pk("half", "tasks", "tag", "red"),
        keys::resources_pk("half"),
    ] {
        assert_eq!(items_in(&store, &tables.data, &pk).await, 0, "{pk}");
    }
    assert_eq!(
        items_in(&store, &tables.users, &keys::users_pk("half")).await,
        0
    );
    assert_eq!(
        items_in(&store, &tables.data, &keys::records_pk("blog", "tasks")).await,
        2
    );

    // Idempotent: a second run succeeds and finds nothing left.
    let second = json_run(&emu, &["apps", "delete", app, "--force", "--yes"]);
    assert_eq!(second["outcome"], "nothing-to-delete", "{second}");
    assert_eq!(second["found"], json!([]));
    assert_eq!(second["deleted"], json!([]));
    assert_eq!(second["appExisted"], false);
    let text = obctl(&emu, &["apps", "delete", app, "--stage", "local"]);
    ok(&text);
    assert!(
        text.stdout.contains("nothing left to delete"),
        "{}",
        text.stdout
    );
}
