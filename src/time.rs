//! Wall-clock time and the wire's timestamp format, in one place.
//!
//! Internally every time is Unix microseconds (UTC); on the wire it is RFC
//! 3339 with milliseconds and `Z`.

use chrono::{DateTime, Datelike, NaiveDateTime, SecondsFormat, Utc};

use crate::store::Micros;

/// The server's clock, in Unix microseconds.
pub fn now_micros() -> Micros {
    Utc::now().timestamp_micros()
}

/// Formats as RFC 3339 UTC with milliseconds, e.g. `2026-03-24T10:15:30.123Z`.
pub fn format_timestamp(micros: Micros) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The years a caller timestamp may name, as written (before its offset is
/// applied). Four digits, and not before the Unix epoch: every time the
/// server computes with then fits an `i64` of microseconds many times
/// over, so no arithmetic on it can overflow.
pub const TIMESTAMP_YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;

/// Parses a caller timestamp: RFC 3339, or ISO 8601 without an offset (taken
/// as UTC, which is what Python's `datetime.utcnow().isoformat()` sends),
/// with a four-digit year in [`TIMESTAMP_YEARS`].
pub fn parse_timestamp(text: &str) -> Option<Micros> {
    let text = text.trim();
    let year: i32 = match text.as_bytes().get(..5) {
        Some([digits @ .., b'-']) if digits.iter().all(u8::is_ascii_digit) => {
            text.get(..4)?.parse().ok()?
        }
        _ => return None,
    };
    if !TIMESTAMP_YEARS.contains(&year) {
        return None;
    }
    let parsed = match DateTime::parse_from_rfc3339(text) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
            .iter()
            .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
            .map(|naive| naive.and_utc()),
    }?;
    Some(parsed.timestamp_micros())
}

/// The calendar month (UTC) a time falls in, `YYYY-MM`: the quota period.
pub fn month_of(micros: Micros) -> String {
    // Runs a few times per observation: plain integer formatting, not a
    // strftime pattern parsed on every call.
    let date = DateTime::<Utc>::from_timestamp_micros(micros)
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
        .date_naive();
    format!("{:04}-{:02}", date.year(), date.month())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_offsets_and_naive_times_as_utc() {
        let z = parse_timestamp("2026-03-24T10:15:32Z").expect("rfc3339");
        assert_eq!(parse_timestamp("2026-03-24T10:15:32"), Some(z));
        assert_eq!(parse_timestamp("2026-03-24T12:15:32+02:00"), Some(z));
        assert_eq!(
            parse_timestamp("2026-03-24T10:15:32.500000"),
            Some(z + 500_000)
        );
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn only_four_digit_years_from_1970_are_accepted() {
        for text in [
            "+262000-01-01T00:00:00",
            "-262000-01-01T00:00:00",
            "+2026-03-24T10:15:32Z",
            "0999-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "10000-01-01T00:00:00",
        ] {
            assert_eq!(parse_timestamp(text), None, "{text}");
        }
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert!(parse_timestamp("9999-12-31T23:59:59.999Z").is_some());
        // The year as written counts, whatever the offset makes of it.
        assert_eq!(
            parse_timestamp("1970-01-01T00:00:00+05:00"),
            Some(-5 * 3600 * 1_000_000)
        );
        assert!(parse_timestamp("9999-12-31T23:00:00-05:00").is_some());
    }

    #[test]
    fn formats_with_milliseconds_and_z() {
        let t = parse_timestamp("2026-03-24T10:15:30.123Z").expect("parse");
        assert_eq!(format_timestamp(t), "2026-03-24T10:15:30.123Z");
        assert_eq!(month_of(t), "2026-03");
    }
}
