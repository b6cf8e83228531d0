//! Millisecond timestamps and their RFC 3339 rendering.

pub(crate) const SECOND: i64 = 1_000;
pub(crate) const MINUTE: i64 = 60 * SECOND;
pub(crate) const HOUR: i64 = 60 * MINUTE;
pub(crate) const DAY: i64 = 24 * HOUR;

/// Appends `ms` (milliseconds since the Unix epoch, UTC) as
/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(crate) fn write_rfc3339_ms(buf: &mut Vec<u8>, ms: i64) {
    let days = ms.div_euclid(DAY);
    let rem = ms.rem_euclid(DAY);
    let (year, month, day) = civil_from_days(days);
    let hour = rem / HOUR;
    let minute = rem % HOUR / MINUTE;
    let second = rem % MINUTE / SECOND;
    let milli = rem % SECOND;
    let year = year.clamp(0, 9999) as u32;
    push_digits(buf, year, 4);
    buf.push(b'-');
    push_digits(buf, month, 2);
    buf.push(b'-');
    push_digits(buf, day, 2);
    buf.push(b'T');
    push_digits(buf, hour as u32, 2);
    buf.push(b':');
    push_digits(buf, minute as u32, 2);
    buf.push(b':');
    push_digits(buf, second as u32, 2);
    buf.push(b'.');
    push_digits(buf, milli as u32, 3);
    buf.push(b'Z');
}

/// `YYYY-MM-DD` of the UTC day containing `ms`.
pub(crate) fn date_string(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

fn push_digits(buf: &mut Vec<u8>, value: u32, width: u32) {
    let mut div = 10u32.pow(width - 1);
    while div > 0 {
        buf.push(b'0' + (value / div % 10) as u8);
        div /= 10;
    }
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (y, m, d).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_jiff() {
        let samples = [
            0i64,
            1_796_083_200_000,
            1_796_083_199_999,
            951_782_400_123,   // 2000-02-29
            4_107_542_399_999, // 2100-02-28T23:59:59.999
            1_709_164_800_000, // 2024-02-29
        ];
        for ms in samples {
            let mut buf = Vec::new();
            write_rfc3339_ms(&mut buf, ms);
            let text = String::from_utf8(buf).unwrap();
            let parsed: jiff::Timestamp = text.parse().unwrap();
            assert_eq!(parsed.as_millisecond(), ms, "{text}");
            let expected = jiff::Timestamp::from_millisecond(ms)
                .unwrap()
                .strftime("%Y-%m-%dT%H:%M:%S.%3fZ")
                .to_string();
            assert_eq!(text, expected);
        }
        assert_eq!(date_string(1_796_083_200_000), "2026-12-01");
    }
}
