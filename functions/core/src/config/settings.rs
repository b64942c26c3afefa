//! The app's own settings: free-form JSON the backend stores and serves but never interprets.
//!
//! Stored as one JSON string attribute, as record data is: any JSON round-trips
//! exactly (numbers, nulls, empty strings, nesting depth), and the size checked
//! is the size stored.

use serde_json::Value;

use crate::attr::{self, Item};
use crate::error::{Error, Result};

/// The values an app keeps in its config: a JSON object of any shape.
pub type Settings = serde_json::Map<String, Value>;

/// Largest `settings` object, as compact JSON. Every signed-in client reads it
/// at start, so it stays small; record data is the place for more.
pub const MAX_SETTINGS_BYTES: usize = 32 * 1024;

/// Above this many changed keys, the audit entry says `settings` instead of each key.
const MAX_AUDITED_KEYS: usize = 20;

pub(super) fn encoded(values: &Settings) -> Result<String> {
    serde_json::to_string(values).map_err(|e| Error::internal("encode settings", e))
}

pub(super) fn check_size(values: &Settings) -> Result<()> {
    let size = encoded(values)?.len();
    if size > MAX_SETTINGS_BYTES {
        return Err(Error::TooLarge(format!(
            "settings is {size} bytes of JSON; at most {MAX_SETTINGS_BYTES} are allowed"
        )));
    }
    Ok(())
}

/// Reads the stored attribute; an item without it has no settings.
pub(super) fn from_item(item: &Item, name: &str) -> Result<Settings> {
    match attr::opt_s(item, name) {
        Some(text) => {
            serde_json::from_str(&text).map_err(|e| Error::internal("decode stored settings", e))
        }
        None => Ok(Settings::new()),
    }
}

/// `settings.<key>` for each top-level key whose value differs (for the audit log).
pub(super) fn changed_keys(old: &Settings, new: &Settings) -> Vec<String> {
    let mut keys: Vec<&String> = old
        .iter()
        .filter(|(k, v)| new.get(*k) != Some(v))
        .map(|(k, _)| k)
        .chain(new.keys().filter(|k| !old.contains_key(*k)))
        .collect();
    keys.sort();
    if keys.len() > MAX_AUDITED_KEYS {
        return vec![super::SETTINGS_KEY.to_owned()];
    }
    keys.into_iter()
        .map(|k| format!("{}.{k}", super::SETTINGS_KEY))
        .collect()
}

/// Applies a JSON Merge Patch (RFC 7396): objects merge key by key, `null`
/// removes a key, anything else replaces the target.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(changes) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(map) = target {
        for (key, change) in changes {
            if change.is_null() {
                map.remove(key);
            } else {
                merge_patch(map.entry(key.clone()).or_insert(Value::Null), change);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Settings {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        // The examples of RFC 7396, appendix A.
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (mut target, patch, expected) in cases {
            merge_patch(&mut target, &patch);
            assert_eq!(target, expected, "patch {patch}");
        }
    }

    #[test]
    fn size_is_checked_on_the_stored_form() {
        let fits = map(json!({"k": "x".repeat(MAX_SETTINGS_BYTES - 8)}));
        assert_eq!(encoded(&fits).unwrap().len(), MAX_SETTINGS_BYTES);
        check_size(&fits).unwrap();
        let over = map(json!({"k": "x".repeat(MAX_SETTINGS_BYTES - 7)}));
        assert!(matches!(check_size(&over), Err(Error::TooLarge(_))));
    }

    #[test]
    fn stored_settings_round_trip_exactly() {
        let values = map(json!({"theme": "dark", "n": 1.50, "none": null, "deep": [[[{"": ""}]]]}));
        let mut item = Item::new();
        item.insert("settings".into(), attr::s(encoded(&values).unwrap()));
        assert_eq!(from_item(&item, "settings").unwrap(), values);
        assert!(from_item(&Item::new(), "settings").unwrap().is_empty());
    }

    #[test]
    fn changed_keys_name_each_setting() {
        let old = map(json!({"theme": "light", "lang": "en", "gone": 1}));
        let new = map(json!({"theme": "dark", "lang": "en", "added": true}));
        assert_eq!(
            changed_keys(&old, &new),
            ["settings.added", "settings.gone", "settings.theme"]
        );
        let many = map((0..30).map(|i| (format!("k{i}"), json!(i))).collect());
        assert_eq!(changed_keys(&Settings::new(), &many), ["settings"]);
    }
}
