//! Event times: parsed once from RFC 3339 text into whole microseconds since
//! the Unix epoch, which is all the precision scoring needs and keeps an event
//! to a few machine words.

use std::fmt;

/// A point in time, in microseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventTime(i64);

pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

impl EventTime {
    pub const fn from_micros(micros: i64) -> Self {
        EventTime(micros)
    }

    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// Parses an RFC 3339 timestamp (`2026-11-02T10:15:00.123Z`, or with an offset).
    pub fn parse(text: &str) -> Option<Self> {
        let timestamp: jiff::Timestamp = text.parse().ok()?;
        Some(Self::from_timestamp(timestamp))
    }

    pub fn from_timestamp(timestamp: jiff::Timestamp) -> Self {
        EventTime(timestamp.as_microsecond())
    }

    pub fn to_timestamp(self) -> jiff::Timestamp {
        // Every EventTime comes from a jiff::Timestamp, so it is in range; the
        // fallback only guards against hand-built values.
        jiff::Timestamp::from_microsecond(self.0).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }

    /// RFC 3339 with the full (microsecond) precision, for storing.
    pub fn to_rfc3339(self) -> String {
        self.to_timestamp().to_string()
    }

    pub fn now() -> Self {
        Self::from_timestamp(jiff::Timestamp::now())
    }

    /// Age of `self` at `later`, in fractional days (negative when `self` is after `later`).
    pub fn days_until(self, later: EventTime) -> f64 {
        (later.0 - self.0) as f64 / MICROS_PER_DAY as f64
    }
}

/// RFC 3339 in UTC to the second, fraction dropped (`2026-11-02T10:15:00Z`):
/// the format of `mql_at` in the score output.
impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.0.div_euclid(MICROS_PER_SECOND);
        match jiff::Timestamp::from_second(seconds) {
            Ok(timestamp) => write!(f, "{}", timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")),
            Err(_) => write!(f, "invalid-time({})", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_to_the_second() {
        let cases = [
            ("2026-11-02T10:15:00Z", "2026-11-02T10:15:00Z"),
            ("2026-11-02T10:15:00.999Z", "2026-11-02T10:15:00Z"),
            ("2026-11-02T12:15:00+02:00", "2026-11-02T10:15:00Z"),
            ("1969-12-31T23:59:59.5Z", "1969-12-31T23:59:59Z"),
        ];
        for (input, expected) in cases {
            let time = EventTime::parse(input).unwrap_or_else(|| panic!("{input} should parse"));
            assert_eq!(time.to_string(), expected, "{input}");
        }
    }

    #[test]
    fn rejects_text_that_is_not_rfc3339() {
        for input in ["", "yesterday", "2026-13-01T00:00:00Z", "2026-11-02 10:15"] {
            assert_eq!(EventTime::parse(input), None, "{input}");
        }
    }

    #[test]
    fn ages_are_fractional_days() {
        let a = EventTime::parse("2026-11-01T00:00:00Z").unwrap();
        let b = EventTime::parse("2026-11-02T12:00:00Z").unwrap();
        assert_eq!(a.days_until(b), 1.5);
        assert_eq!(b.days_until(a), -1.5);
    }
}
