//! HTTP API, files: presigned upload and download against the emulator's S3, limits, unsafe names, pending uploads (access and listing: `access`).
//!
//! The emulator does not check presigned signatures or expiry (see
//! DEVELOPERS.md); what the URLs bind is covered by the unit tests of
//! `ob_core::files::s3`. These tests PUT and GET the URLs for real.

#![allow(clippy::unwrap_used)]

use axum::http::{Method, StatusCode};
use ob_core::config::{ConfigBody, UploadLimits};
use ob_core::files::FileItem;
use ob_core::users::Role;
use ob_tests::fixtures::{Api, Reply, TestApp, test_settings};
use ob_tests::http;
use serde_json::json;

use crate::api_data::{User, call, user};

mod access;

pub(crate) async fn start() -> Api {
    Api::start_with_files(test_settings()).await
}

pub(super) fn path(app: &TestApp, action: &str) -> String {
    format!("/files/{}/{action}", app.app_id)
}

async fn ask_upload(
    api: &Api,
    app: &TestApp,
    who: &User,
    name: &str,
    kind: &str,
    size: usize,
) -> Reply {
    api.send(
        call(Method::POST, &path(app, "upload-url"), app, who)
            .json(&json!({"fileName": name, "fileType": kind, "size": size})),
    )
    .await
}

