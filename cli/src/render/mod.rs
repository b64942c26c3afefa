//! Assembles the stage's CloudFormation template from the fragments in `templates/`.
//!
//! The same inputs always give the same bytes: fragments are merged in a fixed
//! order, maps keep their written order, and nothing depends on time or the
//! machine. Code locations and the signing-key secret are template parameters,
//! filled in at deploy time, so the rendered template is what will be deployed.

mod context;
mod dashboard;
mod fragment;
mod merge;
pub mod model;
mod subst;

use ob_core::queues::QueueDef;
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
fn plan(stage: &Stage, queues: &[QueueDef]) -> Vec<Instance> {
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
    for queue in queues {
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

/// The dashboard comes last: it shows what the rest of the template declares.
fn dashboard(stage: &Stage, template: &Value, queues: &[QueueDef]) -> Instance {
    let mut vars = context::stage_vars(stage);
    let inputs = dashboard::Inputs {
        stage,
        template,
        tables: ob_core::tables::ALL,
        queues,
    };
    vars.insert("dashboardBody".to_owned(), dashboard::body(&inputs));
    Instance {
        file: "dashboard.yaml".to_owned(),
        vars,
    }
}

/// Renders `stage`'s template from `project`'s fragments.
pub fn render(project: &Project, stage: &Stage) -> Result<Template> {
    render_with(project, stage, ob_core::queues::ALL)
}

/// Renders with these queues (tests watch queues the stack does not have yet).
fn render_with(project: &Project, stage: &Stage, queues: &[QueueDef]) -> Result<Template> {
    let dir = project.templates_dir();
    let mut template = Value::Mapping(Mapping::new());
    for instance in plan(stage, queues) {
        add(&mut template, &dir, &instance, stage)?;
    }
    let last = dashboard(stage, &template, queues);
    add(&mut template, &dir, &last, stage)?;
    Ok(Template { value: template })
}

/// Renders one fragment instance and merges it into `template`.
fn add(
    template: &mut Value,
    dir: &std::path::Path,
    instance: &Instance,
    stage: &Stage,
) -> Result<()> {
    let path = dir.join(&instance.file);
    let file = display_path(&path);
    let text = std::fs::read_to_string(&path).map_err(|err| CliError::io("read", &path, &err))?;
    let fragment_error = |message: String| {
        CliError::new(message).fix(format!(
            "correct {file}; `obctl render --stage {}` shows the result",
            stage.name
        ))
    };
    let parsed = fragment::parse(&file, &text).map_err(fragment_error)?;
    let filled = subst::substitute(&parsed, &instance.vars)
        .map_err(|err| fragment_error(format!("{file}: {err}")))?;
    merge::merge(template, filled, "").map_err(|err| fragment_error(format!("{file}: {err}")))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_letter_queue_gets_an_alarm_and_every_queue_a_depth_line() {
        let project = Project::at(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/.."
        )));
        let stage = crate::stage::load(&project, "dev").expect("dev loads");
        // A work queue and its dead-letter queue, as the stack may add more.
        let dead = QueueDef {
            logical_id: "WorkDeadLetters",
            holds: "jobs that failed 3 times",
            env_var: "WORK_DEAD_LETTERS_URL",
            output: "WorkDeadLettersUrl",
            dead_letter: true,
            depth_alarm: None,
            redrive: None,
            ..ob_core::queues::NOTIFY_DEAD_LETTERS
        };
        let queues = [
            QueueDef {
                logical_id: "WorkQueue",
                holds: "jobs",
                env_var: "WORK_QUEUE_URL",
                output: "WorkQueueUrl",
                dead_letter: false,
                depth_alarm: Some(10),
                ..ob_core::queues::NOTIFY
            },
            dead,
        ];
        let template = render_with(&project, &stage, &queues).expect("renders");
        let resources = template.resources().expect("resources");
        let alarm = &resources[&Value::from("WorkDeadLettersNotEmptyAlarm")]["Properties"];
        assert_eq!(alarm["MetricName"], "ApproximateNumberOfMessagesVisible");
        assert_eq!(
            alarm["Dimensions"][0]["Value"]["Fn::GetAtt"][0],
            "WorkDeadLetters"
        );
        assert_eq!(alarm["AlarmActions"][0]["Ref"], "AlarmTopic");
        assert!(
            !resources.contains_key(Value::from("WorkQueueNotEmptyAlarm")),
            "work queues are not alarmed as dead-letter queues"
        );
        let depth = &resources[&Value::from("WorkQueueDepthAlarm")]["Properties"];
        assert_eq!(depth["Threshold"].as_u64(), Some(10));
        let body = resources[&Value::from("Dashboard")]["Properties"]["DashboardBody"]["Fn::Sub"]
            .as_str()
            .expect("body")
            .to_owned();
        for queue in ["WorkQueue", "WorkDeadLetters"] {
            assert!(
                body.contains(&format!("${{{queue}.QueueName}}")),
                "{queue} missing in {body}"
            );
        }
        assert!(
            body.contains(":alarm:one-backend-dev-WorkDeadLetters-not-empty"),
            "{body}"
        );
    }
}
