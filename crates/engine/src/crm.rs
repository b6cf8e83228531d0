//! Leads from a CRM export: a CSV file (HubSpot, Salesforce, Zoho,
//! Pipedrive...) read through a mapping file that says which column is the
//! lead's id, which are its traits (renamed and typed), and which holds its
//! outcome. Pure: callers read the files and hand over text and records.
//!
//! Each good row becomes one Segment `identify` message (so it is stored and
//! scored exactly as if an SDK had sent it) and, when the mapping has an
//! `[outcome]`, one outcome. The message's `messageId` is derived from the
//! lead id and a hash of what was imported, so importing the same file twice
//! changes nothing, while a row whose values changed is a new `identify`
//! that updates the lead's traits.
//!
//! The mapping file is checked like a model file (see `model/parse.rs`):
//! every problem at once, each with its line, column and key. The choices
//! are documented in docs/import.md.

use crate::outcome::{LineError, Outcome, OutcomeStage, parse_time};
use crate::positions::Positions;
use crate::time::EventTime;
use serde_json::{Map, Number, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// How a column's text becomes a trait value.
#[derive(Clone, Debug, PartialEq)]
pub enum TraitType {
    /// A JSON number (`12`, `3.5`, `-1e3`; surrounding spaces ignored).
    Number,
    /// `true` or `false`; the texts compared without regard to case.
    Bool { true_values: Vec<String>, false_values: Vec<String> },
    /// The text as written, surrounding spaces removed.
    Text,
}

/// The texts a `bool` column accepts unless the mapping says otherwise.
pub const DEFAULT_TRUE_VALUES: [&str; 4] = ["yes", "true", "1", "y"];
pub const DEFAULT_FALSE_VALUES: [&str; 4] = ["no", "false", "0", "n"];

/// One column imported as a trait.
#[derive(Clone, Debug, PartialEq)]
pub struct TraitMapping {
    pub column: String,
    /// The trait's name in Qualify (what fit rules refer to).
    pub name: String,
    pub kind: TraitType,
    /// Texts that mean "no value" for this column, besides the empty cell;
    /// `None` uses the `[source]` list.
    pub missing: Option<Vec<String>>,
}

/// The column that says what became of the lead.
#[derive(Clone, Debug, PartialEq)]
pub struct OutcomeMapping {
    pub column: String,
    /// Column text → stage. A text not listed (and not missing) is a bad row.
    pub values: Vec<(String, OutcomeStage)>,
    /// A column with the outcome's time (e.g. a close date).
    pub at_column: Option<String>,
    /// The outcome's time when there is no `at_column` or its cell is empty;
    /// without it, the lead's own time.
    pub at: Option<EventTime>,
}

/// A checked mapping file.
#[derive(Clone, Debug, PartialEq)]
pub struct Mapping {
    pub id_column: String,
    pub email_column: Option<String>,
    pub created_at_column: Option<String>,
    pub channel_column: Option<String>,
    /// The lead's time when there is no `created_at` column or its cell is
    /// empty.
    pub at: Option<EventTime>,
    /// Texts that mean "no value" in any column, besides the empty cell.
    pub missing: Vec<String>,
    pub traits: Vec<TraitMapping>,
    pub outcome: Option<OutcomeMapping>,
    /// Columns deliberately left out.
    pub ignore: Vec<String>,
    /// Where each column name was written, to point at it when the file
    /// lacks that column.
    column_places: Vec<ColumnPlace>,
}

#[derive(Clone, Debug, PartialEq)]
struct ColumnPlace {
    column: String,
    line: usize,
    column_number: usize,
    key: String,
}

/// One problem in a mapping file, or between the mapping and a CSV header.
#[derive(Clone, Debug, PartialEq)]
pub struct MappingError {
    /// 1-based line of the offending key or value in the mapping file.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The key at fault, with its section: `source.id`, `trait #3.type`.
    pub key: Option<String>,
    pub message: String,
}

/// Every problem found, in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct MappingErrors(pub Vec<MappingError>);

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}: ", self.line, self.column)?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl fmt::Display for MappingErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for MappingError {}
impl std::error::Error for MappingErrors {}

type Item<'i> = Spanned<DeValue<'i>>;

const TOP_LEVEL_KEYS: [&str; 4] = ["ignore", "source", "trait", "outcome"];
const SOURCE_KEYS: [&str; 6] = ["id", "email", "created_at", "channel", "at", "missing"];
const TRAIT_KEYS: [&str; 6] = ["column", "name", "type", "missing", "true_values", "false_values"];
const TRAIT_TYPES: [&str; 3] = ["number", "bool", "text"];
const OUTCOME_KEYS: [&str; 4] = ["column", "values", "at", "at_column"];

impl Mapping {
    /// Reads and checks a mapping file; every problem is reported at once.
    pub fn parse(text: &str) -> Result<Mapping, MappingErrors> {
        let mut checker = Checker::new(text);
        let document = match DeTable::parse(text) {
            Ok(document) => document,
            Err(error) => {
                let offset = error.span().map_or(0, |span| span.start);
                checker.report(offset..offset, None, format!("invalid TOML: {}", error.message().trim()));
                return Err(MappingErrors(checker.errors));
            }
        };
        let mapping = checker.mapping(document.get_ref());
        match mapping {
            Some(mapping) if checker.errors.is_empty() => Ok(mapping),
            _ => {
                checker.errors.sort_by_key(|error| (error.line, error.column));
                Err(MappingErrors(checker.errors))
            }
        }
    }