/// Asks for an upload URL and PUTs `bytes` to it; returns the key.
pub(crate) async fn upload(
    api: &Api,
    app: &TestApp,
    who: &User,
    name: &str,
    kind: &str,
    bytes: &[u8],
) -> String {
    let reply = ask_upload(api, app, who, name, kind, bytes.len())
        .await
        .expect(StatusCode::OK);
    assert_eq!(reply.str("/method"), "PUT");
    let headers: Vec<(String, String)> = reply.body["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let (status, body) = http::request("PUT", &reply.str("/url"), &headers, bytes).await;
    assert_eq!(
        status,
        200,
        "PUT failed: {}",
        String::from_utf8_lossy(&body)
    );
    reply.str("/key")
}

pub(super) async fn download_url(api: &Api, app: &TestApp, who: &User, key: &str) -> Reply {
    api.send(call(Method::POST, &path(app, "download-url"), app, who).json(&json!({"key": key})))
        .await
}

pub(super) async fn download(api: &Api, app: &TestApp, who: &User, key: &str) -> Vec<u8> {
    let reply = download_url(api, app, who, key)
        .await
        .expect(StatusCode::OK);
    let (status, body) = http::request("GET", &reply.str("/url"), &[], b"").await;
    assert_eq!(status, 200);
    body
}

pub(crate) async fn delete_by_query(api: &Api, app: &TestApp, who: &User, key: &str) -> Reply {
    let target = format!("{}?key={key}", path(app, "delete"));
    api.send(call(Method::DELETE, &target, app, who)).await
}

/// Whether the shop app's audit log has an entry of `action`.
pub(super) async fn audited(api: &Api, action: &str) -> bool {
    api.audit("shop").await.iter().any(|e| e.action == action)
}

pub(super) async fn list(api: &Api, app: &TestApp, who: &User, query: &str) -> Reply {
    api.send(call(
        Method::GET,
        &format!("{}?{query}", path(app, "list")),
        app,
        who,
    ))
    .await
}

pub(super) fn keys(reply: &Reply) -> Vec<String> {
    reply.body["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap().to_owned())
        .collect()
}

pub(crate) async fn stored(api: &Api, app: &TestApp, key: &str) -> Option<FileItem> {
    ob_core::files::store::get(&api.store, &app.app_id, key)
        .await
        .unwrap()
}

pub(crate) async fn object_exists(api: &Api, key: &str) -> bool {
    api.state
        .files()
        .unwrap()
        .head(key)
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn upload_then_download_the_same_bytes_and_list_them() {
    let api = start().await;
    let app = api.app("shop").await;
    let ada = user(&api, &app, "ada", Role::User).await;
    let bytes = b"hello, files";

    let reply = ask_upload(
        &api,
        &app,
        &ada,
        "docs/hello.txt",
        "text/plain",
        bytes.len(),
    )
    .await
    .expect(StatusCode::OK);
    let key = reply.str("/key");
    assert_eq!(key, format!("shop/{}/docs/hello.txt", ada.id));
    assert_eq!(reply.body["headers"]["content-type"], "text/plain");
    assert_eq!(
        reply.body["headers"]["content-length"],
        bytes.len().to_string()
    );
    assert!(reply.str("/expiresAt").ends_with('Z'));
    // Pending until the object exists: not listed, not downloadable.
    assert_eq!(stored(&api, &app, &key).await.unwrap().status, "pending");
    assert!(keys(&list(&api, &app, &ada, "").await.expect(StatusCode::OK)).is_empty());
    download_url(&api, &app, &ada, &key)
        .await
        .expect(StatusCode::NOT_FOUND);
    assert_eq!(
        stored(&api, &app, &key).await.unwrap().status,
        "pending",
        "URL still valid"
    );

    let key = upload(&api, &app, &ada, "docs/hello.txt", "text/plain", bytes).await;
    let listed = list(&api, &app, &ada, "").await.expect(StatusCode::OK);
    let files = listed.body["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{}", listed.body);
    assert_eq!(files[0]["key"], key.as_str());
    assert_eq!(files[0]["size"], bytes.len());
    assert_eq!(files[0]["contentType"], "text/plain");
    assert_eq!(files[0]["ownerId"], ada.id.as_str());
    assert!(listed.body["nextCursor"].is_null());
    let item = stored(&api, &app, &key).await.unwrap();
    assert_eq!(item.status, "uploaded");
    assert!(item.etag.is_some_and(|e| !e.is_empty()));

    assert_eq!(download(&api, &app, &ada, &key).await, bytes);
    assert!(audited(&api, "file.upload").await);
}

/// Every file item of the files table (test-only inspection of storage).
async fn file_items(api: &Api) -> usize {
    let out = api
        .store
        .client
        .scan()
        .table_name(&api.store.tables.files)
        .send()
        .await
        .unwrap();
    out.items().len()
}

#[tokio::test]
async fn limits_are_enforced_before_signing() {
    let mut settings = test_settings();
    settings.max_upload_bytes = 150;
    let api = Api::start_with_files(settings).await;
    let app = api.app("shop").await;
    let body = ConfigBody {
        uploads: UploadLimits {
            max_bytes: 200,
            allowed_mime_types: vec!["image/*".into(), "application/pdf".into()],
        },
        ..ConfigBody::default()
    };
    // Written before the first request: an instance reuses an app's config for 30 s.
    ob_core::config::put(&api.store, "shop", body, None)
        .await
        .unwrap();
    let ada = user(&api, &app, "ada", Role::User).await;

    let ok = ask_upload(&api, &app, &ada, "cat.png", "image/png", 150).await;
    ok.expect(StatusCode::OK);
    // Over the stage's cap (150), though under the app's (200).
    let big = ask_upload(&api, &app, &ada, "big.png", "image/png", 151).await;
    let big = big.expect(StatusCode::PAYLOAD_TOO_LARGE);
    assert!(big.body.get("url").is_none() && big.code() == "payload_too_large");
    let kind = ask_upload(&api, &app, &ada, "notes.txt", "text/plain", 10).await;
    let kind = kind.expect(StatusCode::BAD_REQUEST);
    assert_eq!(kind.body["error"]["field"], "fileType");
    assert!(kind.body.get("url").is_none());
    let bad = ask_upload(&api, &app, &ada, "x.png", "image/png; charset=x", 10).await;
    assert_eq!(
        bad.expect(StatusCode::BAD_REQUEST).body["error"]["field"],
        "fileType"
    );
    assert_eq!(
        file_items(&api).await,
        1,
        "only the accepted upload is recorded"
    );
}

#[tokio::test]
async fn unsafe_file_names_are_refused() {
    let api = start().await;
    let app = api.app("shop").await;
    let ada = user(&api, &app, "ada", Role::User).await;
    let long = "x".repeat(256);
    for name in [
        "../x",
        "a/../../b",
        "./a",
        "/abs",
        "a//b",
        "dir/",
        "a\\b",
        "bell\u{7}",
        "nl\nx",
        long.as_str(),
        "",
    ] {
        let reply = ask_upload(&api, &app, &ada, name, "text/plain", 1).await;
        let reply = reply.expect(StatusCode::BAD_REQUEST);
        assert_eq!(reply.body["error"]["field"], "fileName", "{name:?}");
        assert!(reply.body.get("url").is_none());
    }
    assert_eq!(file_items(&api).await, 0);
    // A key that climbs out of the app is refused as a key, before any lookup.
    for key in ["shop/../other/u/x", "shop/u/../../other/x"] {
        let reply = download_url(&api, &app, &ada, key).await;
        assert_eq!(
            reply.expect(StatusCode::BAD_REQUEST).body["error"]["field"],
            "key"
        );
    }
}

#[tokio::test]
async fn expired_pending_uploads_are_dropped() {
    let api = start().await;
    let app = api.app("shop").await;
    let ada = user(&api, &app, "ada", Role::User).await;
    let pending = |name: &str, expires: i64| FileItem {
        key: format!("shop/{}/{name}", ada.id),
        owner_id: ada.id.clone(),
        status: "pending".into(),
        size: 3,
        content_type: "text/plain".into(),
        etag: None,
        last_modified: "2026-01-01T00:00:00.000Z".into(),
        upload_expires_at: expires,
        previous_etag: None,
    };
    let now = ob_core::clock::now_epoch();
    let expired = pending("never.txt", now - 60);
    let waiting = pending("later.txt", now + 3600);
    let writer = ob_core::standing::Writer {
        standing: ob_core::standing::Standing {
            app_id: "shop".into(),
            key_id: app.key_id.clone(),
            user: Some((ada.id.clone(), ob_core::clock::now_millis())),
        },
        origin: Default::default(),
        audit_retention_days: 30,
    };
    for item in [&expired, &waiting] {
        ob_core::files::store::put_pending(&api.store, &writer, "shop", item)
            .await
            .unwrap();
    }
    let listed = list(&api, &app, &ada, "").await.expect(StatusCode::OK);
    assert!(keys(&listed).is_empty());
    assert!(
        stored(&api, &app, &expired.key).await.is_none(),
        "expired upload dropped"
    );
    assert_eq!(
        stored(&api, &app, &waiting.key).await.unwrap().status,
        "pending"
    );
}

#[tokio::test]
async fn a_reupload_is_pending_until_the_new_bytes_arrive() {
    let api = start().await;
    let app = api.app("shop").await;
    let ada = user(&api, &app, "ada", Role::User).await;
    let key = upload(&api, &app, &ada, "note.txt", "text/plain", b"old").await;
    list(&api, &app, &ada, "").await.expect(StatusCode::OK);
    let old_etag = stored(&api, &app, &key).await.unwrap().etag;

    ask_upload(&api, &app, &ada, "note.txt", "text/plain", 9)
        .await
        .expect(StatusCode::OK);
    // The old object is still there, but it is not the upload now pending.
    assert!(keys(&list(&api, &app, &ada, "").await.expect(StatusCode::OK)).is_empty());
    let pending = stored(&api, &app, &key).await.unwrap();
    assert_eq!(
        (pending.status.as_str(), pending.previous_etag),
        ("pending", old_etag)
    );

    upload(&api, &app, &ada, "note.txt", "text/plain", b"new bytes").await;
    let listed = list(&api, &app, &ada, "").await.expect(StatusCode::OK);
    assert_eq!(listed.body["files"][0]["size"], 9, "{}", listed.body);
    assert_eq!(download(&api, &app, &ada, &key).await, b"new bytes");
}
