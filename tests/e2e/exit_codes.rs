//! `obctl`'s exit codes: each means one thing, and the README's table lists them all.

#![allow(clippy::unwrap_used)]

use obctl::error::exit;

use crate::render::workspace_root;

fn run(args: &[&str]) -> u8 {
    obctl::run(
        std::iter::once("obctl")
            .chain(args.iter().copied())
            .map(Into::into),
    )
}

#[test]
fn usage_errors_never_read_as_changes_pending() {
    for args in [
        &["diff", "--stage", "local", "--no-such-flag"][..],
        &["diff"][..],
        &["keys", "create", "--stage", "local"][..],
        &["frobnicate"][..],
    ] {
        let code = run(args);
        assert_eq!(code, exit::USAGE, "{args:?}");
        assert_ne!(code, exit::CHANGES, "{args:?}");
    }
    assert_eq!(run(&["--help"]), exit::OK);
}

#[test]
fn every_code_is_distinct_and_in_the_readme_table() {
    let mut codes: Vec<u8> = exit::ALL.iter().map(|(c, _)| *c).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), exit::ALL.len(), "each code means one thing");
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    for (code, _) in exit::ALL {
        assert!(
            readme.contains(&format!("\n| {code} | ")),
            "README's exit-code table lacks {code}"
        );
    }
}