    /// Matches the mapping with a CSV header. A column the mapping names
    /// that the header lacks (or has twice) is an error at the place the
    /// mapping names it.
    pub fn bind(&self, header: &[String]) -> Result<Binding, MappingErrors> {
        let mut positions: HashMap<&str, Vec<usize>> = HashMap::new();
        for (index, name) in header.iter().enumerate() {
            positions.entry(name.trim()).or_default().push(index);
        }
        let mut errors = Vec::new();
        let mut index_of = |column: &str| -> Option<usize> {
            match positions.get(column).map(Vec::as_slice) {
                Some([index]) => Some(*index),
                found => {
                    let place = self.column_places.iter().find(|place| place.column == column);
                    let message = match found {
                        Some(_) => format!("the file has more than one column named {column:?}"),
                        None => format!("the file has no column {column:?}"),
                    };
                    errors.push(MappingError {
                        line: place.map_or(1, |place| place.line),
                        column: place.map_or(1, |place| place.column_number),
                        key: place.map(|place| place.key.clone()),
                        message,
                    });
                    None
                }
            }
        };
        let id = index_of(&self.id_column);
        let email = self.email_column.as_deref().map(&mut index_of);
        let created_at = self.created_at_column.as_deref().map(&mut index_of);
        let channel = self.channel_column.as_deref().map(&mut index_of);
        let traits: Vec<Option<usize>> = self.traits.iter().map(|mapped| index_of(&mapped.column)).collect();
        let outcome = self.outcome.as_ref().map(|outcome| index_of(&outcome.column));
        let outcome_at = self.outcome.as_ref().and_then(|outcome| outcome.at_column.as_deref()).map(&mut index_of);
        // Ignored columns the file lacks are harmless (exports vary), so
        // they are not looked up.
        if !errors.is_empty() {
            return Err(MappingErrors(errors));
        }
        let used: HashSet<&str> = self.column_places.iter().map(|place| place.column.as_str()).collect();
        let mut unmapped = Vec::new();
        let mut ignored = Vec::new();
        let mut unnamed = Vec::new();
        for (index, name) in header.iter().enumerate() {
            let name = name.trim();
            if name.is_empty() {
                unnamed.push(index + 1);
            } else if self.ignore.iter().any(|ignore| ignore == name) {
                ignored.push(name.to_owned());
            } else if !used.contains(name) {
                unmapped.push(name.to_owned());
            }
        }
        // Every lookup succeeded, so the unwraps below cannot fail.
        Ok(Binding {
            mapping: self.clone(),
            id: id.unwrap_or_default(),
            email: email.flatten(),
            created_at: created_at.flatten(),
            channel: channel.flatten(),
            traits: traits.into_iter().map(Option::unwrap_or_default).collect(),
            outcome: outcome.flatten(),
            outcome_at: outcome_at.flatten(),
            unmapped,
            ignored,
            unnamed,
            seen: HashMap::new(),
        })
    }
}

/// A mapping matched with a file's header: converts its rows.
#[derive(Clone, Debug)]
pub struct Binding {
    mapping: Mapping,
    id: usize,
    email: Option<usize>,
    created_at: Option<usize>,
    channel: Option<usize>,
    traits: Vec<usize>,
    outcome: Option<usize>,
    outcome_at: Option<usize>,
    /// Columns of the file the mapping neither uses nor ignores.
    pub unmapped: Vec<String>,
    /// Columns of the file the mapping ignores on purpose.
    pub ignored: Vec<String>,
    /// 1-based positions of columns without a name (a trailing comma on
    /// every line gives one); they are never imported.
    pub unnamed: Vec<usize>,
    /// Lead id → the line it was first imported from, to refuse duplicates.
    seen: HashMap<String, u64>,
}

/// One good row: the lead as an NDJSON `identify` message, and its outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportedRow {
    pub line: u64,
    pub lead_id: String,
    /// One line of NDJSON (no newline).
    pub message: String,
    pub outcome: Option<Outcome>,
}

impl Binding {
    fn missing_for(&self, missing: Option<&Vec<String>>, text: &str) -> bool {
        text.is_empty() || missing.unwrap_or(&self.mapping.missing).iter().any(|value| value == text)
    }

    /// Converts one record (its first line in the file is `line`, the
    /// header being line 1). A bad row gives every problem it has, each
    /// with the column at fault; nothing of it is imported.
    pub fn convert(&mut self, record: &csv::StringRecord, line: u64) -> Result<ImportedRow, Vec<LineError>> {
        let mapping = &self.mapping;
        let cell = |index: usize| record.get(index).unwrap_or("").trim();
        let mut errors = Vec::new();
        let mut error = |column: &str, reason: String| {
            errors.push(LineError { line, field: Some(column.to_owned()), reason });
        };

        let lead_id = cell(self.id);
        if self.missing_for(None, lead_id) {
            error(&mapping.id_column, "the lead id is empty".to_owned());
        } else if let Some(first) = self.seen.get(lead_id) {
            error(&mapping.id_column, format!("duplicate lead id {lead_id:?} (first on line {first})"));
        }

        let lead_time = match self.created_at.map(cell).filter(|text| !self.missing_for(None, text)) {
            Some(text) => parse_csv_time(text).or_else(|| {
                let column = mapping.created_at_column.as_deref().unwrap_or_default();
                error(column, format!("{text:?} is not a time (RFC 3339, YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS])"));
                None
            }),
            None => mapping.at.or_else(|| {
                let column = mapping.created_at_column.as_deref().unwrap_or_default();
                error(column, "is empty and the mapping gives no `at` time".to_owned());
                None
            }),
        };

        let mut traits = Map::new();
        for (mapped, &index) in mapping.traits.iter().zip(&self.traits) {
            let text = cell(index);
            if self.missing_for(mapped.missing.as_ref(), text) {
                continue;
            }
            match trait_value(&mapped.kind, text) {
                Ok(value) => {
                    traits.insert(mapped.name.clone(), value);
                }
                Err(reason) => error(&mapped.column, reason),
            }
        }
        if let Some(index) = self.email {
            let email = cell(index);
            if !self.missing_for(None, email) {
                traits.insert("email".to_owned(), Value::String(email.to_owned()));
            }
        }

        let outcome = match (&mapping.outcome, self.outcome) {
            (Some(outcome_mapping), Some(index)) => {
                let text = cell(index);
                if self.missing_for(None, text) {
                    None
                } else {
                    match outcome_mapping.values.iter().find(|(value, _)| value == text) {
                        Some((_, stage)) => {
                            let at = match self.outcome_at.map(cell).filter(|text| !self.missing_for(None, text)) {
                                Some(at_text) => parse_csv_time(at_text).or_else(|| {
                                    let column = outcome_mapping.at_column.as_deref().unwrap_or_default();
                                    error(column, format!("{at_text:?} is not a time"));
                                    None
                                }),
                                None => outcome_mapping.at.or(lead_time),
                            };
                            at.map(|at| (*stage, at))
                        }
                        None => {
                            let known: Vec<String> =
                                outcome_mapping.values.iter().map(|(value, _)| format!("{value:?}")).collect();
                            error(
                                &outcome_mapping.column,
                                format!("{text:?} is not one of the mapped values ({})", known.join(", ")),
                            );
                            None
                        }
                    }
                }
            }
            _ => None,
        };

        let channel = self.channel.map(cell).filter(|text| !self.missing_for(None, text));
        if !errors.is_empty() {
            return Err(errors);
        }
        let Some(time) = lead_time else {
            // Unreachable: a missing time was reported above.
            return Err(vec![LineError { line, field: None, reason: "no time".to_owned() }]);
        };
        let mut message = json!({
            "type": "identify",
            "userId": lead_id,
            "timestamp": time.to_rfc3339(),
            "traits": Value::Object(traits),
        });
        if let Some(channel) = channel {
            message["context"] = json!({ "campaign": { "source": channel } });
        }
        // The id names the row's lead and what was imported for it: the
        // same row again is a duplicate, a changed row a new message.
        let digest = xxhash_rust::xxh3::xxh3_64(message.to_string().as_bytes());
        message["messageId"] = Value::String(format!("crm:{lead_id}:{digest:016x}"));
        self.seen.insert(lead_id.to_owned(), line);
        Ok(ImportedRow {
            line,
            lead_id: lead_id.to_owned(),
            message: message.to_string(),
            outcome: outcome.map(|(stage, at)| Outcome {
                lead_id: lead_id.to_owned(),
                stage,
                at,
                reason: None,
                revenue: None,
            }),
        })
    }
}

