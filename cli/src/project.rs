//! Finds the project on disk: the folder that holds `stacks/` and `templates/`.

use std::path::{Path, PathBuf};

use crate::error::{CliError, Result, display_path};

/// A One Backend checkout (or an operator's copy of its `stacks/` and `templates/`).
#[derive(Debug, Clone)]
pub struct Project {
    root: PathBuf,
}

impl Project {
    /// Uses `explicit` when given, else walks up from `start` to the first folder
    /// holding both `stacks/` and `templates/` (like cargo finds `Cargo.toml`).
    pub fn locate(explicit: Option<&Path>, start: &Path) -> Result<Self> {
        if let Some(dir) = explicit {
            return if is_project(dir) {
                Ok(Self::at(dir))
            } else {
                Err(CliError::new(format!(
                    "--project-dir {}: no stacks/ and templates/ folders there",
                    display_path(dir)
                ))
                .fix("point --project-dir (or OBCTL_PROJECT_DIR) at the One Backend checkout"))
            };
        }
        start
            .ancestors()
            .find(|dir| is_project(dir))
            .map(Self::at)
            .ok_or_else(|| {
                CliError::new(format!(
                    "no One Backend project found in {} or any parent folder",
                    display_path(start)
                ))
                .detail("a project is a folder holding stacks/ (stage files) and templates/")
                .fix("run obctl inside the checkout, or pass --project-dir DIR")
            })
    }

    pub fn at(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn stacks_dir(&self) -> PathBuf {
        self.root.join("stacks")
    }

    pub fn templates_dir(&self) -> PathBuf {
        self.root.join("templates")
    }

    pub fn stage_file(&self, stage: &str) -> PathBuf {
        self.stacks_dir().join(format!("{stage}.yaml"))
    }

    /// Names of the stages that have a file in `stacks/`, sorted.
    pub fn stages(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.stacks_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                name.strip_suffix(".yaml").map(str::to_owned)
            })
            .collect();
        names.sort();
        names
    }
}

fn is_project(dir: &Path) -> bool {
    dir.join("stacks").is_dir() && dir.join("templates").is_dir()
}
