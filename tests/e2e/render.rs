//! `obctl render`: snapshots of every stage, determinism, and its errors.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use obctl::project::Project;
use obctl::{render, stage};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

pub fn project() -> Project {
    Project::at(&workspace_root())
}

pub fn rendered(stage_name: &str) -> serde_yaml::Value {
    let project = project();
    let stage = stage::load(&project, stage_name).expect("stage loads");
    render::render(&project, &stage)
        .expect("renders")
        .value()
        .clone()
}

#[test]
fn every_stage_renders_and_matches_its_snapshot() {
    let project = project();
    let stages = project.stages();
    assert!(
        stages.len() >= 3,
        "expected local, dev and prod at least: {stages:?}"
    );
    for name in stages {
        let stage = stage::load(&project, &name).expect("stage loads");
        let template = render::render(&project, &stage).expect("renders");
        insta::assert_snapshot!(format!("render_{name}"), template.to_yaml());
    }
}

#[test]
fn rendering_is_byte_identical_and_json_matches_yaml() {
    let project = project();
    let stage = stage::load(&project, "prod").expect("stage loads");
    let first = render::render(&project, &stage).expect("renders");
    let second = render::render(&project, &stage).expect("renders");
    assert_eq!(first.to_yaml(), second.to_yaml());
    assert_eq!(first.to_json(), second.to_json());
    let from_json: serde_yaml::Value = serde_json::from_str(&first.to_json()).expect("json parses");
    let from_yaml: serde_yaml::Value = serde_yaml::from_str(&first.to_yaml()).expect("yaml parses");
    assert_eq!(from_json, from_yaml);
}

#[test]
fn artifact_keys_and_signing_key_are_parameters_without_defaults() {
    let template = rendered("prod");
    let params = template["Parameters"].as_mapping().expect("parameters");
    let names: Vec<&str> = params.keys().filter_map(|k| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "ArtifactsBucket",
            "PermissionsBoundaryArn",
            "SigningKeySecretArn",
            "AuthCodeKey",
            "DataCodeKey",
            "FilesCodeKey",
            "AdminCodeKey",
            "RealtimeCodeKey",
            "NotifyCodeKey",
            "WebhooksCodeKey"
        ]
    );
    for (name, param) in params {
        assert!(param.get("Default").is_none(), "{name:?} has a default");
    }
}

#[test]
fn alarm_email_subscription_only_when_the_stage_names_one() {
    let prod = rendered("prod");
    let local = rendered("local");
    let sub = &prod["Resources"]["AlarmEmailSubscription"];
    assert_eq!(sub["Properties"]["Endpoint"], "ops@example.com");
    assert!(local["Resources"].get("AlarmEmailSubscription").is_none());
    assert!(local["Resources"].get("AlarmTopic").is_some());
}

#[test]
fn unknown_stage_names_the_file_and_lists_the_stages() {
    let err = stage::load(&project(), "bogus").expect_err("no such stage");
    assert_eq!(
        err.to_string(),
        "error: unknown stage \"bogus\": stacks/bogus.yaml does not exist\n  \
         fix: use one of the stages in stacks/: dev, local, prod, or create stacks/bogus.yaml \
         (copy stacks/dev.yaml and edit it)"
            .replace(
                "stacks/bogus.yaml does",
                &format!("{} does", stage_path("bogus"))
            )
            .replace(
                "create stacks/bogus.yaml",
                &format!("create {}", stage_path("bogus"))
            )
    );
    let typo = stage::load(&project(), "prd").expect_err("typo");
    assert!(
        typo.to_string().contains("did you mean --stage prod?"),
        "{typo}"
    );
    let invalid = stage::load(&project(), "../prod").expect_err("path");
    assert!(
        invalid.to_string().contains("is not a valid stage name"),
        "{invalid}"
    );
}

fn stage_path(name: &str) -> String {
    obctl::error::display_path(&project().stage_file(name))
}