/// A cell of a typed column as a trait value, or why it is not one.
fn trait_value(kind: &TraitType, text: &str) -> Result<Value, String> {
    match kind {
        TraitType::Text => Ok(Value::String(text.to_owned())),
        TraitType::Number => parse_number(text).ok_or_else(|| format!("{text:?} is not a number")),
        TraitType::Bool { true_values, false_values } => {
            let matches = |values: &[String]| values.iter().any(|value| value.eq_ignore_ascii_case(text));
            if matches(true_values) {
                Ok(Value::Bool(true))
            } else if matches(false_values) {
                Ok(Value::Bool(false))
            } else {
                Err(format!(
                    "{text:?} is not a yes/no value (true: {}; false: {})",
                    true_values.join(", "),
                    false_values.join(", ")
                ))
            }
        }
    }
}

/// A finite number; whole numbers stay integers in the JSON.
fn parse_number(text: &str) -> Option<Value> {
    if let Ok(integer) = text.parse::<i64>() {
        return Some(Value::Number(integer.into()));
    }
    let float = text.parse::<f64>().ok().filter(|float| float.is_finite())?;
    Number::from_f64(float).map(Value::Number)
}

/// A time in a CRM export: RFC 3339, a `YYYY-MM-DD` date (midnight UTC), or
/// a `YYYY-MM-DD HH:MM[:SS]` date and time taken as UTC.
pub fn parse_csv_time(text: &str) -> Option<EventTime> {
    parse_time(text).or_else(|| {
        let civil: jiff::civil::DateTime = text.parse().ok()?;
        jiff::tz::TimeZone::UTC.to_timestamp(civil).ok().map(EventTime::from_timestamp)
    })
}

/// Reads a mapping file's tree, reporting every problem.
struct Checker<'t> {
    text: &'t str,
    positions: Positions<'t>,
    errors: Vec<MappingError>,
    column_places: Vec<ColumnPlace>,
}

impl<'t> Checker<'t> {
    fn new(text: &'t str) -> Self {
        Checker { text, positions: Positions::new(text), errors: Vec::new(), column_places: Vec::new() }
    }

    fn position(&self, offset: usize) -> (usize, usize) {
        self.positions.of(offset)
    }

    fn report(&mut self, span: Range<usize>, key: Option<&str>, message: impl Into<String>) {
        let (line, column) = self.position(span.start);
        self.errors.push(MappingError { line, column, key: key.map(str::to_owned), message: message.into() });
    }

    fn report_unknown_keys(&mut self, table: &DeTable<'_>, allowed: &[&str], section: Option<&str>) {
        for key in table.keys() {
            let name = key.get_ref().as_ref();
            if !allowed.contains(&name) {
                let full = section.map_or(name.to_owned(), |section| format!("{section}.{name}"));
                let message = format!("unknown key (expected one of: {})", allowed.join(", "));
                self.report(key.span(), Some(&full), message);
            }
        }
    }

    fn table<'a, 'i>(&mut self, key: &str, item: &'a Item<'i>) -> Option<&'a DeTable<'i>> {
        match item.get_ref() {
            DeValue::Table(table) => Some(table),
            other => {
                self.report(item.span(), Some(key), format!("must be a table, found {}", other.type_str()));
                None
            }
        }
    }

    fn string(&mut self, key: &str, item: &Item<'_>) -> Option<String> {
        match item.get_ref() {
            DeValue::String(text) if text.trim().is_empty() => {
                self.report(item.span(), Some(key), "must not be empty");
                None
            }
            DeValue::String(text) => Some(text.to_string()),
            other => {
                self.report(item.span(), Some(key), format!("must be a string, found {}", other.type_str()));
                None
            }
        }
    }

    /// A column name, remembered with its place for [`Mapping::bind`].
    fn column(&mut self, key: &str, item: &Item<'_>) -> Option<String> {
        let column = self.string(key, item)?.trim().to_owned();
        let (line, column_number) = self.position(item.span().start);
        self.column_places.push(ColumnPlace { column: column.clone(), line, column_number, key: key.to_owned() });
        Some(column)
    }

    fn optional_column(&mut self, table: &DeTable<'_>, section: &str, key: &str) -> Option<Option<String>> {
        match table.get(key) {
            Some(item) => self.column(&format!("{section}.{key}"), item).map(Some),
            None => Some(None),
        }
    }

    /// A list of strings (an empty string allowed: it is a cell's text).
    fn strings(&mut self, key: &str, item: &Item<'_>) -> Option<Vec<String>> {
        let DeValue::Array(items) = item.get_ref() else {
            let found = item.get_ref().type_str();
            self.report(item.span(), Some(key), format!("must be a list of strings, found {found}"));
            return None;
        };
        let mut values = Vec::new();
        let mut good = true;
        for element in items {
            match element.get_ref() {
                DeValue::String(text) => values.push(text.trim().to_owned()),
                other => {
                    let message = format!("must be a list of strings, found {} in it", other.type_str());
                    self.report(element.span(), Some(key), message);
                    good = false;
                }
            }
        }
        good.then_some(values)
    }

    /// A time: an RFC 3339 string or TOML date-time, or a `YYYY-MM-DD` date.
    fn time(&mut self, key: &str, item: &Item<'_>) -> Option<EventTime> {
        let text = match item.get_ref() {
            DeValue::String(text) => text.to_string(),
            DeValue::Datetime(_) => self.text.get(item.span()).unwrap_or_default().to_owned(),
            other => {
                let message = format!("must be a time such as \"2026-01-01T00:00:00Z\", found {}", other.type_str());
                self.report(item.span(), Some(key), message);
                return None;
            }
        };
        let time = parse_csv_time(text.trim());
        if time.is_none() {
            let message =
                format!("{text:?} is not a time (use RFC 3339, e.g. \"2026-01-01T00:00:00Z\", or YYYY-MM-DD)");
            self.report(item.span(), Some(key), message);
        }
        time
    }

