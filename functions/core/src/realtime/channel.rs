//! Channel names of the realtime protocol: `resource:<name>`, `resource:<name>:<id>`, `room:<name>`, and each connection's own `user:<id>`.

use std::fmt;

use crate::data::{validate_id, validate_resource};
use crate::error::{Error, Result};

/// Longest room name; rooms are free-form but end up inside partition keys.
pub const MAX_ROOM_NAME: usize = 64;

/// What a connection can subscribe to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// Changes to every record of a resource the subscriber may read.
    Resource(String),
    /// Changes to one record (checked readable at subscription).
    Record { resource: String, id: String },
    /// App messaging between members: whatever members send.
    Room(String),
    /// A user's own channel: every connection of the user joins it at
    /// connect, and only the backend publishes to it (notifications with
    /// channel `realtime`). Clients cannot subscribe to it by name.
    User(String),
}

impl Channel {
    /// Parses and validates a channel name sent by a client.
    pub fn parse(text: &str) -> Result<Self> {
        if let Some(rest) = text.strip_prefix("resource:") {
            return match rest.split_once(':') {
                None => {
                    validate_resource(rest).map_err(|_| bad_channel())?;
                    Ok(Self::Resource(rest.to_owned()))
                }
                Some((resource, id)) => {
                    validate_resource(resource).map_err(|_| bad_channel())?;
                    validate_id(id).map_err(|_| {
                        Error::invalid(
                            "channel",
                            "the record id of resource:<name>:<id> must be a record id",
                        )
                    })?;
                    Ok(Self::Record {
                        resource: resource.to_owned(),
                        id: id.to_owned(),
                    })
                }
            };
        }
        if let Some(name) = text.strip_prefix("room:") {
            let ok = (1..=MAX_ROOM_NAME).contains(&name.len())
                && name
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':'));
            return if ok {
                Ok(Self::Room(name.to_owned()))
            } else {
                Err(Error::invalid(
                    "channel",
                    format!(
                        "room names are 1 to {MAX_ROOM_NAME} characters of A-Z, a-z, 0-9, '_', '-', '.', ':'"
                    ),
                ))
            };
        }
        Err(bad_channel())
    }

    /// The channels a change of one record is published on.
    pub fn of_record(resource: &str, id: &str) -> [Self; 2] {
        [
            Self::Resource(resource.to_owned()),
            Self::Record {
                resource: resource.to_owned(),
                id: id.to_owned(),
            },
        ]
    }
}

fn bad_channel() -> Error {
    Error::invalid(
        "channel",
        "channels are resource:<name>, resource:<name>:<id> or room:<name>",
    )
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Resource(resource) => write!(f, "resource:{resource}"),
            Self::Record { resource, id } => write!(f, "resource:{resource}:{id}"),
            Self::Room(name) => write!(f, "room:{name}"),
            Self::User(id) => write!(f, "user:{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_parse_and_print_back() {
        let id = crate::data::new_id();
        for text in [
            "resource:notes".to_owned(),
            format!("resource:notes:{id}"),
            "room:lobby.1".to_owned(),
        ] {
            assert_eq!(Channel::parse(&text).unwrap().to_string(), text);
        }
        assert_eq!(
            Channel::parse(&format!("resource:notes:{id}")).unwrap(),
            Channel::Record {
                resource: "notes".into(),
                id
            }
        );
    }

    #[test]
    fn bad_channels_name_the_field() {
        for bad in [
            "",
            "notes",
            "resource:",
            "resource:a b",
            "resource:notes:not-an-id",
            "room:",
            "room:a#b",
            "room:a/b",
            "user:someone",
        ] {
            match Channel::parse(bad) {
                Err(Error::Invalid { field, .. }) => assert_eq!(field, "channel", "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert!(Channel::parse(&format!("room:{}", "r".repeat(MAX_ROOM_NAME + 1))).is_err());
    }
}
