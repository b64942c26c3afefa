//! Reads `stacks/<stage>.yaml` and turns every parse failure into an error that
//! names the file, the key, what was wrong and what is allowed.

use super::{Stage, StageConfig, validate};
use crate::error::{CliError, Result, display_path};
use crate::project::Project;

/// Loads and validates a stage by name.
pub fn load(project: &Project, name: &str) -> Result<Stage> {
    check_stage_name(project, name)?;
    let path = project.stage_file(name);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(unknown_stage(project, name));
        }
        Err(err) => return Err(CliError::io("read", &path, &err)),
    };
    let file = display_path(&path);
    let config = parse(&file, &text)?;
    validate::validate(&file, name, &config)?;
    Ok(Stage {
        name: name.to_owned(),
        config,
    })
}

fn check_stage_name(project: &Project, name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 32
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(CliError::new(format!(
            "--stage {name:?} is not a valid stage name"
        ))
        .detail("a stage name is 1-32 characters: lowercase letters, digits and '-', starting with a letter")
        .fix(available_hint(project)))
    }
}

fn unknown_stage(project: &Project, name: &str) -> CliError {
    let path = display_path(&project.stage_file(name));
    let mut err = CliError::new(format!("unknown stage {name:?}: {path} does not exist"));
    if let Some(close) = closest(name, project.stages().iter().map(String::as_str)) {
        err = err.detail(format!("did you mean --stage {close}?"));
    }
    err.fix(format!(
        "{}, or create {path} (copy stacks/dev.yaml and edit it)",
        available_hint(project)
    ))
}

fn available_hint(project: &Project) -> String {
    let stages = project.stages();
    if stages.is_empty() {
        format!(
            "add a stage file under {}",
            display_path(&project.stacks_dir())
        )
    } else {
        format!("use one of the stages in stacks/: {}", stages.join(", "))
    }
}

/// Parses the YAML into the typed config, keeping the path of the failing key.
pub(super) fn parse(file: &str, text: &str) -> Result<StageConfig> {
    let deserializer = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let key = err.path().to_string();
        let inner = err.into_inner();
        describe_parse_error(file, &key, &inner)
    })
}

fn describe_parse_error(file: &str, key: &str, err: &serde_yaml::Error) -> CliError {
    let full = err.to_string();
    // serde_yaml appends " at line L column C"; we report the location ourselves.
    let message = full
        .split_once(" at line ")
        .map_or(full.as_str(), |(head, _)| head);
    // It also prefixes the parent key ("database: unknown field …"); we name the key ourselves.
    let message = match message.split_once(": ") {
        Some((prefix, rest)) if !prefix.contains(char::is_whitespace) => rest,
        _ => message,
    };
    let location = err
        .location()
        .map(|l| format!(" (line {}, column {})", l.line(), l.column()))
        .unwrap_or_default();
    let key = if key == "." || key.is_empty() {
        "the top level".to_owned()
    } else {
        format!("key `{key}`")
    };

    if let Some((unknown, allowed)) = parse_unknown(message, "unknown field") {
        let mut err = CliError::new(format!("{file}: {key}{location}: unknown key `{unknown}`"))
            .detail(format!("allowed keys here: {}", allowed.join(", ")));
        if let Some(close) = closest(&unknown, allowed.iter().map(String::as_str)) {
            err = err.fix(format!("rename `{unknown}` to `{close}`"));
        } else {
            err = err.fix(format!("remove `{unknown}` or use one of the allowed keys"));
        }
        return err;
    }
    if let Some((unknown, allowed)) = parse_unknown(message, "unknown variant") {
        return CliError::new(format!(
            "{file}: {key}{location}: `{unknown}` is not allowed"
        ))
        .fix(format!("use one of: {}", allowed.join(", ")));
    }
    if let Some(missing) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        return CliError::new(format!(
            "{file}: {key}{location}: required key `{missing}` is missing"
        ))
        .fix(format!(
            "add `{missing}` (see stacks/dev.yaml for a complete example)"
        ));
    }
    CliError::new(format!("{file}: {key}{location}: {message}"))
        .fix("correct the value; see stacks/dev.yaml for a complete, commented example")
}

/// Splits serde's "unknown field `x`, expected one of `a`, `b`" (or "expected `a`").
fn parse_unknown(message: &str, prefix: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix(prefix)?.trim_start();
    let rest = rest.strip_prefix('`')?;
    let (unknown, expected) = rest.split_once('`')?;
    let allowed = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    Some((unknown.to_owned(), allowed))
}

/// The candidate closest to `word`, when it is close enough to be a typo.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .map(|c| {
            (
                strsim::jaro_winkler(&word.to_lowercase(), &c.to_lowercase()),
                c,
            )
        })
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_message_is_split() {
        let (unknown, allowed) = parse_unknown(
            "unknown field `pitr`, expected `pointInTimeRecovery` or `deletionProtection`",
            "unknown field",
        )
        .expect("parsed");
        assert_eq!(unknown, "pitr");
        assert_eq!(allowed, ["pointInTimeRecovery", "deletionProtection"]);
    }

    #[test]
    fn closest_finds_typos_only() {
        let keys = ["pointInTimeRecovery", "deletionProtection"];
        assert_eq!(
            closest("pointInTimeRecvery", keys.into_iter()),
            Some("pointInTimeRecovery")
        );
        assert_eq!(closest("colour", keys.into_iter()), None);
    }
}
