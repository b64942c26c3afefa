//! Message templates: a subject, a text body and an HTML body with `{{variable}}` placeholders, HTML-escaped in the HTML body.
//!
//! Templates come from an app's config (`notifications.templates.<name>`) or
//! are the built-in account e-mails (`passwordReset`, `emailVerification`,
//! which an app may override under those names). Placeholders are checked
//! when a template is stored; a variable a send does not provide is an error
//! naming it, never an empty hole in a sent message.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Longest subject (RFC 5322's line limit).
pub const MAX_SUBJECT_CHARS: usize = 998;
/// Largest text or HTML body of one template or inline message, in characters.
pub const MAX_BODY_CHARS: usize = 64 * 1024;
/// Most variables one send may pass, and the longest value (in characters).
pub const MAX_VARIABLES: usize = 50;
pub const MAX_VARIABLE_CHARS: usize = 4 * 1024;

/// A message to render: what an app stores in its config, or sends inline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Template {
    /// E-mail subject (ignored for SMS; the title of a realtime push).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// Plain-text body (the SMS text; the body of a realtime push).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// HTML body of an e-mail; variables are HTML-escaped in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

/// A rendered message, ready to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rendered {
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
}

/// The variables of one send: names to text.
pub type Variables = BTreeMap<String, String>;

/// One piece of a parsed template part.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Literal(&'a str),
    Variable(&'a str),
}

fn variable_name_ok(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Splits a part into literals and `{{ name }}` placeholders; `field` names
/// the part in errors (an unclosed `{{` or a bad name).
fn parse<'a>(field: &str, part: &'a str) -> Result<Vec<Piece<'a>>> {
    let mut pieces = Vec::new();
    let mut rest = part;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            pieces.push(Piece::Literal(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| Error::invalid(field, "has a '{{' without a closing '}}'"))?;
        let name = after[..close].trim();
        if !variable_name_ok(name) {
            return Err(Error::invalid(
                field,
                format!(
                    "{{{{{name}}}}} is not a variable: names are 1 to 64 letters, digits and '_', starting with a letter"
                ),
            ));
        }
        pieces.push(Piece::Variable(name));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Literal(rest));
    }
    Ok(pieces)
}

/// Escapes text for an HTML body (element content and quoted attribute values).
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// How a variable's value is put into a part.
#[derive(Debug, Clone, Copy)]
enum Context {
    Text,
    Html,
    /// A header: line breaks would start a new header, so they become spaces.
    Subject,
}

fn fill(field: &str, part: &str, vars: &Variables, context: Context) -> Result<String> {
    let mut out = String::with_capacity(part.len());
    for piece in parse(field, part)? {
        match piece {
            Piece::Literal(text) => out.push_str(text),
            Piece::Variable(name) => {
                let value = vars.get(name).ok_or_else(|| {
                    Error::invalid(
                        format!("variables.{name}"),
                        format!("the template's {field} uses {{{{{name}}}}}; pass a value for it"),
                    )
                })?;
                match context {
                    Context::Text => out.push_str(value),
                    Context::Html => out.push_str(&escape_html(value)),
                    Context::Subject => out.push_str(&value.replace(['\r', '\n'], " ")),
                }
            }
        }
    }
    Ok(out)
}

impl Template {
    /// Checks sizes and placeholders; `field` is where the template lives
    /// (`notifications.templates.welcome`, `message`).
    pub fn validate(&self, field: &str) -> Result<()> {
        if self.text.is_none() && self.html.is_none() {
            return Err(Error::invalid(field, "needs a text or an html body"));
        }
        if self.subject.chars().count() > MAX_SUBJECT_CHARS || self.subject.contains(['\r', '\n']) {
            return Err(Error::invalid(
                format!("{field}.subject"),
                format!("must be one line of at most {MAX_SUBJECT_CHARS} characters"),
            ));
        }
        parse(&format!("{field}.subject"), &self.subject)?;
        for (name, part) in [("text", &self.text), ("html", &self.html)] {
            if let Some(part) = part {
                let part_field = format!("{field}.{name}");
                if part.chars().count() > MAX_BODY_CHARS {
                    return Err(Error::invalid(
                        part_field,
                        format!("must be at most {MAX_BODY_CHARS} characters"),
                    ));
                }
                parse(&part_field, part)?;
            }
        }
        Ok(())
    }

    /// The variables the template uses, each once, in order of first use.
    pub fn variables(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let parts = [Some(&self.subject), self.text.as_ref(), self.html.as_ref()];
        for part in parts.into_iter().flatten() {
            for piece in parse("template", part).unwrap_or_default() {
                if let Piece::Variable(name) = piece
                    && !names.iter().any(|n| n == name)
                {
                    names.push(name.to_owned());
                }
            }
        }
        names
    }

