//! Timestamps: the store counts milliseconds since the Unix epoch; SCIM speaks RFC 3339.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Milliseconds since the epoch as an RFC 3339 date-time in UTC (`2024-05-01T10:00:00.123Z`).
pub fn format_millis(millis: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(millis as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

/// An RFC 3339 date-time as milliseconds since the epoch.
pub fn parse_datetime(text: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn millis_round_trip_through_rfc_3339() {
        let text = super::format_millis(1_715_000_000_123);
        assert_eq!(text, "2024-05-06T12:53:20.123Z");
        assert_eq!(super::parse_datetime(&text), Some(1_715_000_000_123));
        assert_eq!(super::parse_datetime("not a date"), None);
    }
}
