//! Millisecond timestamps and their RFC 3339 rendering (through jiff).

use jiff::Timestamp;
use jiff::fmt::temporal::DateTimePrinter;

pub(crate) const SECOND: i64 = 1_000;
pub(crate) const MINUTE: i64 = 60 * SECOND;
pub(crate) const HOUR: i64 = 60 * MINUTE;
pub(crate) const DAY: i64 = 24 * HOUR;

/// Always three fractional digits, as analytics.js sends them.
const PRINTER: DateTimePrinter = DateTimePrinter::new().precision(Some(3));

fn timestamp(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).expect("generated times are within jiff's range")
}

/// Appends `ms` (milliseconds since the Unix epoch) as
/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(crate) fn write_rfc3339_ms(buf: &mut Vec<u8>, ms: i64) {
    PRINTER.print_timestamp(&timestamp(ms), buf).expect("writing to a Vec cannot fail");
}

/// `YYYY-MM-DD` of the UTC day containing `ms`.
pub(crate) fn date_string(ms: i64) -> String {
    timestamp(ms).strftime("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_milliseconds_and_z() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (1_796_083_200_000, "2026-12-01T00:00:00.000Z"),
            (1_796_083_199_999, "2026-11-30T23:59:59.999Z"),
            (951_782_400_123, "2000-02-29T00:00:00.123Z"),
        ];
        for (ms, expected) in cases {
            let mut buf = Vec::new();
            write_rfc3339_ms(&mut buf, ms);
            assert_eq!(String::from_utf8(buf).unwrap(), expected);
        }
        assert_eq!(date_string(1_796_083_200_000), "2026-12-01");
    }
}
