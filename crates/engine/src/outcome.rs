//! What sales did with a lead (its outcomes) and what marketing spent per
//! channel, parsed from CSV text into typed values (spec/analytics.md,
//! "Outcomes" and the Spend line). No IO: callers hand over the bytes.
//!
//! A bad line is reported with its line number and the field at fault, and
//! the good lines around it are kept.

use crate::time::EventTime;
use std::fmt;

/// A stage sales (or the CRM) reports for a lead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutcomeStage {
    Accepted,
    Rejected,
    Sql,
    Opportunity,
    Won,
    Lost,
}

impl OutcomeStage {
    pub const ALL: [OutcomeStage; 6] = [
        OutcomeStage::Accepted,
        OutcomeStage::Rejected,
        OutcomeStage::Sql,
        OutcomeStage::Opportunity,
        OutcomeStage::Won,
        OutcomeStage::Lost,
    ];

    /// The stage's name, as written in files, stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeStage::Accepted => "accepted",
            OutcomeStage::Rejected => "rejected",
            OutcomeStage::Sql => "sql",
            OutcomeStage::Opportunity => "opportunity",
            OutcomeStage::Won => "won",
            OutcomeStage::Lost => "lost",
        }
    }

    /// The stage named exactly `text`, if any.
    pub fn parse(text: &str) -> Option<OutcomeStage> {
        OutcomeStage::ALL.into_iter().find(|stage| stage.as_str() == text)
    }
}

impl fmt::Display for OutcomeStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One outcome of one lead.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub lead_id: String,
    pub stage: OutcomeStage,
    pub at: EventTime,
    /// Why, e.g. the reason of a rejection (`bad fit`, `no budget`).
    pub reason: Option<String>,
    /// The revenue of a won lead, in the user's currency.
    pub revenue: Option<f64>,
}

/// A bad line of a CSV file: where it is and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// The line number in the file, 1 being the header.
    pub line: u64,
    /// The column at fault, when one is.
    pub field: Option<String>,
    pub reason: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "line {}: {}: {}", self.line, field, self.reason),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

/// A row of a file, with the line it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Numbered<T> {
    pub line: u64,
    pub value: T,
}

/// What parsing a file gave: the good rows in file order and the bad lines.
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed<T> {
    pub rows: Vec<Numbered<T>>,
    pub errors: Vec<LineError>,
}

pub const OUTCOME_HEADER: [&str; 5] = ["lead_id", "stage", "at", "reason", "revenue"];
pub const SPEND_HEADER: [&str; 4] = ["channel", "from", "to", "amount"];

/// Parses an outcomes file (`lead_id,stage,at,reason,revenue`; `reason` and
/// `revenue` may be empty; a UTF-8 byte order mark is skipped).
pub fn parse_outcomes_csv(bytes: &[u8]) -> Result<Parsed<Outcome>, LineError> {
    parse_csv(bytes, &OUTCOME_HEADER, |line, record| {
        let field = |index: usize| record.get(index).unwrap_or("").trim();
        let lead_id = field(0);
        if lead_id.is_empty() {
            return Err(error(line, "lead_id", "is empty".into()));
        }
        let stage = OutcomeStage::parse(field(1)).ok_or_else(|| {
            error(
                line,
                "stage",
                format!("{:?} is not a stage (use one of: accepted, rejected, sql, opportunity, won, lost)", field(1)),
            )
        })?;
        let at = parse_time(field(2))
            .ok_or_else(|| error(line, "at", format!("{:?} is not an RFC 3339 time or a YYYY-MM-DD date", field(2))))?;
        let reason = Some(field(3)).filter(|text| !text.is_empty()).map(str::to_owned);
        let revenue = match field(4) {
            "" => None,
            text => Some(
                parse_amount(text)
                    .ok_or_else(|| error(line, "revenue", format!("{text:?} is not a number of 0 or more")))?,
            ),
        };
        Ok(Outcome { lead_id: lead_id.to_owned(), stage, at, reason, revenue })
    })
}

/// Spend on one channel over the days `[from, to]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Spend {
    pub channel: String,
    pub from: EventTime,
    pub to: EventTime,
    pub amount: f64,
}

