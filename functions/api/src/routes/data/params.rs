//! Bodies, list query parameters and `If-Match` of the data routes, parsed into `ob-core` terms.

use axum::http::{HeaderMap, header};
use ob_core::data::{self, ListQuery, Permissions, Record};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::ApiError;

const DEFAULT_LIMIT: usize = 20;

/// The body of `POST`, `PUT` and `PATCH`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordBody {
    /// A JSON object; top-level names of the record's own attributes are reserved.
    #[schema(value_type = Object)]
    pub data: Value,
    /// Who else may read and write; only a writer may change them.
    #[serde(default)]
    pub permissions: Option<Permissions>,
}

/// A page of records.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordPage {
    pub items: Vec<Record>,
    /// Pass as `cursor` to continue; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `If-Match`: `"3"`, `W/"3"` or `3` name a version; `*` or absence mean any.
pub(super) fn expected_version(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    text.trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .map(Some)
        .map_err(|_| {
            ApiError::invalid(
                "If-Match",
                "must be a record version as returned in ETag, e.g. \"3\"",
            )
        })
}

pub(super) struct ListParams {
    pub query: ListQuery,
    pub fields: Option<Vec<String>>,
}

pub(super) fn parse_list_params(params: Vec<(String, String)>) -> Result<ListParams, ApiError> {
    let mut query = ListQuery {
        limit: DEFAULT_LIMIT,
        ..ListQuery::default()
    };
    let mut fields = None;
    for (name, value) in params {
        match name.as_str() {
            "limit" => {
                query.limit = crate::routes::parse_limit(&value, data::MAX_LIMIT, DEFAULT_LIMIT)?;
            }
            "cursor" => query.cursor = Some(value),
            "owner" => {
                if value != "me" {
                    return Err(ApiError::invalid(
                        "owner",
                        "must be me (the caller's own records)",
                    ));
                }
                query.own = true;
            }
            "order" => {
                query.descending = match value.as_str() {
                    "asc" => false,
                    "desc" => true,
                    _ => return Err(ApiError::invalid("order", "must be asc or desc")),
                }
            }
            "fields" => {
                let list: Vec<String> = value.split(',').map(|f| f.trim().to_owned()).collect();
                if list.iter().any(String::is_empty) {
                    return Err(ApiError::invalid(
                        "fields",
                        "must be comma-separated field names",
                    ));
                }
                fields = Some(list);
            }
            other => match other.strip_prefix("where.") {
                Some(field) if !field.is_empty() => {
                    if query.filters.iter().any(|(f, _)| f == field) {
                        return Err(ApiError::invalid(other, "may be given once"));
                    }
                    query.filters.push((field.to_owned(), value));
                }
                _ => {
                    return Err(ApiError::invalid(
                        other,
                        "unknown query parameter; use limit, cursor, order, fields, owner or where.<field>",
                    ));
                }
            },
        }
    }
    Ok(ListParams { query, fields })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Result<ListParams, ApiError> {
        parse_list_params(
            pairs
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn list_params_are_checked() {
        let ok = params(&[
            ("limit", "5"),
            ("order", "desc"),
            ("where.c", "1"),
            ("fields", "a,b"),
        ])
        .unwrap();
        assert_eq!((ok.query.limit, ok.query.descending), (5, true));
        assert_eq!(ok.query.filters, vec![("c".to_owned(), "1".to_owned())]);
        assert_eq!(ok.fields.unwrap(), vec!["a", "b"]);
        for bad in [
            ("limit", "0"),
            ("limit", "101"),
            ("order", "up"),
            ("x", "1"),
            ("where.", "1"),
            ("fields", "a,"),
        ] {
            assert!(params(&[bad]).is_err(), "{bad:?}");
        }
    }
}