    /// Fills the placeholders; a variable without a value is an error naming it.
    pub fn render(&self, vars: &Variables) -> Result<Rendered> {
        Ok(Rendered {
            subject: fill("subject", &self.subject, vars, Context::Subject)?,
            text: self
                .text
                .as_deref()
                .map(|t| fill("text", t, vars, Context::Text))
                .transpose()?,
            html: self
                .html
                .as_deref()
                .map(|h| fill("html", h, vars, Context::Html))
                .transpose()?,
        })
    }
}

/// Reads a send's `variables` object: strings as they are, numbers and
/// booleans as their JSON text; anything else is an error naming the variable.
pub fn variables_from_json(value: Option<&serde_json::Value>) -> Result<Variables> {
    let Some(value) = value else {
        return Ok(Variables::new());
    };
    let serde_json::Value::Object(map) = value else {
        return Err(Error::invalid(
            "variables",
            "must be an object of names to values",
        ));
    };
    if map.len() > MAX_VARIABLES {
        return Err(Error::invalid(
            "variables",
            format!("at most {MAX_VARIABLES} variables"),
        ));
    }
    let mut vars = Variables::new();
    for (name, value) in map {
        let field = format!("variables.{name}");
        if !variable_name_ok(name) {
            return Err(Error::invalid(
                field,
                "names are 1 to 64 letters, digits and '_', starting with a letter",
            ));
        }
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => {
                return Err(Error::invalid(
                    field,
                    "must be a string, a number or a boolean",
                ));
            }
        };
        if text.chars().count() > MAX_VARIABLE_CHARS {
            return Err(Error::invalid(
                field,
                format!("must be at most {MAX_VARIABLE_CHARS} characters"),
            ));
        }
        vars.insert(name.clone(), text);
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Variables {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn placeholders_are_filled_and_escaped_only_in_html() {
        let template = Template {
            subject: "Hi {{name}}".into(),
            text: Some("Hello {{ name }}, see {{link}}".into()),
            html: Some("<p>Hello {{name}}</p><a href=\"{{link}}\">go</a>".into()),
        };
        template.validate("t").unwrap();
        assert_eq!(template.variables(), ["name", "link"]);
        let out = template
            .render(&vars(&[
                ("name", "<b>Ann & \"Bo\"</b>\r\nBcc: x@y.z"),
                ("link", "https://a.example/?x=1&y='2'"),
            ]))
            .unwrap();
        assert_eq!(out.subject, "Hi <b>Ann & \"Bo\"</b>  Bcc: x@y.z");
        assert_eq!(
            out.text.as_deref(),
            Some("Hello <b>Ann & \"Bo\"</b>\r\nBcc: x@y.z, see https://a.example/?x=1&y='2'")
        );
        assert_eq!(
            out.html.as_deref(),
            Some(
                "<p>Hello &lt;b&gt;Ann &amp; &quot;Bo&quot;&lt;/b&gt;\r\nBcc: x@y.z</p>\
                 <a href=\"https://a.example/?x=1&amp;y=&#39;2&#39;\">go</a>"
            )
        );
    }

    #[test]
    fn a_missing_variable_is_named() {
        let template = Template {
            subject: "s".into(),
            text: Some("{{a}} {{b}}".into()),
            html: None,
        };
        match template.render(&vars(&[("a", "1")])) {
            Err(Error::Invalid { field, message }) => {
                assert_eq!(field, "variables.b");
                assert!(message.contains("text"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_templates_are_refused_naming_the_part() {
        let bad = |subject: &str, text: Option<&str>, html: Option<&str>| match (Template {
            subject: subject.into(),
            text: text.map(str::to_owned),
            html: html.map(str::to_owned),
        })
        .validate("notifications.templates.w")
        {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(bad("s", None, None), "notifications.templates.w");
        assert_eq!(
            bad("s", Some("{{name"), None),
            "notifications.templates.w.text"
        );
        assert_eq!(
            bad("s", None, Some("{{ 9x }}")),
            "notifications.templates.w.html"
        );
        assert_eq!(
            bad("a\nb", Some("x"), None),
            "notifications.templates.w.subject"
        );
        let big = "x".repeat(MAX_BODY_CHARS + 1);
        assert_eq!(bad("s", Some(&big), None), "notifications.templates.w.text");
        assert!(
            Template {
                subject: String::new(),
                text: Some("a { b } {c}".into()),
                html: None
            }
            .validate("t")
            .is_ok()
        );
    }

    #[test]
    fn variables_are_scalars_with_names() {
        let json = serde_json::json!({"n": 3, "ok": true, "s": "x"});
        let vars = variables_from_json(Some(&json)).unwrap();
        assert_eq!(vars["n"], "3");
        assert_eq!(vars["ok"], "true");
        assert!(variables_from_json(Some(&serde_json::json!({"o": {}}))).is_err());
        assert!(variables_from_json(Some(&serde_json::json!({"a-b": "x"}))).is_err());
        assert!(variables_from_json(Some(&serde_json::json!([1]))).is_err());
        assert!(variables_from_json(None).unwrap().is_empty());
    }
}