/// A throw-away project holding a copy of the templates and one edited stage.
fn project_with_stage(name: &str, edit: impl Fn(String) -> String) -> (tempdir::Dir, Project) {
    let dir = tempdir::Dir::new(name);
    let root = workspace_root();
    std::fs::create_dir_all(dir.path().join("stacks")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("templates")).expect("mkdir");
    let dev = std::fs::read_to_string(root.join("stacks/dev.yaml")).expect("dev.yaml");
    std::fs::write(dir.path().join(format!("stacks/{name}.yaml")), edit(dev)).expect("write");
    let project = Project::at(dir.path());
    (dir, project)
}

#[test]
fn typo_in_a_key_names_file_key_line_and_fix() {
    let (_dir, project) = project_with_stage("typo", |dev| {
        dev.replace("pointInTimeRecovery: false", "pointInTimeRecvery: false")
    });
    let err = stage::load(&project, "typo").expect_err("typo rejected");
    let text = err.to_string();
    assert!(text.contains("stacks/typo.yaml"), "{text}");
    assert!(text.contains("unknown key `pointInTimeRecvery`"), "{text}");
    assert!(text.contains("line 36"), "{text}");
    assert!(
        text.contains("allowed keys here: pointInTimeRecovery, deletionProtection"),
        "{text}"
    );
    assert!(
        text.contains("fix: rename `pointInTimeRecvery` to `pointInTimeRecovery`"),
        "{text}"
    );
    assert!(text.lines().count() <= 24, "one screen: {text}");
}

#[test]
fn wrong_types_missing_keys_and_bad_values_are_explained() {
    let (_d1, p1) = project_with_stage("arch", |dev| {
        dev.replace("architecture: arm64", "architecture: arm")
    });
    let arch = stage::load(&p1, "arch").expect_err("bad enum").to_string();
    assert!(arch.contains("key `lambda.architecture`"), "{arch}");
    assert!(arch.contains("use one of: arm64, x86_64"), "{arch}");

    let (_d2, p2) = project_with_stage("missing", |dev| dev.replace("  bcryptCost: 10\n", ""));
    let missing = stage::load(&p2, "missing")
        .expect_err("missing")
        .to_string();
    assert!(
        missing.contains("required key `bcryptCost` is missing"),
        "{missing}"
    );

    let (_d3, p3) = project_with_stage("values", |dev| {
        dev.replace("logRetentionDays: 14", "logRetentionDays: 10")
            .replace("timeoutSeconds: 10", "timeoutSeconds: 45")
            .replace("- https://dev.example.com", "- https://dev.example.com/")
    });
    let values = stage::load(&p3, "values").expect_err("values").to_string();
    assert!(values.contains("has 8 invalid settings"), "{values}");
    assert!(
        values.contains(
            "lambda.functions.notify.timeoutSeconds: 45 s is above 30 s: NotifyQueue hides a received message for 180 s"
        ),
        "{values}"
    );
    assert!(
        values.contains("lambda.logRetentionDays: 10 is not a retention CloudWatch Logs accepts"),
        "{values}"
    );
    assert!(
        values.contains("lambda.functions.data.timeoutSeconds: 45 s is outside 1-29 s"),
        "{values}"
    );
    assert!(values.contains("cors.allowedOrigins[2]"), "{values}");
}

/// Minimal self-cleaning temporary folder (avoids a dependency for one use).
mod tempdir {
    use std::path::{Path, PathBuf};

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new(label: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "obctl-test-{label}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).expect("create temp dir");
            Self(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[test]
fn only_the_local_stage_may_hash_passwords_cheaply() {
    let (_dir, cheap) = project_with_stage("cheap", |dev| {
        dev.replace("bcryptCost: 10", "bcryptCost: 4")
    });
    let err = stage::load(&cheap, "cheap")
        .expect_err("cost 4")
        .to_string();
    assert!(err.contains("auth.bcryptCost: 4 is below 10"), "{err}");
    // The emulator's stage keeps its fast hashing.
    let local = stage::load(&project(), "local").unwrap();
    assert!(local.config.auth.bcrypt_cost < 10);
}