/// Parses a spend file (`channel,from,to,amount`; dates `YYYY-MM-DD` or
/// RFC 3339 times; `to` not before `from`; a byte order mark is skipped).
pub fn parse_spend_csv(bytes: &[u8]) -> Result<Parsed<Spend>, LineError> {
    parse_csv(bytes, &SPEND_HEADER, |line, record| {
        let field = |index: usize| record.get(index).unwrap_or("").trim();
        let channel = field(0);
        if channel.is_empty() {
            return Err(error(line, "channel", "is empty".into()));
        }
        let time = |index: usize, name: &str| {
            parse_time(field(index)).ok_or_else(|| {
                error(line, name, format!("{:?} is not a YYYY-MM-DD date or an RFC 3339 time", field(index)))
            })
        };
        let from = time(1, "from")?;
        let to = time(2, "to")?;
        if to < from {
            return Err(error(line, "to", format!("{} is before from ({})", field(2), field(1))));
        }
        let amount = parse_amount(field(3))
            .ok_or_else(|| error(line, "amount", format!("{:?} is not a number of 0 or more", field(3))))?;
        Ok(Spend { channel: channel.to_owned(), from, to, amount })
    })
}

fn error(line: u64, field: &str, reason: String) -> LineError {
    LineError { line, field: Some(field.to_owned()), reason }
}

/// An RFC 3339 time, or a `YYYY-MM-DD` date taken as its midnight UTC.
pub fn parse_time(text: &str) -> Option<EventTime> {
    EventTime::parse(text).or_else(|| {
        // A full time parses above; a bare date is that day's midnight UTC.
        let _: jiff::civil::Date = text.parse().ok().filter(|_| text.len() == 10)?;
        EventTime::parse(&format!("{text}T00:00:00Z"))
    })
}

fn parse_amount(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|amount| amount.is_finite() && *amount >= 0.0)
}

/// Reads CSV text with the expected header, handing each record to `row`.
/// A bad header is an error for the whole file; a bad record, for its line.
fn parse_csv<T>(
    bytes: &[u8],
    header: &[&str],
    row: impl Fn(u64, &csv::StringRecord) -> Result<T, LineError>,
) -> Result<Parsed<T>, LineError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
    let mut records = reader.records();
    let expected = header.join(",");
    let found = match records.next() {
        None => {
            return Err(LineError {
                line: 1,
                field: None,
                reason: format!("the file is empty: expected the header {expected}"),
            });
        }
        Some(Err(problem)) => return Err(LineError { line: 1, field: None, reason: problem.to_string() }),
        Some(Ok(record)) => record,
    };
    let found: Vec<&str> = found.iter().map(str::trim).collect();
    if found != header {
        return Err(LineError {
            line: 1,
            field: None,
            reason: format!("the header is {:?}, expected {expected}", found.join(",")),
        });
    }
    let mut parsed = Parsed { rows: Vec::new(), errors: Vec::new() };
    for record in records {
        match record {
            Err(problem) => {
                let line = problem.position().map_or(0, |position| line_at(bytes, position.byte()));
                parsed.errors.push(LineError { line, field: None, reason: problem.to_string() });
            }
            Ok(record) => {
                let line = record.position().map_or(0, |position| line_at(bytes, position.byte()));
                if record.iter().all(|field| field.trim().is_empty()) {
                    continue;
                }
                if record.len() != header.len() {
                    parsed.errors.push(LineError {
                        line,
                        field: None,
                        reason: format!("{} fields, expected {} ({expected})", record.len(), header.len()),
                    });
                    continue;
                }
                match row(line, &record) {
                    Ok(value) => parsed.rows.push(Numbered { line, value }),
                    Err(problem) => parsed.errors.push(problem),
                }
            }
        }
    }
    Ok(parsed)
}

