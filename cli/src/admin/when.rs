//! Durations (`90d`, `24h`, `30m`, `45s`) and dates (`2027-01-01`) typed on the command line.

/// Seconds in a duration like `90d`, `24h`, `30m`, `45s` or `2w`.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let split = text.len().saturating_sub(1);
    let (number, unit) = text.split_at(split);
    let per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => {
            return Err(format!(
                "{text:?} is not a duration like 90d, 24h, 30m or 45s"
            ));
        }
    };
    let n: i64 = number
        .parse()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| format!("{text:?} is not a duration like 90d, 24h, 30m or 45s"))?;
    n.checked_mul(per)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// Epoch seconds of midnight UTC on a `YYYY-MM-DD` date.
pub fn parse_date(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a date like 2027-01-01");
    let mut parts = text.trim().split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let (y, m, d): (i64, i64, i64) = match (y.parse(), m.parse(), d.parse()) {
        (Ok(y), Ok(m), Ok(d)) => (y, m, d),
        _ => return Err(bad()),
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in_month = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let month_ok = (1..=12).contains(&m);
    if !(1970..=9999).contains(&y) || !month_ok {
        return Err(bad());
    }
    let max_day = usize::try_from(m - 1)
        .ok()
        .and_then(|i| days_in_month.get(i).copied())
        .ok_or_else(bad)?;
    if !(1..=max_day).contains(&d) {
        return Err(bad());
    }
    Ok(days_from_civil(y, m, d) * 86_400)
}

/// An absolute expiry from either a duration after `now` or a date.
pub fn parse_expiry(text: &str, now: i64) -> Result<i64, String> {
    if text.contains('-') {
        parse_date(text)
    } else {
        parse_duration(text).map(|secs| now + secs)
    }
}

/// The start of a `--since`: a duration before `now` or a date (epoch seconds).
pub fn parse_since(text: &str, now: i64) -> Result<i64, String> {
    if text.contains('-') {
        parse_date(text)
    } else {
        parse_duration(text).map(|secs| now - secs)
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90d"), Ok(90 * 86_400));
        assert_eq!(parse_duration("24h"), Ok(86_400));
        assert_eq!(parse_duration("1h"), Ok(3_600));
        assert_eq!(parse_duration("30m"), Ok(1_800));
        assert_eq!(parse_duration("0s"), Ok(0));
        assert_eq!(parse_duration("2w"), Ok(1_209_600));
        for bad in ["", "d", "5", "5x", "-1h", "1.5h", "h1"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Ok(0));
        assert_eq!(parse_date("2000-03-01"), Ok(951_868_800));
        assert_eq!(parse_date("2027-01-01"), Ok(1_798_761_600));
        assert_eq!(parse_date("2024-02-29"), Ok(1_709_164_800));
        for bad in [
            "2023-02-29",
            "2027-13-01",
            "2027-00-10",
            "2027-1",
            "x-y-z",
            "1969-12-31",
        ] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn expiries() {
        assert_eq!(parse_expiry("1d", 100), Ok(86_500));
        assert_eq!(parse_expiry("1970-01-02", 100), Ok(86_400));
        assert!(parse_expiry("soon", 100).is_err());
        assert_eq!(parse_since("1m", 100), Ok(40));
        assert_eq!(parse_since("1970-01-02", 100), Ok(86_400));
    }
}
