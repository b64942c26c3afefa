//! Wall-clock helpers: epoch seconds for TTLs and comparisons, fixed-width RFC 3339 for display and sort keys.

use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

/// Millisecond precision and a literal `Z`: every timestamp has the same width,
/// so string order is time order (audit sort keys rely on that).
const RFC3339_MILLIS: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// Seconds since the Unix epoch, now.
pub fn now_epoch() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// The current time as fixed-width RFC 3339 in UTC.
pub fn now_rfc3339() -> String {
    format_rfc3339(OffsetDateTime::now_utc())
}

/// An epoch-seconds instant as fixed-width RFC 3339 in UTC.
pub fn epoch_to_rfc3339(epoch: i64) -> String {
    OffsetDateTime::from_unix_timestamp(epoch)
        .map(format_rfc3339)
        .unwrap_or_default()
}

/// An epoch-milliseconds instant (CloudWatch's timestamps) as fixed-width RFC 3339 in UTC.
pub fn epoch_millis_to_rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(format_rfc3339)
        .unwrap_or_default()
}

fn format_rfc3339(at: OffsetDateTime) -> String {
    at.format(RFC3339_MILLIS).unwrap_or_default()
}

/// Parses any RFC 3339 timestamp into epoch seconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_width_and_round_trip() {
        let text = epoch_to_rfc3339(1_700_000_000);
        assert_eq!(text, "2023-11-14T22:13:20.000Z");
        assert_eq!(parse_rfc3339(&text), Some(1_700_000_000));
        assert_eq!(now_rfc3339().len(), text.len());
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