/// The line number (from 1) of a byte offset. The CSV reader's own count
/// skips blank lines, so the number a user sees in an editor is counted here.
/// A record's offset may be that of the blank lines before it, which are
/// skipped first.
fn line_at(bytes: &[u8], offset: u64) -> u64 {
    let mut end = (offset as usize).min(bytes.len());
    while end < bytes.len() && matches!(bytes[end], b'\n' | b'\r') {
        end += 1;
    }
    memchr::memchr_iter(b'\n', &bytes[..end]).count() as u64 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(text: &str) -> EventTime {
        EventTime::parse(text).unwrap()
    }

    /// The good rows' lines and the bad lines' (line, field) of a file.
    fn outcome_lines(text: &str) -> (Vec<u64>, Vec<(u64, Option<String>)>) {
        let parsed = parse_outcomes_csv(text.as_bytes()).unwrap();
        (
            parsed.rows.iter().map(|row| row.line).collect(),
            parsed.errors.iter().map(|error| (error.line, error.field.clone())).collect(),
        )
    }

    #[test]
    fn an_outcomes_file_gives_typed_outcomes_with_optional_reason_and_revenue() {
        let text = "\u{feff}lead_id,stage,at,reason,revenue\n\
                    u1,rejected,2026-11-02T10:00:00Z,no budget,\n\
                    u2,won,2026-11-03,,1250.5\n";
        let parsed = parse_outcomes_csv(text.as_bytes()).unwrap();
        assert_eq!(parsed.errors, []);
        let outcomes: Vec<Outcome> = parsed.rows.into_iter().map(|row| row.value).collect();
        assert_eq!(
            outcomes,
            [
                Outcome {
                    lead_id: "u1".into(),
                    stage: OutcomeStage::Rejected,
                    at: time("2026-11-02T10:00:00Z"),
                    reason: Some("no budget".into()),
                    revenue: None,
                },
                Outcome {
                    lead_id: "u2".into(),
                    stage: OutcomeStage::Won,
                    at: time("2026-11-03T00:00:00Z"),
                    reason: None,
                    revenue: Some(1250.5),
                },
            ]
        );
    }

    #[test]
    fn bad_lines_are_reported_with_their_number_and_field_and_good_ones_kept() {
        let text = "lead_id,stage,at,reason,revenue\n\
                    u1,accepted,2026-11-02T10:00:00Z,,\n\
                    u2,maybe,2026-11-02T10:00:00Z,,\n\
                    u3,won,yesterday,,\n\
                    u4,won,2026-11-02T10:00:00Z,,lots\n\
                    ,won,2026-11-02T10:00:00Z,,\n\
                    u6,won\n\
                    \n\
                    u7,\"sql\",2026-11-02T10:00:00Z,\"a, b\",\n";
        let (good, bad) = outcome_lines(text);
        assert_eq!(good, [2, 9]);
        let field = |name: &str| Some(name.to_owned());
        assert_eq!(
            bad,
            [(3, field("stage")), (4, field("at")), (5, field("revenue")), (6, field("lead_id")), (7, None)]
        );
    }

    #[test]
    fn a_file_without_the_expected_header_is_refused_whole() {
        for text in ["", "lead,stage,at\nu1,won,2026-11-02\n", "stage,lead_id,at,reason,revenue\n"] {
            let error = parse_outcomes_csv(text.as_bytes()).unwrap_err();
            assert_eq!(error.line, 1, "{text:?}");
        }
    }

    #[test]
    fn spend_rows_take_dates_or_times_and_report_bad_lines() {
        let text = "channel,from,to,amount\n\
                    google,2026-11-01,2026-11-30,3000\n\
                    meta,2026-11-01T00:00:00Z,2026-11-15T00:00:00Z,12.5\n\
                    meta,2026-11-15,2026-11-01,10\n\
                    email,2026-11-01,2026-11-30,-1\n\
                    email,11/01/2026,2026-11-30,1\n";
        let parsed = parse_spend_csv(text.as_bytes()).unwrap();
        assert_eq!(
            parsed.rows.iter().map(|row| (row.line, row.value.clone())).collect::<Vec<_>>(),
            [
                (
                    2,
                    Spend {
                        channel: "google".into(),
                        from: time("2026-11-01T00:00:00Z"),
                        to: time("2026-11-30T00:00:00Z"),
                        amount: 3000.0
                    }
                ),
                (
                    3,
                    Spend {
                        channel: "meta".into(),
                        from: time("2026-11-01T00:00:00Z"),
                        to: time("2026-11-15T00:00:00Z"),
                        amount: 12.5
                    }
                ),
            ]
        );
        let bad: Vec<(u64, Option<&str>)> =
            parsed.errors.iter().map(|error| (error.line, error.field.as_deref())).collect();
        assert_eq!(bad, [(4, Some("to")), (5, Some("amount")), (6, Some("from"))]);
    }

    #[test]
    fn every_stage_parses_from_its_name_and_nothing_else_does() {
        for stage in OutcomeStage::ALL {
            assert_eq!(OutcomeStage::parse(stage.as_str()), Some(stage));
        }
        for text in ["", "Won", "mql", "lead", " won"] {
            assert_eq!(OutcomeStage::parse(text), None, "{text:?}");
        }
    }
}