    fn mapping(&mut self, document: &DeTable<'_>) -> Option<Mapping> {
        self.report_unknown_keys(document, &TOP_LEVEL_KEYS, None);
        let ignore = match document.get("ignore") {
            Some(item) => self.strings("ignore", item),
            None => Some(Vec::new()),
        };
        let source = match document.get("source") {
            Some(item) => self.source(item),
            None => {
                self.report(
                    0..0,
                    Some("source"),
                    "missing required table [source] (it names at least the `id` column)",
                );
                None
            }
        };
        let traits = match document.get("trait") {
            Some(item) => match item.get_ref() {
                DeValue::Array(items) => {
                    let traits: Vec<Option<TraitMapping>> =
                        items.iter().enumerate().map(|(index, item)| self.trait_mapping(index + 1, item)).collect();
                    traits.into_iter().collect::<Option<Vec<_>>>()
                }
                other => {
                    let message = format!("must be an array of tables ([[trait]]), found {}", other.type_str());
                    self.report(item.span(), Some("trait"), message);
                    None
                }
            },
            None => Some(Vec::new()),
        };
        let outcome = match document.get("outcome") {
            Some(item) => self.outcome(item).map(Some),
            None => Some(None),
        };
        let (ignore, source, traits, outcome) = (ignore?, source?, traits?, outcome?);
        let mapping = Mapping {
            id_column: source.id,
            email_column: source.email,
            created_at_column: source.created_at,
            channel_column: source.channel,
            at: source.at,
            missing: source.missing,
            traits,
            outcome,
            ignore,
            column_places: std::mem::take(&mut self.column_places),
        };
        self.check_consistency(&mapping, document);
        Some(mapping)
    }

    /// Problems between sections: a column used twice, a trait name twice,
    /// a lead time that can never be found.
    fn check_consistency(&mut self, mapping: &Mapping, document: &DeTable<'_>) {
        // A column may be the channel (or the id...) and also a trait, so
        // that fit rules can use it; two traits from one column are a slip.
        let mut first: HashMap<&str, &ColumnPlace> = HashMap::new();
        let mut repeated = Vec::new();
        for place in mapping.column_places.iter().filter(|place| place.key.starts_with("trait")) {
            match first.get(place.column.as_str()) {
                Some(earlier) => repeated.push((place.clone(), earlier.line)),
                None => {
                    first.insert(&place.column, place);
                }
            }
        }
        for (place, earlier) in repeated {
            self.errors.push(MappingError {
                line: place.line,
                column: place.column_number,
                key: Some(place.key.clone()),
                message: format!("column {:?} is already mapped on line {earlier}", place.column),
            });
        }
        for place in &mapping.column_places {
            if mapping.ignore.contains(&place.column) {
                let span = document.get("ignore").map_or(0..0, |item| item.span());
                self.report(span, Some("ignore"), format!("column {:?} is both mapped and ignored", place.column));
            }
        }
        let mut names: HashMap<&str, usize> = HashMap::new();
        if mapping.email_column.is_some() {
            names.insert("email", 0);
        }
        for (index, mapped) in mapping.traits.iter().enumerate() {
            if let Some(&previous) = names.get(mapped.name.as_str()) {
                let key = format!("trait #{}.column", index + 1);
                let place = mapping.column_places.iter().find(|place| place.key == key);
                let (line, column) = place.map_or((1, 1), |place| (place.line, place.column_number));
                let previous = if previous == 0 { "source.email".to_owned() } else { format!("trait #{previous}") };
                self.errors.push(MappingError {
                    line,
                    column,
                    key: Some(format!("trait #{}.name", index + 1)),
                    message: format!("trait name {:?} is already used by {previous}", mapped.name),
                });
            } else {
                names.insert(&mapped.name, index + 1);
            }
        }
    }

    fn source(&mut self, item: &Item<'_>) -> Option<SourceSection> {
        let table = self.table("source", item)?;
        self.report_unknown_keys(table, &SOURCE_KEYS, Some("source"));
        let id = match table.get("id") {
            Some(value) => self.column("source.id", value),
            None => {
                self.report(item.span(), Some("source.id"), "missing required key (the column of the lead id)");
                None
            }
        };
        let email = self.optional_column(table, "source", "email");
        let created_at = self.optional_column(table, "source", "created_at");
        let channel = self.optional_column(table, "source", "channel");
        let at = match table.get("at") {
            Some(value) => self.time("source.at", value).map(Some),
            None => Some(None),
        };
        let missing = match table.get("missing") {
            Some(value) => self.strings("source.missing", value),
            None => Some(Vec::new()),
        };
        if !table.contains_key("created_at") && !table.contains_key("at") {
            let message = "give `at` (the time of every lead, e.g. \"2026-01-01T00:00:00Z\") or a `created_at` column";
            self.report(item.span(), Some("source"), message);
        }
        Some(SourceSection {
            id: id?,
            email: email?,
            created_at: created_at?,
            channel: channel?,
            at: at?,
            missing: missing?,
        })
    }

