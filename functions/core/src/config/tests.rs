use serde_json::json;

use super::*;

fn body(json: Value) -> Result<ConfigBody> {
    ConfigBody::from_json(json)
}

fn field_of(err: Error) -> String {
    match err {
        Error::Invalid { field, .. } => field,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn valid_config_passes() {
    let config = body(json!({
        "featureFlags": {"beta.search": true},
        "allowedOrigins": ["https://shop.example"],
        "indexedFields": {"posts": ["authorId", "status"]},
        "uploads": {"maxBytes": 1000, "allowedMimeTypes": ["image/*", "application/pdf"]},
        "settings": {"theme": "dark", "limits": {"cart": 20}}
    }))
    .unwrap();
    assert_eq!(
        ConfigBody::default().changed_fields(&config),
        [
            "featureFlags",
            "allowedOrigins",
            "indexedFields",
            "uploads",
            "settings.limits",
            "settings.theme"
        ]
    );
    assert!(config.changed_fields(&config).is_empty());
}

/// The seam between the JSON names, the stored attributes and the error hints.
#[test]
fn system_keys_are_the_body_fields() {
    let json = serde_json::to_value(ConfigBody::default()).unwrap();
    let fields: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(fields, SYSTEM_KEYS);
    let with_settings = ConfigBody {
        settings: Some(Settings::new()),
        ..ConfigBody::default()
    };
    assert!(serde_json::to_value(with_settings).unwrap()[SETTINGS_KEY].is_object());
}

#[test]
fn invalid_fields_are_named() {
    let cases = [
        (
            json!({"allowedOrigins": ["https://ok.example", "nope"]}),
            "allowedOrigins[1]",
        ),
        (
            json!({"featureFlags": {"bad flag": true}}),
            "featureFlags.bad flag",
        ),
        (json!({"featureFlags": {"x": "yes"}}), "featureFlags.x"),
        (
            json!({"indexedFields": {"po/sts": ["a"]}}),
            "indexedFields.po/sts",
        ),
        (
            json!({"indexedFields": {"posts": ["a", "a"]}}),
            "indexedFields.posts[1]",
        ),
        (json!({"uploads": {"maxBytes": 0}}), "uploads.maxBytes"),
        (
            json!({"uploads": {"maxBytes": 1, "allowedMimeTypes": ["image"]}}),
            "uploads.allowedMimeTypes[0]",
        ),
        (json!({"settings": ["dark"]}), "settings"),
        (json!(["not", "an", "object"]), "body"),
    ];
    for (json, field) in cases {
        assert_eq!(field_of(body(json.clone()).unwrap_err()), field, "{json}");
    }
}

#[test]
fn unknown_top_level_keys_point_at_settings() {
    let err = body(json!({"featureFlags": {}, "theme": "dark"})).unwrap_err();
    let Error::Invalid { field, message } = err else {
        panic!("expected Invalid");
    };
    assert_eq!(field, "theme");
    assert!(message.contains("settings.theme"), "{message}");
    assert!(
        message.contains("featureFlags, allowedOrigins"),
        "{message}"
    );
}

#[test]
fn oversized_settings_are_refused() {
    let big = json!({"settings": {"blob": "x".repeat(MAX_SETTINGS_BYTES)}});
    assert!(matches!(body(big), Err(Error::TooLarge(_))));
}

#[test]
fn stored_items_round_trip() {
    let config = body(json!({
        "featureFlags": {"x": false},
        "indexedFields": {"posts": ["a"]},
        "settings": {"theme": "dark", "ratio": 1.5}
    }))
    .unwrap();
    let json = serde_json::to_value(&config).unwrap();
    let mut item = Item::new();
    for key in SYSTEM_KEYS {
        item.insert(key.into(), attr::from_json(&json[key]));
    }
    item.insert(
        SETTINGS_KEY.into(),
        attr::s(settings::encoded(config.settings.as_ref().unwrap()).unwrap()),
    );
    item.insert("version".into(), attr::n(3));
    let stored = from_item("shop", &item).unwrap();
    // An item written before templates existed reads as having none.
    let mut expected = config;
    expected.notifications = Some(NotificationsConfig::default());
    assert_eq!((stored.version, stored.body), (3, expected));
}

#[test]
fn public_reads_withhold_settings() {
    let config = AppConfig::initial("shop");
    assert!(serde_json::to_value(&config).unwrap()[SETTINGS_KEY].is_object());
    let public = serde_json::to_value(config.without_settings()).unwrap();
    assert!(public.get(SETTINGS_KEY).is_none());
}

#[test]
fn structured_keys_are_objects_not_arrays() {
    // serde alone reads a struct from an array; the OpenAPI document says object.
    for bad in [json!({"limits": [null, null]}), json!({"uploads": [1, []]})] {
        let key = bad.as_object().unwrap().keys().next().unwrap().clone();
        assert_eq!(field_of(body(bad).unwrap_err()), key);
    }
    assert!(body(json!({"limits": {}})).is_ok());
}
