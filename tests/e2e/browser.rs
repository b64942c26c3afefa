//! The example page in headless Chromium against `obctl dev` as `make dev` runs it (every function
//! its own process behind the local HTTP and WebSocket APIs), the page on another origin than the
//! API: sign-up, settings, records, a presigned upload and download, live changes across tabs, a
//! refused token refreshed once, and the WebSocket reconnecting with a fresh token after a restart.
//!
//! The page is served by `obctl dev` at `http://localhost:PORT/_dev/example/` and calls the API at
//! `http://127.0.0.1:PORT`: another host, so another origin, and every call is a real CORS
//! request whose preflight goes through the local gateway to the function that owns the route;
//! the page's origin is the app's own (`obctl apps create --origin`), not the stage's. The
//! presigned PUT goes to the emulator's S3, a third origin, under the bucket CORS of the deployed
//! template.

use ob_tests::emulator::{Emulator, emulator};
use ob_tests::obctl::{Run, obctl};
use ob_tests::webdriver::{Binaries, Browser};
use serde_json::{Value, json};

use crate::admin::fake_artifacts;
use crate::local_backend::{DevServer, start_dev_at};

/// `local`, the emulator's stage (only it may hash passwords as cheaply as tests want).
const STAGE: &str = "local";

/// Chromium and chromedriver, or `None` when `make test` could not install them and said so
/// (`OB_BROWSER_SKIP` carries its reason). Anywhere else a missing browser fails the test.
fn binaries_or_skip() -> Option<Binaries> {
    match Binaries::find() {
        Ok(found) => Some(found),
        Err(missing) => match std::env::var("OB_BROWSER_SKIP") {
            Ok(reason) if !reason.trim().is_empty() => {
                eprintln!("SKIPPED: the browser test did not run ({missing}): {reason}");
                None
            }
            _ => panic!(
                "the browser test needs Chromium and chromedriver: {missing}\n\
                 fix: run `make test`, which installs them (Debian: apt-get install chromium \
                 chromium-driver), or set OB_BROWSER_SKIP=<reason> to skip it knowingly"
            ),
        },
    }
}

fn ok(run: &Run) -> String {
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    run.stdout.trim().to_owned()
}

/// Deploys the stage, makes app `web` with the page's origin as its own and a key, and sets the
/// app's theme; returns the key.
fn backend(emu: &Emulator, page_origin: &str) -> String {
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--stage", STAGE]);
        ok(&obctl(emu, &all))
    };
    run(&["bootstrap"]);
    let artifacts = fake_artifacts("browser");
    run(&[
        "deploy",
        "--yes",
        "--artifacts",
        &artifacts.to_string_lossy(),
    ]);
    run(&[
        "apps",
        "create",
        "--id",
        "web",
        "--name",
        "Web",
        "--origin",
        page_origin,
    ]);
    run(&["config", "set", "--app", "web", "settings.theme=dark"]);
    // What a browser key should hold: everything the page calls, and not config:write.
    let scopes = "auth,config:read,data:read,data:write,files:read,files:write,realtime";
    run(&[
        "keys", "create", "--app", "web", "--name", "browser", "--scopes", scopes, "-q",
    ])
}

/// Chromium's view of the shared session slot of the helper (`one-backend:web:session`).
async fn session(browser: &Browser) -> Value {
    browser
        .run(
            "return JSON.parse(localStorage.getItem(ob.slot));",
            json!([]),
        )
        .await
}

