//! Runs cargo for the Lambda target and finds the function executables it produced.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::CliError;
use crate::stage::Architecture;

/// How the binaries get built for the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The host is the target: a plain `cargo build` (reuses the workspace build).
    Host,
    /// `cargo zigbuild`, which also pins glibc to AL2023's version.
    Zigbuild { target: String },
    /// `cargo build --target`, with the target's std and linker installed.
    Cross { target: String },
}

pub fn rust_target(arch: Architecture) -> &'static str {
    match arch {
        Architecture::Arm64 => "aarch64-unknown-linux-gnu",
        Architecture::X86_64 => "x86_64-unknown-linux-gnu",
    }
}

fn host_arch() -> Option<Architecture> {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => Some(Architecture::X86_64),
        ("linux", "aarch64") => Some(Architecture::Arm64),
        _ => None,
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Picks a backend for `arch`, or explains exactly what to install.
pub fn choose_backend(arch: Architecture) -> Result<Backend, CliError> {
    if host_arch() == Some(arch) {
        return Ok(Backend::Host);
    }
    let target = rust_target(arch).to_owned();
    if on_path("cargo-zigbuild") && on_path("zig") {
        return Ok(Backend::Zigbuild { target });
    }
    let std_installed = Command::new("rustc")
        .args(["--print", "target-libdir", "--target", &target])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        .and_then(|dir| std::fs::read_dir(dir).ok())
        .is_some_and(|mut entries| {
            entries.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libstd-")))
        });
    let linker_var = format!(
        "CARGO_TARGET_{}_LINKER",
        target.to_uppercase().replace('-', "_")
    );
    let gcc = format!(
        "{}-linux-gnu-gcc",
        target.split('-').next().unwrap_or_default()
    );
    let linker = std::env::var_os(&linker_var).is_some() || on_path(&gcc);
    if std_installed && linker {
        return Ok(Backend::Cross { target });
    }
    let mut err = CliError::new(format!(
        "cannot build {} Lambda binaries on this {} machine",
        arch.as_str(),
        std::env::consts::ARCH
    ));
    if !std_installed {
        err = err.detail(format!(
            "the Rust standard library for {target} is not installed"
        ));
    }
    if !linker {
        err = err.detail(format!(
            "no linker for {target}: neither {linker_var} nor {gcc} is set up"
        ));
    }
    Err(err.fix(format!(
        "either install cargo-zigbuild (`cargo install cargo-zigbuild` and `pip install ziglang`), \
         which obctl then uses; or `rustup target add {target}` plus `apt-get install gcc-{}-linux-gnu`; \
         or build for this machine with --arch {}",
        target.split('-').next().unwrap_or_default().replace('_', "-"),
        host_arch().map_or("x86_64", Architecture::as_str)
    )))
}

/// Builds the function binaries; returns (binary name, executable path) pairs.
pub fn build(
    root: &Path,
    backend: &Backend,
    profile: &str,
    packages: &[String],
) -> Result<Vec<(String, PathBuf)>, CliError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(root);
    match backend {
        Backend::Host => command.arg("build"),
        Backend::Cross { target } => command.args(["build", "--target", target]),
        // `<target>.2.34` makes zig link against AL2023's glibc.
        Backend::Zigbuild { target } => {
            command.args(["zigbuild", "--target", &format!("{target}.2.34")])
        }
    };
    if profile == "dev" && *backend == Backend::Host {
        // Exactly `make build`'s selection (same packages, targets and features),
        // so after it a dev build compiles nothing and only lists the executables.
        command.args(["--workspace", "--all-targets"]);
    } else if profile == "dev" {
        command.args(["--workspace", "--bins"]);
    } else {
        // Optimised builds compile only the functions, not obctl and its SDK set.
        for package in packages {
            command.args(["-p", package]);
        }
    }
    command
        .args(["--locked", "--profile", profile])
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if profile == "release" {
        // Paths of this checkout must not leak into the binary, or two checkouts
        // of the same commit would give different zips.
        command.env(
            "CARGO_ENCODED_RUSTFLAGS",
            format!("--remap-path-prefix={}=/build", root.display()),
        );
    }
    let output = command.output().map_err(|err| {
        CliError::new(format!("could not run cargo: {err}")).fix("install Rust with rustup")
    })?;
    if !output.status.success() {
        return Err(CliError::new(
            "cargo build of the Lambda functions failed (compiler output above)",
        )
        .fix("fix the build errors and run the command again"));
    }
    let mut binaries = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        // `--all-targets` also lists each binary's unit-test harness under the same name.
        if message["reason"] != "compiler-artifact" || message["profile"]["test"] == true {
            continue;
        }
        let (Some(id), Some(exe)) = (
            message["package_id"].as_str(),
            message["executable"].as_str(),
        ) else {
            continue;
        };
        let name = message["target"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if id.contains("/functions/") {
            binaries.push((name, PathBuf::from(exe)));
        }
    }
    Ok(binaries)
}

#[cfg(test)]
mod tests {
    /// The settings the release zips' sizes and behaviour rest on (`make bench` prints the sizes).
    #[test]
    fn the_release_profile_stays_size_tuned_and_keeps_unwinding() {
        let manifest = include_str!("../../../Cargo.toml");
        let release = manifest
            .split("\n[profile.release]\n")
            .nth(1)
            .and_then(|rest| rest.split("\n[").next())
            .expect("Cargo.toml has a [profile.release]");
        let settings: Vec<&str> = release
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .collect();
        assert_eq!(
            settings,
            [
                "opt-level = \"z\"",
                "lto = true",
                "codegen-units = 1",
                "strip = true"
            ],
            "the release profile changed: measure the zips (`BENCH_PROFILE=release make bench`) and update this test; \
             never `panic = \"abort\"`, which ends a Lambda instance on a handler panic"
        );
    }
}
