//! `obctl build`: each Lambda handler as a reproducible zip named by its SHA-256.

pub mod cache;
mod cargo;
pub mod elf;
pub mod zip;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{CliError, Result, display_path};
use crate::project::Project;
use ob_core::functions::{self, FunctionDef};

use crate::stage::{Architecture, BuildProfile};
use cache::ZipCache;
use zip::Compression;

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildPlan {
    pub arch: Architecture,
    /// Cargo profile: `release` (size-tuned) or `dev` (fast, for tests and local stages).
    pub profile: String,
    /// Where the zips go; it ends up holding exactly one zip per function.
    pub out_dir: PathBuf,
}

/// One function's zip.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    pub function: String,
    pub sha256: String,
    /// Content-addressed S3 key, also the template parameter value.
    pub key: String,
    pub path: PathBuf,
    pub bytes: u64,
    /// The binary was packed before with the same bytes: its zip came from the cache, not from deflate.
    pub reused: bool,
}

impl Artifact {
    /// The template parameter carrying this artifact's key (`AuthCodeKey`).
    pub fn parameter(&self) -> String {
        let mut chars = self.function.chars();
        let first = chars
            .next()
            .map(|c| c.to_ascii_uppercase())
            .unwrap_or_default();
        format!("{first}{}CodeKey", chars.as_str())
    }
}

/// Builds every function, and the `extra` packages of `functions/`, for this
/// machine (`obctl dev` runs them as local processes); returns (binary,
/// executable) pairs. The dev profile is the exact cargo invocation
/// `make build` runs, so after it nothing is rebuilt.
pub fn host_binaries(
    project: &Project,
    profile: BuildProfile,
    extra: &[String],
) -> Result<Vec<(String, PathBuf)>> {
    let packages: Vec<String> = functions::ALL
        .iter()
        .map(|f| f.package.to_owned())
        .chain(extra.iter().cloned())
        .collect();
    cargo::build(
        project.root(),
        &cargo::Backend::Host,
        profile.as_str(),
        &packages,
    )
}

/// Default output folder: `target/lambda/<arch>/<profile>`.
pub fn default_out_dir(project: &Project, arch: Architecture, profile: &str) -> PathBuf {
    project
        .root()
        .join("target/lambda")
        .join(arch.as_str())
        .join(profile)
}

/// The project's zip cache (`target/lambda/cache`).
pub fn zip_cache(project: &Project) -> ZipCache {
    ZipCache::at(project.root().join("target/lambda/cache"))
}

/// Builds, checks and packs every function into `plan.out_dir`, the functions side by side (deflate is the slow
/// part of a build cargo has nothing to do for).
pub fn build(project: &Project, plan: &BuildPlan) -> Result<Vec<Artifact>> {
    let backend = cargo::choose_backend(plan.arch)?;
    let packages: Vec<String> = functions::ALL
        .iter()
        .map(|f| f.package.to_owned())
        .collect();
    let binaries = cargo::build(project.root(), &backend, &plan.profile, &packages)?;
    let out_dir = &plan.out_dir;
    std::fs::create_dir_all(out_dir).map_err(|err| CliError::io("create", out_dir, &err))?;
    let cache = zip_cache(project);
    let packing = Packing {
        arch: plan.arch,
        compression: Compression::for_profile(&plan.profile),
        cache: &cache,
    };
    let executables = functions::ALL
        .iter()
        .map(
            |FunctionDef {
                 name: function,
                 package: wanted,
                 ..
             }| {
                binaries
                    .iter()
                    .find(|(name, _)| name == wanted)
                    .map(|(_, path)| (*function, path))
                    .ok_or_else(|| {
                        CliError::new(format!(
                            "cargo built no binary `{wanted}` for the {function} function"
                        ))
                        .fix(format!(
                            "add the crate functions/{function} with a [[bin]] named {wanted}"
                        ))
                    })
            },
        )
        .collect::<Result<Vec<_>>>()?;
    std::thread::scope(|scope| {
        let packers: Vec<_> = executables
            .into_iter()
            .map(|(function, path)| scope.spawn(move || package(function, path, &packing, out_dir)))
            .collect();
        packers
            .into_iter()
            .map(|packer| {
                packer
                    .join()
                    .unwrap_or_else(|_| Err(CliError::new("packing a function zip panicked")))
            })
            .collect()
    })
}

