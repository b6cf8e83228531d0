//! Cursors for lead lists: the position of a lead in a [`LeadSort`], as an
//! opaque string that a client hands back to get the next page.
//!
//! A cursor holds the sort's name and the lead's values of that sort's keys,
//! ending with its id (every sort ends with it, so a position is exact even
//! among ties). It is that list as a JSON array, written in hex so that it
//! goes into a URL as it is. Engagement is carried as the bits of its `f64`:
//! a decimal form read back could differ in the last bit and move the
//! position.

use crate::{LeadRecord, LeadSort, StoreError};
use serde_json::Value;

/// One key of a lead order. Keys that may be missing (`mql_at`) put the
/// leads without a value last, whatever the direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SortKey {
    EngagementDescending,
    FitDescending,
    GradeAscending,
    MqlAtAscending,
    MqlAtDescending,
    LastSeenDescending,
    LeadIdAscending,
}

/// The value of one sort key of one lead, as a cursor carries it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum KeyValue {
    Real(f64),
    Integer(i64),
    Text(String),
    /// A missing `mql_at`.
    Missing,
}

impl LeadSort {
    /// The keys this order compares, in turn; the last is always the lead id.
    pub(crate) fn keys(self) -> &'static [SortKey] {
        use SortKey::*;
        match self {
            LeadSort::Engagement => &[EngagementDescending, LeadIdAscending],
            LeadSort::Fit => &[FitDescending, EngagementDescending, LeadIdAscending],
            LeadSort::MqlAt => &[MqlAtAscending, LeadIdAscending],
            LeadSort::LastSeen => &[LastSeenDescending, LeadIdAscending],
            LeadSort::LeadId => &[LeadIdAscending],
            LeadSort::Priority => &[GradeAscending, EngagementDescending, MqlAtDescending, LeadIdAscending],
        }
    }

    fn name(self) -> &'static str {
        match self {
            LeadSort::Engagement => "engagement",
            LeadSort::Fit => "fit",
            LeadSort::MqlAt => "mql_at",
            LeadSort::LastSeen => "last_seen",
            LeadSort::LeadId => "lead_id",
            LeadSort::Priority => "priority",
        }
    }
}

/// The cursor of `record`'s position in `sort`: give it back as
/// [`LeadQuery::after`](crate::LeadQuery::after), with the same sort, to list
/// the leads that come after it.
pub fn lead_cursor(record: &LeadRecord, sort: LeadSort) -> String {
    let mut tuple = vec![Value::from(sort.name())];
    tuple.extend(sort.keys().iter().map(|key| match key {
        SortKey::EngagementDescending => Value::from(record.engagement.to_bits()),
        SortKey::FitDescending => Value::from(record.fit),
        SortKey::GradeAscending => Value::from(record.grade.as_str()),
        SortKey::MqlAtAscending | SortKey::MqlAtDescending => Value::from(record.mql_at.map(|at| at.as_micros())),
        SortKey::LastSeenDescending => Value::from(record.last_seen.as_micros()),
        SortKey::LeadIdAscending => Value::from(record.lead_id.as_str()),
    }));
    Value::Array(tuple).to_string().bytes().map(|byte| format!("{byte:02x}")).collect()
}

/// The key values a cursor made by [`lead_cursor`] for `sort` holds, one per
/// key of `sort`.
pub(crate) fn parse_lead_cursor(cursor: &str, sort: LeadSort) -> Result<Vec<KeyValue>, StoreError> {
    let invalid = || {
        StoreError::Invalid(format!(
            "the cursor is not one given out for a list sorted by {}; list again without a cursor",
            sort.name()
        ))
    };
    let bytes = cursor.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return Err(invalid());
    }
    let json: Vec<u8> = bytes
        .chunks(2)
        .map(|pair| std::str::from_utf8(pair).ok().and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect::<Option<_>>()
        .ok_or_else(invalid)?;
    let Ok(Value::Array(tuple)) = serde_json::from_slice::<Value>(&json) else {
        return Err(invalid());
    };
    let keys = sort.keys();
    if tuple.len() != keys.len() + 1 || tuple[0].as_str() != Some(sort.name()) {
        return Err(invalid());
    }
    keys.iter()
        .zip(&tuple[1..])
        .map(|(key, value)| match key {
            SortKey::EngagementDescending => value.as_u64().map(|bits| KeyValue::Real(f64::from_bits(bits))),
            SortKey::FitDescending | SortKey::LastSeenDescending => value.as_i64().map(KeyValue::Integer),
            SortKey::MqlAtAscending | SortKey::MqlAtDescending if value.is_null() => Some(KeyValue::Missing),
            SortKey::MqlAtAscending | SortKey::MqlAtDescending => value.as_i64().map(KeyValue::Integer),
            SortKey::GradeAscending | SortKey::LeadIdAscending => {
                value.as_str().map(|text| KeyValue::Text(text.to_owned()))
            }
        })
        .collect::<Option<_>>()
        .ok_or_else(invalid)
}
