//! API Gateway route keys (`ANY /files/{appId}/{proxy+}`, `GET /health`, `$default`) and how a request picks one.
//!
//! Matching follows API Gateway's HTTP API rules: a route with only literal
//! segments and single-segment variables (`{id}`) beats one with a greedy
//! variable (`{proxy+}`, which needs at least one segment), which beats
//! `$default`; among those, more literal segments win, then a longer greedy
//! prefix, then a route naming the method over `ANY`. Path variables arrive
//! URL-decoded, as API Gateway passes them.

use std::cmp::Reverse;
use std::fmt;

/// One parsed route key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteKey {
    text: String,
    /// `None` for `ANY`.
    method: Option<String>,
    /// `None` for `$default`.
    path: Option<Vec<Segment>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Variable(String),
    /// `{name+}`: the rest of the path, one segment or more; always last.
    Greedy(String),
}

/// A route key that is not `METHOD /path` or `$default`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteKeyError(pub String);

impl fmt::Display for RouteKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RouteKeyError {}

const METHODS: [&str; 8] = [
    "ANY", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS",
];

impl RouteKey {
    pub fn parse(text: &str) -> Result<Self, RouteKeyError> {
        let bad = |why: &str| RouteKeyError(format!("route key {text:?}: {why}"));
        if text == "$default" {
            return Ok(Self {
                text: text.to_owned(),
                method: None,
                path: None,
            });
        }
        let (method, path) = text
            .split_once(' ')
            .ok_or_else(|| bad("expected `METHOD /path` or `$default`"))?;
        if !METHODS.contains(&method) {
            return Err(bad(&format!("unknown method {method}")));
        }
        let rest = path
            .strip_prefix('/')
            .ok_or_else(|| bad("the path must start with /"))?;
        let mut segments = Vec::new();
        let parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        for (i, part) in parts.iter().enumerate() {
            let segment = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) => match name.strip_suffix('+') {
                    Some(greedy) if i + 1 == parts.len() && !greedy.is_empty() => {
                        Segment::Greedy(greedy.to_owned())
                    }
                    Some(_) => return Err(bad("a greedy variable {name+} must end the path")),
                    None if !name.is_empty() => Segment::Variable(name.to_owned()),
                    None => return Err(bad("empty path variable")),
                },
                None if part.is_empty() => return Err(bad("empty path segment")),
                None if part.contains(['{', '}']) => {
                    return Err(bad("a path variable must be a whole segment"));
                }
                None => Segment::Literal((*part).to_owned()),
            };
            segments.push(segment);
        }
        Ok(Self {
            text: text.to_owned(),
            method: (method != "ANY").then(|| method.to_owned()),
            path: Some(segments),
        })
    }

    /// The key as written in the template.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_default(&self) -> bool {
        self.path.is_none()
    }

    /// Path variables when `method path` (a raw request path) matches this key.
    pub fn matches(&self, method: &str, path: &str) -> Option<PathVariables> {
        if self
            .method
            .as_deref()
            .is_some_and(|m| !m.eq_ignore_ascii_case(method))
        {
            return None;
        }
        let Some(segments) = &self.path else {
            return Some(Vec::new());
        };
        let rest = path.strip_prefix('/')?;
        let parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        let mut variables = Vec::new();
        for (i, segment) in segments.iter().enumerate() {
            match segment {
                Segment::Greedy(name) => {
                    let tail = parts.get(i..)?.join("/");
                    if tail.is_empty() {
                        return None;
                    }
                    variables.push((name.clone(), percent_decode(&tail)));
                    return Some(variables);
                }
                Segment::Literal(literal) => {
                    if parts.get(i) != Some(&literal.as_str()) {
                        return None;
                    }
                }
                Segment::Variable(name) => {
                    let value = parts.get(i).filter(|p| !p.is_empty())?;
                    variables.push((name.clone(), percent_decode(value)));
                }
            }
        }
        (parts.len() == segments.len()).then_some(variables)
    }

    /// Orders matching routes: the smallest rank is the best match.
    fn rank(&self) -> (u8, Reverse<usize>, Reverse<usize>, u8) {
        let method = u8::from(self.method.is_none());
        let Some(segments) = &self.path else {
            return (2, Reverse(0), Reverse(0), method);
        };
        let literals = segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        let greedy = segments.iter().any(|s| matches!(s, Segment::Greedy(_)));
        (
            u8::from(greedy),
            Reverse(literals),
            Reverse(segments.len()),
            method,
        )
    }
}

