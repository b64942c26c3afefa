//! `obctl render`: the exact template a stage deploys, on stdout or in a file.

use std::fmt;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::args::{GlobalArgs, RenderArgs, TemplateFormat};
use crate::error::{CliError, Result, display_path};
use crate::output;
use crate::project::Project;
use crate::{render, stage};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Rendered {
    stage: String,
    file: String,
    format: TemplateFormat,
    resources: usize,
    parameters: Vec<String>,
}

impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "wrote {} (stage {}, {} resources; deploy-time parameters: {})",
            self.file,
            self.stage,
            self.resources,
            self.parameters.join(", ")
        )
    }
}

pub fn run(global: &GlobalArgs, args: &RenderArgs, project: &Project) -> Result<()> {
    let stage = stage::load(project, &args.stage)?;
    let template = render::render(project, &stage)?;
    let text = match args.format {
        TemplateFormat::Yaml => template.to_yaml(),
        TemplateFormat::Json => template.to_json(),
    };
    let Some(out) = &args.out else {
        let mut stdout = std::io::stdout().lock();
        // A closed pipe (`obctl render | head`) is not an error worth reporting.
        let _ = stdout.write_all(text.as_bytes());
        return Ok(());
    };
    write_atomically(out, text.as_bytes())?;
    output::emit(
        global.output,
        &Rendered {
            stage: stage.name,
            file: display_path(out),
            format: args.format,
            resources: template.resources().map_or(0, |r| r.len()),
            parameters: template.parameters(),
        },
    );
    Ok(())
}

/// Writes through a temporary file in the same folder, so a reader never sees half a template.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).map_err(|err| CliError::io("create the folder", dir, &err))?;
    }
    let tmp = path.with_extension("obctl-tmp");
    std::fs::write(&tmp, bytes).map_err(|err| CliError::io("write", &tmp, &err))?;
    std::fs::rename(&tmp, path).map_err(|err| CliError::io("write", path, &err))
}