/// How binaries become zips.
#[derive(Debug, Clone, Copy)]
pub struct Packing<'a> {
    pub arch: Architecture,
    pub compression: Compression,
    pub cache: &'a ZipCache,
}

/// Checks one binary and writes its zip as `<out_dir>/<function>-<sha256>.zip`, from the cache when the same bytes
/// were packed before.
pub fn package(
    function: &str,
    binary: &Path,
    packing: &Packing<'_>,
    out_dir: &Path,
) -> Result<Artifact> {
    let bytes = std::fs::read(binary).map_err(|err| CliError::io("read", binary, &err))?;
    elf::check(function, &bytes, packing.arch).map_err(|problem| {
        CliError::new(problem).fix(
            "build on Amazon Linux 2023 or older glibc, or install cargo-zigbuild (obctl then links against glibc 2.34)",
        )
    })?;
    let binary_sha256 = zip::sha256_hex(&bytes);
    let (zipped, sha256, cached, reused) =
        match packing
            .cache
            .get(function, &binary_sha256, packing.compression)
        {
            Some(hit) => (hit.bytes, hit.sha256, Some(hit.path), true),
            None => {
                let zipped = zip::pack(&bytes, packing.compression).map_err(CliError::new)?;
                let sha256 = zip::sha256_hex(&zipped);
                let cached = packing.cache.put(
                    function,
                    &binary_sha256,
                    packing.compression,
                    &zipped,
                    &sha256,
                );
                (zipped, sha256, cached, false)
            }
        };
    let name = format!("{function}-{sha256}.zip");
    let path = out_dir.join(&name);
    if !path.exists() {
        let linked = cached.is_some_and(|entry| cache::link_or_copy(&entry, &path).is_ok());
        if !linked {
            std::fs::write(&path, &zipped).map_err(|err| CliError::io("write", &path, &err))?;
        }
    }
    // Keep exactly one zip per function, so the folder can be deployed as it is.
    for stale in std::fs::read_dir(out_dir).into_iter().flatten().flatten() {
        let stale_name = stale.file_name().to_string_lossy().into_owned();
        if stale_name.starts_with(&format!("{function}-")) && stale_name != name {
            let _ = std::fs::remove_file(stale.path());
        }
    }
    Ok(Artifact {
        function: function.to_owned(),
        key: format!("functions/{function}/{sha256}.zip"),
        sha256,
        bytes: zipped.len() as u64,
        path,
        reused,
    })
}

/// Loads prebuilt zips (from `obctl build`) for every function from `dir`.
pub fn from_dir(dir: &Path) -> Result<Vec<Artifact>> {
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|err| CliError::io("read", dir, &err))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    functions::ALL
        .iter()
        .map(|FunctionDef { name: function, .. }| {
            let mut matches = entries.iter().filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{function}-")) && n.ends_with(".zip"))
            });
            let (Some(path), None) = (matches.next(), matches.next()) else {
                return Err(CliError::new(format!(
                    "--artifacts {}: expected exactly one {function}-<sha256>.zip",
                    display_path(dir)
                ))
                .fix("point --artifacts at a folder written by `obctl build --out-dir`"));
            };
            let bytes = std::fs::read(path).map_err(|err| CliError::io("read", path, &err))?;
            let sha256 = zip::sha256_hex(&bytes);
            Ok(Artifact {
                function: (*function).to_owned(),
                key: format!("functions/{function}/{sha256}.zip"),
                sha256,
                bytes: bytes.len() as u64,
                path: path.clone(),
                reused: false,
            })
        })
        .collect()
}
