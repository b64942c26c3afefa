//! Assembles the stage's CloudFormation template from the fragments in `templates/`.
//!
//! The same inputs always give the same bytes: fragments are merged in a fixed
//! order, maps keep their written order, and nothing depends on time or the
//! machine. Code locations and the signing-key secret are template parameters,
//! filled in at deploy time, so the rendered template is what will be deployed.

mod context;
mod fragment;
mod merge;
pub mod model;
mod subst;

use serde_yaml::{Mapping, Value};

use crate::error::{CliError, Result, display_path};
use crate::project::Project;
use crate::stage::Stage;

/// A rendered template.
#[derive(Debug, Clone)]
pub struct Template {
    value: Value,
}

/// One fragment file and the placeholder values it is rendered with.
struct Instance {
    file: String,
    vars: subst::Vars,
}

/// The fragments of the stack, in the order they are merged.
fn plan(stage: &Stage) -> Vec<Instance> {
    let base = context::stage_vars(stage);
    let shared = |file: &str| Instance {
        file: file.to_owned(),
        vars: base.clone(),
    };
    let mut plan = vec![
        shared("base.yaml"),
        shared("tables.yaml"),
        shared("files-bucket.yaml"),
        shared("queues.yaml"),
        shared("ses.yaml"),
    ];
    for function in ob_core::functions::ALL {
        let vars = context::function_vars(stage, &base, function);
        plan.push(Instance {
            file: "function.yaml".to_owned(),
            vars: vars.clone(),
        });
        if function.identifies_callers() {
            plan.push(Instance {
                file: "caller-identity.yaml".to_owned(),
                vars: vars.clone(),
            });
        }
        if function.serves_http() {
            plan.push(Instance {
                file: "http-function.yaml".to_owned(),
                vars: vars.clone(),
            });
        }
        plan.push(Instance {
            file: format!("functions/{}.yaml", function.name),
            vars,
        });
    }
    if stage.config.notifications.sms {
        plan.push(shared("notify-sms.yaml"));
    }
    plan.push(shared("http-api.yaml"));
    plan.push(shared("websocket-api.yaml"));
    plan.push(shared("alarms.yaml"));
    if stage.config.alarms.email.is_some() {
        plan.push(shared("alarm-email.yaml"));
    }
    for table in ob_core::tables::ALL {
        plan.push(Instance {
            file: "per-table.yaml".to_owned(),
            vars: context::table_vars(&base, table),
        });
    }
    for queue in ob_core::queues::ALL {
        let vars = context::queue_vars(&base, queue);
        let file = if queue.dead_letter {
            "dead-letter-alarm.yaml"
        } else {
            "queue-depth-alarm.yaml"
        };
        plan.push(Instance {
            file: file.to_owned(),
            vars: vars.clone(),
        });
        plan.push(Instance {
            file: "per-queue.yaml".to_owned(),
            vars,
        });
    }
    plan.push(shared("outputs.yaml"));
    plan
}

/// Renders `stage`'s template from `project`'s fragments.
pub fn render(project: &Project, stage: &Stage) -> Result<Template> {
    let dir = project.templates_dir();
    let mut template = Value::Mapping(Mapping::new());
    for instance in plan(stage) {
        let path = dir.join(&instance.file);
        let file = display_path(&path);
        let text =
            std::fs::read_to_string(&path).map_err(|err| CliError::io("read", &path, &err))?;
        let fragment_error = |message: String| {
            CliError::new(message).fix(format!(
                "correct {file}; `obctl render --stage {}` shows the result",
                stage.name
            ))
        };
        let parsed = fragment::parse(&file, &text).map_err(fragment_error)?;
        let filled = subst::substitute(&parsed, &instance.vars)
            .map_err(|err| fragment_error(format!("{file}: {err}")))?;
        merge::merge(&mut template, filled, "")
            .map_err(|err| fragment_error(format!("{file}: {err}")))?;
    }
    Ok(Template { value: template })
}

impl Template {
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The template as YAML (long-form intrinsics, so any YAML parser reads it).
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(&self.value).unwrap_or_default()
    }

    /// The template as pretty JSON, ending in a newline.
    pub fn to_json(&self) -> String {
        let mut json = serde_json::to_string_pretty(&self.value).unwrap_or_default();
        json.push('\n');
        json
    }

    /// The template's resources, by logical id.
    pub fn resources(&self) -> Option<&Mapping> {
        self.value.get("Resources")?.as_mapping()
    }

    /// Names of the template's parameters (artifact keys and secret ARN).
    pub fn parameters(&self) -> Vec<String> {
        self.value
            .get("Parameters")
            .and_then(Value::as_mapping)
            .map(|m| {
                m.keys()
                    .filter_map(|k| k.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}