async fn text_of(browser: &Browser, id: &str) -> String {
    browser
        .run(
            "return document.getElementById(arguments[0]).textContent;",
            json!([id]),
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn wait_text(browser: &Browser, what: &str, id: &str, needle: &str) {
    let script = format!(
        "return document.getElementById({}).textContent.includes({});",
        json!(id),
        json!(needle)
    );
    browser.wait_for(what, &script).await;
}

async fn add_note(browser: &Browser, text: &str) {
    browser.type_into("#note-text", text).await;
    browser.click("#note-add").await;
    wait_text(browser, "the note in the list", "note-list", text).await;
}

/// Replaces the stored access token by one the API refuses, its expiry left in the future, so
/// only a 401 (not the clock) can tell the helper to refresh.
async fn spoil_access_token(browser: &Browser) {
    browser
        .run(
            "const s = JSON.parse(localStorage.getItem(ob.slot));\
             s.accessToken = 'spoiled.' + s.accessToken;\
             localStorage.setItem(ob.slot, JSON.stringify(s));",
            json!([]),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn example_page_in_headless_chromium() {
    let Some(binaries) = binaries_or_skip() else {
        return;
    };
    let emu = emulator().await;
    let port = ob_tests::free_port();
    let page_origin = format!("http://localhost:{port}");
    let key = backend(&emu, &page_origin);
    let dev_args = ["--stage", STAGE];
    let dev: DevServer = start_dev_at(&emu, port, &dev_args);
    let page = format!("{page_origin}/_dev/example/?api=http://127.0.0.1:{port}&app=web&key={key}");

    let browser = Browser::start(&binaries).await;
    browser.goto(&page).await;
    let origin = browser.run("return location.origin;", json!([])).await;
    assert_eq!(origin, json!(page_origin), "the page is on its own origin");

    // Register: the helper keeps the tokens; signed in, the config carries the app's settings.
    browser.type_into("#email", "ada@example.com").await;
    browser
        .type_into("#password", "correct horse battery")
        .await;
    browser.click("#register").await;
    let user_id = browser
        .wait_for(
            "signed in",
            "return document.getElementById('whoami').dataset.userId || null;",
        )
        .await;
    let user_id = user_id.as_str().expect("a user id").to_owned();
    wait_text(&browser, "the theme from settings", "theme", "dark").await;
    let theme = browser
        .run("return document.body.dataset.theme;", json!([]))
        .await;
    assert_eq!(theme, "dark");
    wait_text(&browser, "the WebSocket open", "live-status", "open").await;
    add_note(&browser, "first note").await;
    // Chromium's preflights and the socket went through the local gateway to the functions.
    dev.line(&["auth     OPTIONS /auth/register (ANY /auth/{proxy+})"]);
    dev.line(&["data     OPTIONS /api/web/notes (ANY /api/{appId}/{resource})"]);
    dev.line(&["admin    GET /config/web (ANY /config/{appId})"]);
    dev.line(&["realtime ws $connect", "200"]);

    // A second tab of the same origin shares the session, lists the note and goes live.
    let tab_a = browser.tab().await;
    let tab_b = browser.new_tab().await;
    browser.goto(&page).await;
    wait_text(&browser, "tab B signed in", "whoami", "ada@example.com").await;
    wait_text(&browser, "tab B listing", "note-list", "first note").await;
    wait_text(&browser, "tab B live", "live-status", "open").await;
    browser.switch_to(&tab_a).await;
    add_note(&browser, "from tab A").await;
    browser.switch_to(&tab_b).await;
    wait_text(
        &browser,
        "the change pushed to tab B",
        "live-log",
        "created from tab A",
    )
    .await;
    wait_text(
        &browser,
        "tab B's list updated live",
        "note-list",
        "from tab A",
    )
    .await;

    // A file straight to S3 through a presigned PUT from the page's origin, and back.
    let content = format!("bytes from Chromium, {user_id}");
    let file = std::env::temp_dir().join(format!("ob-browser-{port}.txt"));
    std::fs::write(&file, &content).expect("file");
    browser
        .type_into("#file-input", file.to_str().expect("path"))
        .await;
    browser.click("#file-upload").await;
    let uploaded = browser
        .wait_for(
            "the upload",
            "return document.getElementById('file-key').textContent || null;",
        )
        .await;
    assert_eq!(
        uploaded,
        json!(format!("web/{user_id}/example/ob-browser-{port}.txt"))
    );
    browser.click("#file-download").await;
    wait_text(&browser, "the downloaded bytes", "file-content", &content).await;
    assert_eq!(text_of(&browser, "file-content").await, content);
    dev.line(&["files    OPTIONS /files/web/upload-url (ANY /files/{appId}/{proxy+})"]);

    // A refused access token is refreshed once (rotating the refresh token) and the call retried.
    let before = session(&browser).await;
    spoil_access_token(&browser).await;
    add_note(&browser, "after a refresh").await;
    let after = session(&browser).await;
    assert_ne!(after["refreshToken"], before["refreshToken"], "rotated");
    assert!(
        !after["accessToken"]
            .as_str()
            .unwrap_or("spoiled.")
            .starts_with("spoiled.")
    );

    // Both tabs have the token they hold refused and refresh at the same moment (timers on one
    // whole second, the granularity of a background tab's): they take turns, so their refresh
    // calls never overlap; the one that waited takes the stored result, or (its tab having read
    // a stale copy of localStorage) gets the same successor from the server's reuse grace.
    // Without the turns both calls are in flight at once.
    const TIME_REFRESHES: &str = "const send = window.fetch; window.refreshes = [];\
         window.fetch = async (url, init) => {\
           if (!String(url).endsWith('/auth/refresh')) return send(url, init);\
           const call = { start: Date.now() }; window.refreshes.push(call);\
           try { return await send(url, init); } finally { call.end = Date.now(); }\
         };";
    for tab in [&tab_a, &tab_b] {
        browser.switch_to(tab).await;
        browser.run(TIME_REFRESHES, json!([])).await;
    }
    let start = browser
        .run(
            "return Math.ceil(Date.now() / 1000) * 1000 + 1000;",
            json!([]),
        )
        .await;
    for tab in [&tab_a, &tab_b] {
        browser.switch_to(tab).await;
        browser
            .run(
                "const refused = ob.session.accessToken;\
                 setTimeout(() => { ob.accessToken(refused)\
                   .then((t) => { window.raced = t; }, (e) => { window.raced = 'failed: ' + e.message; }); },\
                   arguments[0] - Date.now());",
                json!([start]),
            )
            .await;
    }
    let mut raced = Vec::new();
    for tab in [&tab_a, &tab_b] {
        browser.switch_to(tab).await;
        raced.push(
            browser
                .wait_for("the refresh race", "return window.raced ?? null;")
                .await,
        );
    }
    assert!(
        !raced[0].as_str().unwrap_or("failed").starts_with("failed"),
        "{raced:?}"
    );
    assert_eq!(raced[0], raced[1], "both tabs hold the one new token");
    let mut calls = Vec::new();
    for tab in [&tab_a, &tab_b] {
        browser.switch_to(tab).await;
        let timed = browser.run("return window.refreshes;", json!([])).await;
        calls.push(timed.as_array().cloned().unwrap_or_default());
    }
    assert!(
        !calls[0].is_empty() || !calls[1].is_empty(),
        "a refresh was made"
    );
    for a in &calls[0] {
        for b in &calls[1] {
            let (a_start, a_end) = (a["start"].as_i64(), a["end"].as_i64());
            let (b_start, b_end) = (b["start"].as_i64(), b["end"].as_i64());
            assert!(
                a_end <= b_start || b_end <= a_start,
                "the tabs refreshed at the same time: {calls:?}"
            );
        }
    }
    add_note(&browser, "after the race").await;

    // The server restarts while both tabs hold a spoiled token: each socket's reconnect is
    // refused once, then made with a refreshed token (the tabs take turns, so the single-use
    // refresh token is never presented twice, which would sign the user out).
    drop(dev);
    spoil_access_token(&browser).await;
    let _dev = start_dev_at(&emu, port, &dev_args);
    for tab in [&tab_a, &tab_b] {
        browser.switch_to(tab).await;
        browser
            .wait_for(
                "the WebSocket back open",
                "return document.getElementById('live-status').textContent === 'open';",
            )
            .await;
    }
    browser.switch_to(&tab_a).await;
    add_note(&browser, "after the restart").await;
    browser.switch_to(&tab_b).await;
    wait_text(
        &browser,
        "a push after the restart",
        "live-log",
        "created after the restart",
    )
    .await;
    for tab in [&tab_a, &tab_b] {
        browser.switch_to(tab).await;
        assert_eq!(text_of(&browser, "errors").await, "", "no errors shown");
        wait_text(&browser, "still signed in", "whoami", "ada@example.com").await;
    }
    let _ = std::fs::remove_file(file);
}
