//! `obctl bootstrap/build/diff/deploy/outputs/destroy` end to end against the
//! emulator, through the real binary: exit codes, uploads, no-op deploys, a
//! code-only change, and the guard rails an operator relies on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ob_tests::emulator;
use ob_tests::obctl::{Run, obctl};

fn ok(run: &Run) {
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
}

fn scratch(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("obctl-deploy-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn zips(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("zips")
        .map(|e| {
            let e = e.expect("entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("zip"),
            )
        })
        .collect()
}

/// A copy of `from` in which only the auth function's binary differs by one byte.
fn with_changed_auth(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("dir");
    for (name, bytes) in zips(from) {
        if !name.starts_with("auth-") {
            std::fs::write(to.join(&name), bytes).expect("copy");
        }
    }
    let built = ob_tests::emulator::workspace_root().join("target/debug/ob-auth");
    let mut binary = std::fs::read(&built).expect("auth binary");
    binary.push(0); // still a valid ELF: trailing bytes are ignored by the loader
    let patched = to.join("bootstrap-auth");
    std::fs::write(&patched, binary).expect("write");
    let cache = obctl::build::cache::ZipCache::at(to.join("cache"));
    let packing = obctl::build::Packing {
        arch: obctl::stage::Architecture::X86_64,
        compression: obctl::build::zip::Compression::Fast,
        cache: &cache,
    };
    obctl::build::package("auth", &patched, &packing, to).expect("package");
    std::fs::remove_dir_all(to.join("cache")).expect("cleanup");
    std::fs::remove_file(patched).expect("cleanup");
}

async fn stack_parameters(emu: &ob_tests::Emulator) -> BTreeMap<String, String> {
    let cfn = aws_sdk_cloudformation::Client::new(&emu.sdk_config().await);
    let stack = cfn
        .describe_stacks()
        .stack_name("one-backend-local")
        .send()
        .await
        .expect("stack");
    stack.stacks()[0]
        .parameters()
        .iter()
        .map(|p| {
            (
                p.parameter_key().unwrap_or_default().to_owned(),
                p.parameter_value().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_lifecycle_on_the_emulator() {
    let emu = emulator().await;

    // Deploying before bootstrapping names the fix.
    let early = obctl(&emu, &["deploy", "--stage", "local", "--yes"]);
    assert_eq!(early.code, 1);
    assert!(
        early.stderr.contains("run `obctl bootstrap --stage local`"),
        "{}",
        early.stderr
    );

    // Bootstrap is idempotent.
    let first = obctl(&emu, &["bootstrap", "--stage", "local", "--output", "json"]);
    ok(&first);
    // The artifacts bucket, the roles' boundary, the execution role, the signing key
    // and the SES sender identity.
    assert_eq!(first.json()["created"].as_array().map(Vec::len), Some(5));
    assert!(
        first.json()["created"][4]
            .as_str()
            .is_some_and(|c| c.starts_with("SES identity no-reply@localhost.example")),
        "{}",
        first.stdout
    );
    let again = obctl(&emu, &["bootstrap", "--stage", "local", "--output", "json"]);
    ok(&again);
    assert_eq!(again.json()["created"], serde_json::json!([]));

    // Two builds of the same source give byte-identical zips named by their hash.
    let (a, b) = (scratch("a"), scratch("b"));
    let a_arg = a.to_string_lossy().into_owned();
    ok(&obctl(
        &emu,
        &["build", "--stage", "local", "--out-dir", &a_arg],
    ));
    let second = obctl(
        &emu,
        &[
            "build",
            "--stage",
            "local",
            "--out-dir",
            &b.to_string_lossy(),
            "--output",
            "json",
        ],
    );
    ok(&second);
    // The binaries did not change in between: no function is deflated again.
    let reused: Vec<bool> = second.json()["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .map(|a| a["reused"] == true)
        .collect();
    assert_eq!(
        reused,
        vec![true; ob_core::functions::ALL.len()],
        "{}",
        second.stdout
    );
    let built = zips(&a);
    assert_eq!(
        built.len(),
        ob_core::functions::ALL.len(),
        "one zip per function: {:?}",
        built.keys()
    );
    assert_eq!(built, zips(&b), "builds are reproducible");
    for (name, bytes) in &built {
        let hash = obctl::build::zip::sha256_hex(bytes);
        assert!(
            name.ends_with(&format!("-{hash}.zip")),
            "{name} is named by its SHA-256"
        );
    }

    // Diff before the first deploy: changes (exit 2), and it leaves no stack behind.
    let diff = obctl(
        &emu,
        &[
            "diff",
            "--stage",
            "local",
            "--artifacts",
            &a_arg,
            "--output",
            "json",
        ],
    );
    assert_eq!(diff.code, 2, "{}", diff.stderr);
    assert_eq!(diff.json()["changeSetType"], "CREATE");
    let status = obctl(&emu, &["status", "--stage", "local"]);
    assert_eq!(status.code, 1);
    assert!(
        status.stderr.contains("is not deployed"),
        "{}",
        status.stderr
    );

    // Without a terminal and without --yes, nothing is executed.
    let unconfirmed = obctl(&emu, &["deploy", "--stage", "local", "--artifacts", &a_arg]);
    assert_eq!(unconfirmed.code, 1);
    assert!(
        unconfirmed.stderr.contains("pass --yes"),
        "{}",
        unconfirmed.stderr
    );

    // First deploy: the zips are in the bucket (the cancelled deploy above uploaded
    // them before asking), so it reuses them, creates the stack, prints the outputs.
    let deployed = obctl(
        &emu,
        &[
            "deploy",
            "--stage",
            "local",
            "--yes",
            "--artifacts",
            &a_arg,
            "--output",
            "json",
        ],
    );
    ok(&deployed);
    let report = deployed.json();
    assert_eq!(report["outcome"]["finalStatus"], "CREATE_COMPLETE");
    assert_eq!(report["reused"], ob_core::functions::ALL.len(), "{report}");
    let outputs = obctl(&emu, &["outputs", "--stage", "local", "--output", "json"]).json();
    for table in ob_core::tables::ALL {
        assert!(
            outputs[table.output].is_string(),
            "output {} in {outputs}",
            table.output
        );
    }
    for queue in ob_core::queues::ALL {
        assert!(
            outputs[queue.output].is_string(),
            "output {} in {outputs}",
            queue.output
        );
    }
    // The local emulator stands for an account out of the SES sandbox whose
    // sender is verified: no warnings.
    assert_eq!(
        report["summary"]["warnings"],
        serde_json::json!([]),
        "{report}"
    );
    let tables = aws_sdk_dynamodb::Client::new(&emu.sdk_config().await)
        .list_tables()
        .send()
        .await
        .expect("tables");
    assert_eq!(tables.table_names().len(), ob_core::tables::ALL.len());

    crate::local_backend::make_dev_promise(&emu).await;

    // The same deploy again: nothing uploaded, nothing executed, "no changes".
    let noop = obctl(
        &emu,
        &["deploy", "--stage", "local", "--yes", "--artifacts", &a_arg],
    );
    ok(&noop);
    let reused = format!(
        "uploads: 0 new, {} already in the bucket",
        ob_core::functions::ALL.len()
    );
    assert!(noop.stdout.contains(&reused), "{}", noop.stdout);
    assert!(noop.stdout.contains("no changes"), "{}", noop.stdout);
    assert_eq!(
        obctl(&emu, &["diff", "--stage", "local", "--artifacts", &a_arg]).code,
        0
    );

    // A code-only change: exactly that function's code key changes.
    let c = scratch("c");
    with_changed_auth(&a, &c);
    let c_arg = c.to_string_lossy().into_owned();
    let diff = obctl(
        &emu,
        &[
            "diff",
            "--stage",
            "local",
            "--artifacts",
            &c_arg,
            "--output",
            "json",
        ],
    );
    assert_eq!(diff.code, 2, "{}", diff.stderr);
    let diff_json = diff.json();
    let functions: Vec<&str> = diff_json["codeChanges"]
        .as_array()
        .expect("codeChanges")
        .iter()
        .filter_map(|c| c["function"].as_str())
        .collect();
    assert_eq!(functions, ["auth"]);
    let before = stack_parameters(&emu).await;
    let update = obctl(
        &emu,
        &[
            "deploy",
            "--stage",
            "local",
            "--yes",
            "--artifacts",
            &c_arg,
            "--output",
            "json",
        ],
    );
    ok(&update);
    assert_eq!(
        update.json()["uploaded"],
        1,
        "only the new auth zip is uploaded"
    );
    let after = stack_parameters(&emu).await;
    let changed: Vec<&String> = after
        .keys()
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert_eq!(changed, ["AuthCodeKey"]);

    // Destroy: the stack goes, the tables stay and are listed.
    let refused = obctl(&emu, &["destroy", "--stage", "local"]);
    assert_eq!(refused.code, 1, "no terminal, no --yes: refused");
    let destroyed = obctl(
        &emu,
        &["destroy", "--stage", "local", "--yes", "--output", "json"],
    );
    ok(&destroyed);
    let retained = destroyed.json()["retained"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    assert_eq!(
        retained,
        ob_core::tables::ALL.len() + 1,
        "tables and the files bucket"
    );
    assert_eq!(obctl(&emu, &["status", "--stage", "local"]).code, 1);
    for dir in [a, b, c] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[tokio::test]
async fn aws_errors_name_the_cause_and_the_fix() {
    let emu = emulator().await;
    let unreachable = obctl(
        &emu,
        &[
            "status",
            "--stage",
            "local",
            "--endpoint-url",
            "http://127.0.0.1:9",
        ],
    );
    assert_eq!(unreachable.code, 1);
    assert!(
        unreachable.stderr.contains("cannot reach AWS"),
        "{}",
        unreachable.stderr
    );
    assert!(
        unreachable.stderr.contains("--endpoint-url"),
        "{}",
        unreachable.stderr
    );
    assert!(
        !unreachable.stderr.contains("DispatchFailure"),
        "no SDK debug dump: {}",
        unreachable.stderr
    );
    let bogus = obctl(&emu, &["deploy", "--stage", "bogus", "--yes"]);
    assert_eq!(bogus.code, 1);
    assert!(
        bogus.stderr.contains("unknown stage \"bogus\""),
        "{}",
        bogus.stderr
    );
}
