//! The README's copy-paste client is the helper the browser test runs, byte for byte.

use ob_tests::emulator::workspace_root;

#[test]
fn readme_prints_the_tested_helper() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let helper = std::fs::read_to_string(root.join("tests/browser/example/one-backend.js"))
        .expect("one-backend.js");
    let begin = "<!-- BEGIN one-backend.js -->\n```js\n";
    let start = readme
        .find(begin)
        .expect("the README marks the helper's block")
        + begin.len();
    let end = start
        + readme[start..]
            .find("```\n<!-- END one-backend.js -->")
            .expect("the block ends");
    assert!(
        readme[start..end] == helper,
        "README.md's client code differs from tests/browser/example/one-backend.js: copy the file into the block"
    );
}
