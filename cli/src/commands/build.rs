//! `obctl build`: the functions' zips, with their hashes.

use std::fmt;

use serde::Serialize;

use crate::args::{ArchArg, BuildArgs, BuildProfile, GlobalArgs};
use crate::build::{self, Artifact, BuildPlan};
use crate::error::{Result, display_path};
use crate::output;
use crate::project::Project;
use crate::stage::{self, Architecture};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Built {
    arch: &'static str,
    profile: &'static str,
    out_dir: String,
    artifacts: Vec<Artifact>,
}

impl fmt::Display for Built {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "built {} functions ({}, {}) in {}:",
            self.artifacts.len(),
            self.arch,
            self.profile,
            self.out_dir
        )?;
        for a in &self.artifacts {
            writeln!(
                f,
                "  {:<9} {:>9}  sha256 {}{}",
                a.function,
                human_bytes(a.bytes),
                a.sha256,
                if a.reused {
                    "  (binary unchanged, zip reused)"
                } else {
                    ""
                }
            )?;
        }
        Ok(())
    }
}

pub fn human_bytes(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

/// The stage-independent plan: flags first, then the stage, then defaults.
pub fn plan(project: &Project, args: &BuildArgs) -> Result<BuildPlan> {
    let stage = args
        .stage
        .as_deref()
        .map(|s| stage::load(project, s))
        .transpose()?;
    let arch = match args.arch {
        Some(ArchArg::Arm64) => Architecture::Arm64,
        Some(ArchArg::X86_64) => Architecture::X86_64,
        None => stage
            .as_ref()
            .map_or(Architecture::Arm64, |s| s.config.lambda.architecture),
    };
    let profile = args
        .profile
        .or(stage.as_ref().map(|s| s.config.lambda.build_profile))
        .unwrap_or(BuildProfile::Release);
    let out_dir = args
        .out_dir
        .clone()
        .unwrap_or_else(|| build::default_out_dir(project, arch, profile.as_str()));
    Ok(BuildPlan {
        arch,
        profile: profile.as_str().to_owned(),
        out_dir,
    })
}

pub fn run(global: &GlobalArgs, args: &BuildArgs, project: &Project) -> Result<u8> {
    let plan = plan(project, args)?;
    let artifacts = build::build(project, &plan)?;
    output::emit(
        global.output,
        &Built {
            arch: plan.arch.as_str(),
            profile: if plan.profile == "dev" {
                "dev"
            } else {
                "release"
            },
            out_dir: display_path(&plan.out_dir),
            artifacts,
        },
    );
    Ok(0)
}