    fn trait_mapping(&mut self, number: usize, item: &Item<'_>) -> Option<TraitMapping> {
        let section = format!("trait #{number}");
        let table = self.table(&section, item)?;
        self.report_unknown_keys(table, &TRAIT_KEYS, Some(&section));
        let column = match table.get("column") {
            Some(value) => self.column(&format!("{section}.column"), value),
            None => {
                self.report(item.span(), Some(&format!("{section}.column")), "missing required key");
                None
            }
        };
        let name = match table.get("name") {
            Some(value) => {
                let key = format!("{section}.name");
                self.string(&key, value).and_then(|name| {
                    let allowed = |c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | '-');
                    if name.chars().all(allowed) {
                        Some(name)
                    } else {
                        self.report(value.span(), Some(&key), format!("{name:?} may only hold letters, digits, _ . -"));
                        None
                    }
                })
            }
            None => column.as_deref().map(snake_case),
        };
        let kind_name = match table.get("type") {
            Some(value) => {
                let key = format!("{section}.type");
                self.string(&key, value).and_then(|kind| {
                    if TRAIT_TYPES.contains(&kind.as_str()) {
                        Some((kind, value.span()))
                    } else {
                        let message = format!("unknown type {kind:?} (expected one of: {})", TRAIT_TYPES.join(", "));
                        self.report(value.span(), Some(&key), message);
                        None
                    }
                })
            }
            None => Some(("text".to_owned(), item.span())),
        };
        let mut values = |key: &str, defaults: &[&str]| -> Option<Vec<String>> {
            match table.get_key_value(key) {
                Some((key_item, value)) => {
                    let full = format!("{section}.{key}");
                    if kind_name.as_ref().is_some_and(|(kind, _)| kind != "bool") {
                        self.report(key_item.span(), Some(&full), "only applies to type = \"bool\"");
                        return None;
                    }
                    let values = self.strings(&full, value)?;
                    if values.is_empty() {
                        self.report(value.span(), Some(&full), "must list at least one value");
                        return None;
                    }
                    Some(values)
                }
                None => Some(defaults.iter().map(|value| (*value).to_owned()).collect()),
            }
        };
        let true_values = values("true_values", &DEFAULT_TRUE_VALUES);
        let false_values = values("false_values", &DEFAULT_FALSE_VALUES);
        let missing = match table.get("missing") {
            Some(value) => self.strings(&format!("{section}.missing"), value).map(Some),
            None => Some(None),
        };
        let kind = match kind_name?.0.as_str() {
            "number" => TraitType::Number,
            "bool" => TraitType::Bool { true_values: true_values?, false_values: false_values? },
            _ => TraitType::Text,
        };
        if let TraitType::Bool { true_values, false_values } = &kind
            && let Some(both) =
                true_values.iter().find(|value| false_values.iter().any(|f| f.eq_ignore_ascii_case(value)))
        {
            let span = table.get("true_values").map_or(item.span(), |value| value.span());
            self.report(span, Some(&format!("{section}.true_values")), format!("{both:?} is both true and false"));
            return None;
        }
        Some(TraitMapping { column: column?, name: name?, kind, missing: missing? })
    }

    fn outcome(&mut self, item: &Item<'_>) -> Option<OutcomeMapping> {
        let table = self.table("outcome", item)?;
        self.report_unknown_keys(table, &OUTCOME_KEYS, Some("outcome"));
        let column = match table.get("column") {
            Some(value) => self.column("outcome.column", value),
            None => {
                self.report(item.span(), Some("outcome.column"), "missing required key");
                None
            }
        };
        let at_column = self.optional_column(table, "outcome", "at_column");
        let at = match table.get("at") {
            Some(value) => self.time("outcome.at", value).map(Some),
            None => Some(None),
        };
        let values = match table.get("values") {
            Some(value) => self.outcome_values(value),
            None => {
                let message = "missing required key (e.g. values = { \"1\" = \"won\", \"0\" = \"lost\" })";
                self.report(item.span(), Some("outcome.values"), message);
                None
            }
        };
        Some(OutcomeMapping { column: column?, values: values?, at_column: at_column?, at: at? })
    }

    fn outcome_values(&mut self, item: &Item<'_>) -> Option<Vec<(String, OutcomeStage)>> {
        let table = self.table("outcome.values", item)?;
        let mut values = Vec::new();
        let mut good = true;
        // The parser's table is ordered by key; the file's order is kept,
        // since it is the order error messages list the values in.
        let mut entries: Vec<_> = table.iter().collect();
        entries.sort_by_key(|(key, _)| key.span().start);
        for (key, value) in entries {
            let text = key.get_ref().trim().to_owned();
            let full = format!("outcome.values.{:?}", key.get_ref());
            let stage = match value.get_ref() {
                DeValue::String(stage) => OutcomeStage::parse(stage),
                _ => None,
            };
            match stage {
                Some(stage) => values.push((text, stage)),
                None => {
                    let found = self.text.get(value.span()).unwrap_or("?").to_owned();
                    let message =
                        format!("{found} is not a stage (use one of: accepted, rejected, sql, opportunity, won, lost)");
                    self.report(value.span(), Some(&full), message);
                    good = false;
                }
            }
        }
        if good && values.is_empty() {
            self.report(item.span(), Some("outcome.values"), "must map at least one value to a stage");
            good = false;
        }
        good.then_some(values)
    }
}

struct SourceSection {
    id: String,
    email: Option<String>,
    created_at: Option<String>,
    channel: Option<String>,
    at: Option<EventTime>,
    missing: Vec<String>,
}

/// A column name as a trait name: `What is your current occupation` →
/// `what_is_your_current_occupation`.
pub fn snake_case(column: &str) -> String {
    let mut name = String::new();
    let mut previous_lower = false;
    for c in column.trim().chars() {
        if c.is_alphanumeric() {
            // `TotalVisits` → `total_visits`.
            if c.is_uppercase() && previous_lower && !name.ends_with('_') {
                name.push('_');
            }
            name.extend(c.to_lowercase());
            previous_lower = c.is_lowercase() || c.is_numeric();
        } else {
            if !name.is_empty() && !name.ends_with('_') {
                name.push('_');
            }
            previous_lower = false;
        }
    }
    while name.ends_with('_') {
        name.pop();
    }
    if name.is_empty() { "column".to_owned() } else { name }
}

// Inferring a starting mapping from a file.

/// Texts that exports use for "no value" and that an inferred mapping lists
/// in `missing` when a column holds them.
const PLACEHOLDERS: [&str; 7] = ["Select", "N/A", "n/a", "NA", "null", "NULL", "-"];
/// Columns with at most this many distinct values have them listed.
const LISTED_VALUES: usize = 20;

/// What a pass over a file learned about one column.
#[derive(Default)]
pub struct ColumnStats {
    name: String,
    /// Cells that were not empty and not a placeholder.
    present: u64,
    all_numbers: bool,
    all_bools: bool,
    all_times: bool,
    contains_at: bool,
    /// Distinct values with their counts, until there are too many.
    distinct: Option<BTreeMap<String, u64>>,
    /// Every value seen, while the column could still be an id.
    unique: Option<HashSet<String>>,
    placeholders: BTreeMap<String, u64>,
}

/// Collects per-column statistics from records, to write a mapping.
pub struct Inference {
    columns: Vec<ColumnStats>,
    rows: u64,
}

impl Inference {
    pub fn new(header: &[String]) -> Self {
        let columns = header
            .iter()
            .map(|name| ColumnStats {
                name: name.trim().to_owned(),
                all_numbers: true,
                all_bools: true,
                all_times: true,
                distinct: Some(BTreeMap::new()),
                unique: Some(HashSet::new()),
                ..ColumnStats::default()
            })
            .collect();
        Inference { columns, rows: 0 }
    }

    pub fn add(&mut self, record: &csv::StringRecord) {
        self.rows += 1;
        for (index, column) in self.columns.iter_mut().enumerate() {
            let text = record.get(index).unwrap_or("").trim();
            if column.unique.as_mut().is_some_and(|unique| text.is_empty() || !unique.insert(text.to_owned())) {
                column.unique = None;
            }
            if text.is_empty() {
                continue;
            }
            if PLACEHOLDERS.contains(&text) {
                *column.placeholders.entry(text.to_owned()).or_default() += 1;
                continue;
            }
            column.present += 1;
            column.all_numbers &= parse_number(text).is_some();
            column.all_bools &= ["yes", "no", "true", "false"].iter().any(|value| value.eq_ignore_ascii_case(text));
            // Bare numbers are not times, even where they would parse as one.
            column.all_times &= !text.chars().all(|c| c.is_ascii_digit() || c == '.') && parse_csv_time(text).is_some();
            column.contains_at |= text.contains('@');
            if let Some(distinct) = &mut column.distinct {
                *distinct.entry(text.to_owned()).or_default() += 1;
                if distinct.len() > LISTED_VALUES {
                    column.distinct = None;
                }
            }
        }
    }

