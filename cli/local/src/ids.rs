//! Identifiers shaped like API Gateway's: request ids and connection ids (`L0SM9cOFvHcCIhw=`).

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Fifteen random letters and digits and a `=`, like API Gateway's ids. The
/// alphabet leaves out `+` and `/`, so an id is the same in a URL path.
pub fn gateway_id() -> String {
    let random = uuid::Uuid::new_v4().into_bytes();
    let mut id: String = random
        .iter()
        .take(15)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    id.push('=');
    id
}

/// API Gateway's `requestTime`: `21/Apr/2020:15:08:21 +0000`.
pub fn request_time(at: time::OffsetDateTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
        at.day(),
        MONTHS[usize::from(u8::from(at.month())) - 1],
        at.year(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Milliseconds since the epoch.
pub fn epoch_ms(at: time::OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_times_look_like_api_gateways() {
        let id = gateway_id();
        assert_eq!(id.len(), 16);
        assert!(id.ends_with('=') && id[..15].chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(gateway_id(), id);
        let at = time::macros::datetime!(2020-04-21 15:08:21.067 UTC);
        assert_eq!(request_time(at), "21/Apr/2020:15:08:21 +0000");
        assert_eq!(epoch_ms(at), 1_587_481_701_067);
    }
}
