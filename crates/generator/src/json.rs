//! A small streaming JSON writer on top of `serde_json`'s string escaping.
//!
//! Messages are written field by field into a byte buffer, in the key order
//! the SDKs use, rather than built as `serde_json::Value` trees (which sort
//! keys and allocate a node per field: a million messages for 50,000 leads).

use crate::time::write_rfc3339_ms;

/// Writes one JSON document into `buf`.
///
/// Commas are inserted automatically: every value (and every key) starts with
/// a separator unless it is the first item of its object or array.
pub(crate) struct Json {
    pub(crate) buf: Vec<u8>,
    first: bool,
}

impl Json {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Json { buf: Vec::with_capacity(capacity), first: true }
    }

    #[inline]
    fn sep(&mut self) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
    }

    /// Writes `"key":` (the value must follow).
    #[inline]
    pub(crate) fn key(&mut self, key: &str) {
        self.sep();
        self.buf.push(b'"');
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.extend_from_slice(b"\":");
        self.first = true;
    }

    pub(crate) fn begin_obj(&mut self) {
        self.sep();
        self.buf.push(b'{');
        self.first = true;
    }

    pub(crate) fn end_obj(&mut self) {
        self.buf.push(b'}');
        self.first = false;
    }

    pub(crate) fn begin_arr(&mut self) {
        self.sep();
        self.buf.push(b'[');
        self.first = true;
    }

    pub(crate) fn end_arr(&mut self) {
        self.buf.push(b']');
        self.first = false;
    }

    /// A string value (array element or after `key`).
    pub(crate) fn str_val(&mut self, value: &str) {
        self.sep();
        escape_into(&mut self.buf, value);
    }

    /// `"key":{` ... close with [`Json::end_obj`].
    pub(crate) fn obj(&mut self, key: &str) {
        self.key(key);
        self.begin_obj();
    }

    /// `"key":[` ... close with [`Json::end_arr`].
    pub(crate) fn arr(&mut self, key: &str) {
        self.key(key);
        self.begin_arr();
    }

    pub(crate) fn s(&mut self, key: &str, value: &str) {
        self.key(key);
        self.str_val(value);
    }

    pub(crate) fn i(&mut self, key: &str, value: i64) {
        self.key(key);
        self.sep();
        let digits = itoa_buf(value);
        self.buf.extend_from_slice(digits.as_bytes());
    }

    /// A decimal number with exactly two decimals, from an amount in cents.
    pub(crate) fn cents(&mut self, key: &str, cents: i64) {
        self.key(key);
        self.sep();
        let sign = if cents < 0 { "-" } else { "" };
        let c = cents.unsigned_abs();
        let text = format!("{sign}{}.{:02}", c / 100, c % 100);
        self.buf.extend_from_slice(text.as_bytes());
    }

    pub(crate) fn b(&mut self, key: &str, value: bool) {
        self.key(key);
        self.sep();
        self.buf.extend_from_slice(if value { b"true" } else { b"false" });
    }

    pub(crate) fn null(&mut self, key: &str) {
        self.key(key);
        self.sep();
        self.buf.extend_from_slice(b"null");
    }

    /// An RFC 3339 UTC timestamp with milliseconds, e.g. `2026-11-02T10:15:00.123Z`.
    pub(crate) fn ts(&mut self, key: &str, ms: i64) {
        self.key(key);
        self.sep();
        self.buf.push(b'"');
        write_rfc3339_ms(&mut self.buf, ms);
        self.buf.push(b'"');
    }

    /// Appends already rendered object members (`"k":v,"k2":v2`).
    pub(crate) fn raw_members(&mut self, members: &[u8]) {
        if members.is_empty() {
            return;
        }
        self.sep();
        self.buf.extend_from_slice(members);
    }
}

/// Small stack buffer for integer formatting (avoids `format!` allocations).
struct ItoaBuf {
    bytes: [u8; 20],
    start: usize,
}

impl ItoaBuf {
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[self.start..]
    }
}

fn itoa_buf(value: i64) -> ItoaBuf {
    let mut bytes = [0u8; 20];
    let mut pos = bytes.len();
    let negative = value < 0;
    let mut v = value.unsigned_abs();
    loop {
        pos -= 1;
        bytes[pos] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if negative {
        pos -= 1;
        bytes[pos] = b'-';
    }
    ItoaBuf { bytes, start: pos }
}

/// Appends `value` as a JSON string literal (with quotes).
pub(crate) fn escape_into(buf: &mut Vec<u8>, value: &str) {
    serde_json::to_writer(buf, value).expect("writing to a Vec cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_valid_json() {
        let mut j = Json::with_capacity(64);
        j.begin_obj();
        j.s("a", "x\"y\\z\n\u{1}é");
        j.i("n", -1234567890123);
        j.i("z", 0);
        j.cents("p", 125_005);
        j.b("t", true);
        j.null("u");
        j.arr("l");
        j.str_val("p");
        j.str_val("q");
        j.end_arr();
        j.obj("o");
        j.end_obj();
        j.ts("when", 0);
        j.end_obj();
        let v: serde_json::Value = serde_json::from_slice(&j.buf).unwrap();
        assert_eq!(v["a"], "x\"y\\z\n\u{1}é");
        assert_eq!(v["n"], -1234567890123i64);
        assert_eq!(v["z"], 0);
        assert_eq!(v["p"], 1250.05);
        assert_eq!(v["t"], true);
        assert!(v["u"].is_null());
        assert_eq!(v["l"], serde_json::json!(["p", "q"]));
        assert_eq!(v["o"], serde_json::json!({}));
        assert_eq!(v["when"], "1970-01-01T00:00:00.000Z");
    }
}