    /// A mapping file for the columns seen, for the user to edit: every
    /// named column is a trait (number, bool or text) except the ones taken
    /// as id, email, creation time, channel and (for a column named like
    /// "Converted" with 0/1 or yes/no values) the outcome.
    pub fn mapping_text(&self, file_name: &str, at: EventTime) -> String {
        let named: Vec<&ColumnStats> = self.columns.iter().filter(|column| !column.name.is_empty()).collect();
        let lower = |column: &ColumnStats| column.name.to_lowercase();
        // "Prospect ID", "lead_id", "LeadId", but not "Paid".
        let is_id_name = |column: &ColumnStats| {
            column.name.split(|c: char| !c.is_alphanumeric()).any(|word| word.eq_ignore_ascii_case("id"))
                || column.name.ends_with("Id")
                || column.name.ends_with("ID")
        };
        let id = named
            .iter()
            .find(|column| column.unique.is_some() && is_id_name(column))
            .or_else(|| named.iter().find(|column| column.unique.is_some()))
            .or_else(|| named.first())
            .map(|column| column.name.as_str());
        let taken = |name: &str, chosen: &[Option<&str>]| chosen.contains(&Some(name));
        let email = named
            .iter()
            .find(|column| lower(column).contains("email") && column.contains_at && !taken(&column.name, &[id]))
            .map(|column| column.name.as_str());
        let created_at = named
            .iter()
            .find(|column| {
                let name = lower(column);
                (name.contains("creat") || name.contains("date"))
                    && column.present > 0
                    && column.all_times
                    && !taken(&column.name, &[id, email])
            })
            .map(|column| column.name.as_str());
        let channel = named
            .iter()
            .find(|column| lower(column).contains("source") && !taken(&column.name, &[id, email, created_at]))
            .map(|column| column.name.as_str());
        let outcome = named
            .iter()
            .find(|column| {
                let name = lower(column);
                (name.contains("convert") || name == "won" || name == "is_won")
                    && column.distinct.as_ref().is_some_and(|distinct| {
                        distinct.len() == 2
                            && (distinct.keys().all(|value| value == "0" || value == "1")
                                || distinct.keys().all(|value| ["yes", "no"].contains(&value.to_lowercase().as_str())))
                    })
                    && !taken(&column.name, &[id, email, created_at, channel])
            })
            .copied();
        let chosen = [id, email, created_at, channel, outcome.map(|column| column.name.as_str())];
        let mut placeholders: BTreeMap<&str, u64> = BTreeMap::new();
        for column in &named {
            for (value, count) in &column.placeholders {
                *placeholders.entry(value.as_str()).or_default() += count;
            }
        }

        let quote = |text: &str| Value::String(text.to_owned()).to_string();
        let mut out = String::new();
        // Writing to a `String` cannot fail, so the `fmt::Result`s are dropped.
        let _ = writeln!(
            out,
            "# A starting mapping for {file_name} ({} rows), written by `qualify import leads --infer-map`.",
            self.rows
        );
        let _ = writeln!(out, "# Check every guess, rename traits, and move the columns that must not be used");
        let _ = writeln!(out, "# (e.g. ones sales fill in after contact: they leak the outcome) to `ignore`.");
        let _ = writeln!(out, "# See docs/import.md.");
        let _ = writeln!(out);
        let _ = writeln!(out, "ignore = []");
        let _ = writeln!(out);
        let _ = writeln!(out, "[source]");
        let _ = writeln!(out, "id = {}", quote(id.unwrap_or("?")));
        if let Some(email) = email {
            let _ = writeln!(out, "email = {}", quote(email));
        }
        match created_at {
            Some(created_at) => {
                let _ = writeln!(out, "created_at = {}", quote(created_at));
                let _ = writeln!(out, "# The time of leads whose created_at cell is empty.");
            }
            None => {
                let _ = writeln!(out, "# No creation time column was found: every lead gets this time.");
            }
        }
        let _ = writeln!(out, "at = {}", quote(&at.to_rfc3339()));
        if let Some(channel) = channel {
            let _ = writeln!(out, "channel = {}", quote(channel));
        }
        let missing: Vec<String> = placeholders.keys().map(|value| quote(value)).collect();
        if !placeholders.is_empty() {
            let counts: Vec<String> =
                placeholders.iter().map(|(value, count)| format!("{value:?} in {count} cells")).collect();
            let _ = writeln!(out, "# Seen as placeholders: {}.", counts.join(", "));
        }
        let _ = writeln!(out, "missing = [{}]", missing.join(", "));

        if let Some(outcome) = outcome {
            let distinct = outcome
                .distinct
                .as_ref()
                .map(|distinct| distinct.keys().cloned().collect())
                .unwrap_or(Vec::<String>::new());
            let (won, lost) = if distinct.contains(&"1".to_owned()) {
                ("1".to_owned(), "0".to_owned())
            } else {
                let yes = distinct.iter().find(|value| value.eq_ignore_ascii_case("yes")).cloned().unwrap_or_default();
                let no = distinct.iter().find(|value| value.eq_ignore_ascii_case("no")).cloned().unwrap_or_default();
                (yes, no)
            };
            let _ = writeln!(out);
            let _ = writeln!(out, "[outcome]");
            let _ = writeln!(out, "column = {}", quote(&outcome.name));
            let _ = writeln!(out, "at = {}", quote(&at.to_rfc3339()));
            let _ = writeln!(out, "values = {{ {} = \"won\", {} = \"lost\" }}", quote(&won), quote(&lost));
        } else {
            let _ = writeln!(out);
            let _ = writeln!(out, "# No outcome column was recognised. If one says what became of the lead:");
            let _ = writeln!(out, "# [outcome]");
            let _ = writeln!(out, "# column = \"Status\"");
            let _ = writeln!(out, "# values = {{ \"Closed Won\" = \"won\", \"Closed Lost\" = \"lost\" }}");
        }

        let mut names: HashSet<String> = HashSet::new();
        if email.is_some() {
            names.insert("email".to_owned());
        }
        for column in named.iter().filter(|column| !taken(&column.name, &chosen)) {
            let mut name = snake_case(&column.name);
            let base = name.clone();
            let mut suffix = 2;
            while !names.insert(name.clone()) {
                name = format!("{base}_{suffix}");
                suffix += 1;
            }
            let kind = if column.present == 0 {
                "text"
            } else if column.all_bools {
                "bool"
            } else if column.all_numbers {
                "number"
            } else {
                "text"
            };
            let _ = writeln!(out);
            let _ = writeln!(out, "[[trait]]");
            let _ = writeln!(out, "column = {}", quote(&column.name));
            let _ = writeln!(out, "name = {}", quote(&name));
            let _ = writeln!(out, "type = \"{kind}\"");
            if column.present == 0 {
                let _ = writeln!(out, "# Always empty in this file.");
            } else if kind == "text" || kind == "bool" {
                match &column.distinct {
                    Some(distinct) => {
                        let mut values: Vec<(&String, &u64)> = distinct.iter().collect();
                        values.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
                        let listed: Vec<String> =
                            values.iter().map(|(value, count)| format!("{} ({count})", quote(value))).collect();
                        let _ = writeln!(out, "# {} value(s): {}", values.len(), listed.join(", "));
                    }
                    None => {
                        let _ = writeln!(out, "# More than {LISTED_VALUES} distinct values.");
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    fn record(cells: &[&str]) -> csv::StringRecord {
        csv::StringRecord::from(cells.to_vec())
    }

    /// Parses `mapping`, binds it to `columns` and converts each row (lines
    /// numbered from 2): the messages as JSON or the errors as text.
    fn import(mapping: &str, columns: &[&str], rows: &[&[&str]]) -> Vec<Result<Value, Vec<String>>> {
        let mapping = Mapping::parse(mapping).unwrap_or_else(|errors| panic!("{errors}"));
        let mut binding = mapping.bind(&header(columns)).unwrap_or_else(|errors| panic!("{errors}"));
        rows.iter()
            .enumerate()
            .map(|(index, cells)| match binding.convert(&record(cells), index as u64 + 2) {
                Ok(row) => {
                    let mut message: Value = serde_json::from_str(&row.message).unwrap();
                    if let Some(outcome) = row.outcome {
                        message["outcome"] = json!([outcome.stage.as_str(), outcome.at.to_rfc3339()]);
                    }
                    Ok(message)
                }
                Err(errors) => Err(errors.iter().map(ToString::to_string).collect()),
            })
            .collect()
    }

    fn errors(mapping: &str) -> Vec<String> {
        match Mapping::parse(mapping) {
            Ok(_) => panic!("the mapping was accepted"),
            Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
        }
    }

    const TYPED: &str = r#"
[source]
id = "ID"
email = "E-mail"
channel = "Source"
at = "2026-01-01T00:00:00Z"
missing = ["Select"]

[[trait]]
column = "Visits"
type = "number"

[[trait]]
column = "Do Not Email"
name = "do_not_email"
type = "bool"

[[trait]]
column = "Occupation"
name = "occupation"

[[trait]]
column = "Paid"
type = "bool"
true_values = ["Paid"]
false_values = ["Unpaid"]
missing = ["?"]

[outcome]
column = "Converted"
at = "2026-02-01T00:00:00Z"
values = { "1" = "won", "0" = "lost" }
"#;
    const TYPED_COLUMNS: [&str; 8] =
        ["ID", "E-mail", "Source", "Visits", "Do Not Email", "Occupation", "Paid", "Converted"];

    #[test]
    fn every_mapping_type_becomes_a_typed_trait_and_missing_values_are_left_out() {
        let rows = import(
            TYPED,
            &TYPED_COLUMNS,
            &[
                &["a1", "a@x.com", "Google", "3", "No", "Student", "Paid", "1"],
                &["a2", "", "Select", " 2.5 ", "YES", "Select", "?", "0"],
                &["a3", "Select", "", "", "true", "", "unpaid", ""],
            ],
        );
        let first = rows[0].as_ref().unwrap();
        assert_eq!(first["type"], "identify");
        assert_eq!(first["userId"], "a1");
        assert_eq!(first["timestamp"], "2026-01-01T00:00:00Z");
        assert_eq!(
            first["traits"],
            json!({"visits": 3, "do_not_email": false, "occupation": "Student", "paid": true, "email": "a@x.com"})
        );
        assert_eq!(first["context"]["campaign"]["source"], "Google");
        assert_eq!(first["outcome"], json!(["won", "2026-02-01T00:00:00Z"]));
        let second = rows[1].as_ref().unwrap();
        // "Select" is missing everywhere except where a trait has its own list.
        assert_eq!(second["traits"], json!({"visits": 2.5, "do_not_email": true}));
        assert_eq!(second.get("context"), None);
        assert_eq!(second["outcome"], json!(["lost", "2026-02-01T00:00:00Z"]));
        let third = rows[2].as_ref().unwrap();
        assert_eq!(third["traits"], json!({"do_not_email": true, "paid": false}));
        assert_eq!(third.get("outcome"), None);
    }

    #[test]
    fn a_bad_row_names_its_line_and_every_bad_column_and_the_next_rows_still_convert() {
        let rows = import(
            TYPED,
            &TYPED_COLUMNS,
            &[
                &["a1", "", "", "abc", "maybe", "", "", "2"],
                &["", "", "", "1", "", "", "", ""],
                &["a2", "", "", "1", "", "", "", ""],
                &["a2", "", "", "1", "", "", "", ""],
            ],
        );
        assert_eq!(
            rows[0].as_ref().unwrap_err(),
            &[
                "line 2: Visits: \"abc\" is not a number",
                "line 2: Do Not Email: \"maybe\" is not a yes/no value (true: yes, true, 1, y; false: no, false, 0, n)",
                "line 2: Converted: \"2\" is not one of the mapped values (\"1\", \"0\")",
            ]
        );
        assert_eq!(rows[1].as_ref().unwrap_err(), &["line 3: ID: the lead id is empty"]);
        assert!(rows[2].is_ok());
        assert_eq!(rows[3].as_ref().unwrap_err(), &["line 5: ID: duplicate lead id \"a2\" (first on line 4)"]);
    }

    #[test]
    fn the_message_id_is_the_same_for_the_same_row_and_changes_with_its_values() {
        let run = |visits: &str| {
            import(TYPED, &TYPED_COLUMNS, &[&["a1", "", "", visits, "", "", "", ""]])[0].as_ref().unwrap()["messageId"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(run("3"), run("3"));
        assert!(run("3").starts_with("crm:a1:"));
        assert_ne!(run("3"), run("4"));
    }

    #[test]
    fn a_created_at_column_gives_the_lead_and_outcome_times_and_the_at_time_fills_empty_cells() {
        let mapping = r#"
[source]
id = "id"
created_at = "Created"
at = "2026-01-01"

[outcome]
column = "Stage"
at_column = "Closed"
values = { "Closed Won" = "won", "Closed Lost" = "lost", "Open" = "sql" }
"#;
        let rows = import(
            mapping,
            &["id", "Created", "Stage", "Closed"],
            &[
                &["a", "2025-03-04 10:20", "Closed Won", "2025-04-01"],
                &["b", "", "Open", ""],
                &["c", "yesterday", "Closed Lost", "soon"],
            ],
        );
        assert_eq!(rows[0].as_ref().unwrap()["timestamp"], "2025-03-04T10:20:00Z");
        assert_eq!(rows[0].as_ref().unwrap()["outcome"], json!(["won", "2025-04-01T00:00:00Z"]));
        assert_eq!(rows[1].as_ref().unwrap()["timestamp"], "2026-01-01T00:00:00Z");
        // Without an outcome time, the lead's own.
        assert_eq!(rows[1].as_ref().unwrap()["outcome"], json!(["sql", "2026-01-01T00:00:00Z"]));
        assert_eq!(rows[2].as_ref().unwrap_err().len(), 2);
    }

    #[test]
    fn binding_lists_unmapped_ignored_and_unnamed_columns_and_refuses_missing_ones() {
        let mapping = Mapping::parse(
            "ignore = [\"Tags\", \"Gone\"]\n[source]\nid = \"ID\"\nat = \"2026-01-01\"\n[[trait]]\ncolumn = \"City\"\n",
        )
        .unwrap();
        let binding = mapping.bind(&header(&["ID", "City", "Tags", "Country", ""])).unwrap();
        assert_eq!(binding.unmapped, ["Country"]);
        assert_eq!(binding.ignored, ["Tags"]);
        assert_eq!(binding.unnamed, [5]);
        let errors = mapping.bind(&header(&["ID", "Town"])).unwrap_err();
        assert_eq!(errors.to_string(), "line 6, column 10: trait #1.column: the file has no column \"City\"");
        let errors = mapping.bind(&header(&["ID", "City", "City"])).unwrap_err();
        assert_eq!(
            errors.to_string(),
            "line 6, column 10: trait #1.column: the file has more than one column named \"City\""
        );
    }

    #[test]
    fn mapping_errors_name_their_line_and_key_all_at_once() {
        let text = r#"
[source]
id = "ID"
colour = "red"

[[trait]]
column = "Visits"
type = "integer"

[[trait]]
name = "x"

[[trait]]
column = "Visits"
type = "number"
true_values = ["y"]

[outcome]
column = "Converted"
values = { "1" = "customer" }
"#;
        assert_eq!(
            errors(text),
            [
                "line 2, column 1: source: give `at` (the time of every lead, e.g. \"2026-01-01T00:00:00Z\") or a `created_at` column",
                "line 4, column 1: source.colour: unknown key (expected one of: id, email, created_at, channel, at, missing)",
                "line 8, column 8: trait #1.type: unknown type \"integer\" (expected one of: number, bool, text)",
                "line 10, column 1: trait #2.column: missing required key",
                "line 16, column 1: trait #3.true_values: only applies to type = \"bool\"",
                "line 20, column 18: outcome.values.\"1\": \"customer\" is not a stage (use one of: accepted, rejected, sql, opportunity, won, lost)",
            ]
        );
    }

    #[test]
    fn columns_used_twice_clashing_trait_names_and_bad_toml_are_refused() {
        let text = "[source]\nid = \"ID\"\nat = \"2026-01-01\"\nemail = \"E\"\n[[trait]]\ncolumn = \"ID\"\n[[trait]]\ncolumn = \"X\"\nname = \"email\"\n[[trait]]\ncolumn = \"ID\"\nname = \"id2\"\n";
        assert_eq!(
            errors(text),
            [
                "line 8, column 10: trait #2.name: trait name \"email\" is already used by source.email",
                "line 11, column 10: trait #3.column: column \"ID\" is already mapped on line 6",
            ]
        );
        assert_eq!(errors("[source\nid = 1"), ["line 1, column 8: invalid TOML: unclosed table, expected `]`"]);
        assert_eq!(
            errors("[source]\nid = 3\nat = 5")[0],
            "line 2, column 6: source.id: must be a string, found integer"
        );
    }

    #[test]
    fn trait_names_default_to_the_snake_case_of_their_column() {
        assert_eq!(snake_case("TotalVisits"), "total_visits");
        assert_eq!(snake_case("What is your current occupation"), "what_is_your_current_occupation");
        assert_eq!(snake_case("Page Views Per Visit"), "page_views_per_visit");
        assert_eq!(snake_case("Do Not Email"), "do_not_email");
        assert_eq!(snake_case("  -- "), "column");
    }

    #[test]
    fn an_inferred_mapping_types_columns_lists_values_and_imports() {
        let columns = header(&["Lead ID", "Email", "Lead Source", "Visits", "Newsletter", "City", "Converted", ""]);
        let rows: [&[&str]; 4] = [
            &["L1", "a@x.com", "Google", "3", "Yes", "Paris", "1", ""],
            &["L2", "", "Direct", "0", "No", "Select", "0", ""],
            &["L3", "c@x.com", "Google", "", "no", "Lyon", "0", ""],
            &["L4", "d@x.com", "Select", "12.5", "Yes", "Select", "1", ""],
        ];
        let mut inference = Inference::new(&columns);
        for row in rows {
            inference.add(&record(row));
        }
        let text = inference.mapping_text("leads.csv", EventTime::parse("2026-03-01T00:00:00Z").unwrap());
        let mapping = Mapping::parse(&text).unwrap_or_else(|errors| panic!("{errors}\n{text}"));
        assert_eq!(mapping.id_column, "Lead ID");
        assert_eq!(mapping.email_column.as_deref(), Some("Email"));
        assert_eq!(mapping.channel_column.as_deref(), Some("Lead Source"));
        assert_eq!(mapping.missing, ["Select"]);
        let kinds: Vec<(&str, &str)> = mapping
            .traits
            .iter()
            .map(|mapped| {
                let kind = match mapped.kind {
                    TraitType::Number => "number",
                    TraitType::Bool { .. } => "bool",
                    TraitType::Text => "text",
                };
                (mapped.name.as_str(), kind)
            })
            .collect();
        assert_eq!(kinds, [("visits", "number"), ("newsletter", "bool"), ("city", "text")]);
        assert!(text.contains("# 2 value(s): \"Lyon\" (1), \"Paris\" (1)"), "{text}");
        let outcome = mapping.outcome.as_ref().unwrap();
        assert_eq!(outcome.column, "Converted");
        assert_eq!(outcome.values, [("1".to_owned(), OutcomeStage::Won), ("0".to_owned(), OutcomeStage::Lost)]);
        let mut binding = mapping.bind(&columns).unwrap();
        assert_eq!(binding.unmapped, Vec::<String>::new());
        for (index, row) in rows.iter().enumerate() {
            binding.convert(&record(row), index as u64 + 2).unwrap();
        }
    }

    #[test]
    fn the_mappings_in_the_documentation_and_the_x_education_example_are_valid() {
        let docs = include_str!("../../../docs/import.md");
        let blocks: Vec<&str> = docs
            .split("```toml\n")
            .skip(1)
            .filter_map(|block| block.split("```").next())
            .filter(|block| block.starts_with("# mapping"))
            .collect();
        assert_eq!(blocks.len(), 4);
        for block in blocks {
            Mapping::parse(block).unwrap_or_else(|errors| panic!("{errors}\n{block}"));
        }
        let example = include_str!("../../../examples/x-education/mapping.toml");
        let mapping = Mapping::parse(example).unwrap_or_else(|errors| panic!("{errors}"));
        assert_eq!(mapping.traits.len(), 27);
    }
}