impl fmt::Display for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Path variables of a matched request, URL-decoded, in path order.
pub type PathVariables = Vec<(String, String)>;

/// The best route for a request among `routes`, with its path variables.
pub fn select<'a, T>(
    routes: &'a [(RouteKey, T)],
    method: &str,
    path: &str,
) -> Option<(&'a RouteKey, &'a T, PathVariables)> {
    routes
        .iter()
        .filter_map(|(key, target)| key.matches(method, path).map(|vars| (key, target, vars)))
        .min_by_key(|(key, _, _)| key.rank())
}

/// Percent-decodes a URL component (`+` stays `+`); invalid escapes are kept as written.
pub fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> RouteKey {
        RouteKey::parse(text).unwrap()
    }

    #[test]
    fn keys_parse_and_bad_ones_say_why() {
        assert!(key("$default").is_default());
        assert_eq!(key("ANY /auth/{proxy+}").as_str(), "ANY /auth/{proxy+}");
        for bad in [
            "/health",
            "FETCH /x",
            "GET health",
            "GET /a/{p+}/b",
            "GET /a//b",
            "GET /a{b}",
        ] {
            assert!(RouteKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn variables_match_one_segment_and_greedy_ones_the_rest() {
        let files = key("ANY /files/{appId}/{proxy+}");
        assert_eq!(
            files.matches("POST", "/files/shop/a/b%20c.txt"),
            Some(vec![
                ("appId".into(), "shop".into()),
                ("proxy".into(), "a/b c.txt".into())
            ])
        );
        assert_eq!(
            files.matches("GET", "/files/shop"),
            None,
            "greedy needs a segment"
        );
        assert_eq!(files.matches("GET", "/files/shop/"), None);
        let record = key("ANY /api/{appId}/{resource}/{id}");
        assert!(record.matches("DELETE", "/api/a/notes/1").is_some());
        assert_eq!(record.matches("GET", "/api/a/notes"), None);
        assert_eq!(record.matches("GET", "/api/a/notes/1/x"), None);
        let health = key("GET /health");
        assert!(health.matches("get", "/health").is_some());
        assert_eq!(health.matches("POST", "/health"), None);
        assert_eq!(health.matches("GET", "/health/"), None);
    }

    #[test]
    fn the_most_specific_route_wins() {
        let routes: Vec<(RouteKey, &str)> = [
            ("$default", "default"),
            ("ANY /{proxy+}", "any-greedy"),
            ("GET /pets/{proxy+}", "pets-greedy"),
            ("GET /pets/dog/{id}", "dog-id"),
            ("GET /pets/dog/1", "dog-1"),
            ("ANY /pets/cat/{id}", "cat-any"),
            ("POST /pets/cat/{id}", "cat-post"),
        ]
        .into_iter()
        .map(|(k, t)| (key(k), t))
        .collect();
        let pick = |method, path| select(&routes, method, path).map(|(_, t, _)| *t);
        assert_eq!(pick("GET", "/pets/dog/1"), Some("dog-1"));
        assert_eq!(pick("GET", "/pets/dog/2"), Some("dog-id"));
        assert_eq!(pick("GET", "/pets/bird/2"), Some("pets-greedy"));
        assert_eq!(pick("POST", "/pets/dog/1"), Some("any-greedy"));
        assert_eq!(pick("POST", "/pets/cat/1"), Some("cat-post"));
        assert_eq!(pick("GET", "/pets/cat/1"), Some("cat-any"));
        assert_eq!(pick("GET", "/"), Some("default"));
        let without_default = &routes[1..2];
        assert!(select(without_default, "GET", "/").is_none());
    }
}
