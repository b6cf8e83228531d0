//! Reading and checking a model file (spec section 4).
//!
//! The file is parsed with `toml`'s span-keeping document parser and the tree
//! is then walked by hand instead of being deserialized with serde: a derive
//! stops at the first problem and forgets where keys were, while the marketing
//! team fixing a model wants every problem at once, each with its line, column
//! and rule id.
//!
//! The walk never stops early. Each part that fails to read reports why and
//! is left out; a `Model` is only returned when nothing was reported, so a
//! part that was left out can never reach scoring.

use super::{EngagementRule, FitRule, Grade, GradeBounds, Model, MqlCondition, PathMatch, Persona, Selector};
use crate::condition::{Condition, OPERATOR_NAMES, Operand, Operator};
use crate::positions::Positions;
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeInteger, DeString, DeTable, DeValue};

/// One problem in a model file.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelError {
    /// 1-based line of the offending key or value.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// The id of the engagement or fit rule the problem is in, when it has a
    /// usable one. Problems in a persona, or in a rule without a usable id,
    /// name their place at the start of `message` instead.
    pub rule_id: Option<String>,
    pub message: String,
}

/// Every problem found in a model file, in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelErrors(pub Vec<ModelError>);

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}: ", self.line, self.column)?;
        if let Some(rule_id) = &self.rule_id {
            write!(f, "rule \"{rule_id}\": ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ModelError {}

impl fmt::Display for ModelErrors {
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

impl std::error::Error for ModelErrors {}

type Item<'i> = Spanned<DeValue<'i>>;
type Key<'i> = Spanned<DeString<'i>>;

const TOP_LEVEL_KEYS: [&str; 7] = ["name", "mql", "decay", "grades", "engagement", "persona", "fit"];
const MQL_KEYS: [&str; 3] = ["engagement_threshold", "min_grade", "recycle_days"];
const DECAY_KEYS: [&str; 1] = ["half_life_days"];
const ENGAGEMENT_KEYS: [&str; 10] =
    ["id", "type", "event", "path", "path_prefix", "where", "points", "max_points", "within_days", "half_life_days"];
const ENGAGEMENT_TYPES: [&str; 4] = ["track", "page", "screen", "visit"];
const PERSONA_KEYS: [&str; 3] = ["id", "description", "fit"];
/// The keys of a fit rule besides its `trait` and its operators.
const FIT_RULE_KEYS: [&str; 2] = ["id", "points"];

pub(super) fn parse_model(text: &str) -> Result<Model, ModelErrors> {
    let mut checker = Checker::new(text);
    let document = match DeTable::parse(text) {
        Ok(document) => document,
        Err(error) => {
            let offset = error.span().map_or(0, |span| span.start);
            checker.report(offset..offset, &Place::Model, format!("invalid TOML: {}", error.message().trim()));
            return Err(ModelErrors(checker.errors));
        }
    };
    let model = checker.model(document.get_ref());
    checker.report_duplicate_ids();
    if checker.errors.is_empty() {
        Ok(model)
    } else {
        // Parts are read in a fixed order rather than file order, so the
        // errors are put back into the order a reader of the file meets them.
        checker.errors.sort_by_key(|error| (error.line, error.column));
        Err(ModelErrors(checker.errors))
    }
}

/// Where in the model a problem is, for the error's `rule_id` or message.
#[derive(Clone, Debug)]
enum Place {
    /// Outside any rule or persona.
    Model,
    /// Inside an engagement or fit rule with a usable id.
    Rule(String),
    /// Inside a persona, or a rule without a usable id: the label (such as
    /// `persona "bridal-couple"` or `engagement rule #3`) opens the message.
    Labelled(String),
}

/// Which bounds a number must respect.
#[derive(Clone, Copy)]
enum NumberRange {
    Any,
    ZeroOrMore,
    AboveZero,
}

/// An id seen in the file, kept until the end so that duplicates can be
/// reported against the one that comes first in the file, whatever order the
/// sections were read in.
struct DefinedId {
    id: String,
    offset: usize,
    place: Place,
}

struct Checker<'t> {
    text: &'t str,
    positions: Positions<'t>,
    errors: Vec<ModelError>,
    ids: Vec<DefinedId>,
}

impl<'t> Checker<'t> {
    fn new(text: &'t str) -> Self {
        Checker { text, positions: Positions::new(text), errors: Vec::new(), ids: Vec::new() }
    }

    fn position(&self, offset: usize) -> (usize, usize) {
        self.positions.of(offset)
    }

    /// The text of a span as the user wrote it, to quote it back in messages.
    fn source(&self, span: Range<usize>) -> &'t str {
        self.text.get(span).unwrap_or("?")
    }

    fn report(&mut self, span: Range<usize>, place: &Place, message: impl Into<String>) {
        let (line, column) = self.position(span.start);
        let message = message.into();
        let (rule_id, message) = match place {
            Place::Model => (None, message),
            Place::Rule(id) => (Some(id.clone()), message),
            Place::Labelled(label) => (None, format!("{label}: {message}")),
        };
        self.errors.push(ModelError { line, column, rule_id, message });
    }

    fn report_wrong_type(&mut self, what: &str, expected: &str, item: &Item<'_>, place: &Place) {
        let found = with_article(item.get_ref().type_str());
        self.report(item.span(), place, format!("{what} must be {expected}, found {found}"));
    }

    fn report_missing(&mut self, table_span: Range<usize>, key: &str, place: &Place) {
        self.report(table_span, place, format!("missing required key \"{key}\""));
    }

    fn report_unknown_keys(&mut self, table: &DeTable<'_>, allowed: &[&str], place: &Place) {
        for key in table.keys() {
            if !allowed.contains(&key.get_ref().as_ref()) {
                let message = format!("unknown key \"{}\" (expected one of: {})", key.get_ref(), allowed.join(", "));
                self.report(key.span(), place, message);
            }
        }
    }

    fn report_duplicate_ids(&mut self) {
        let mut ids = std::mem::take(&mut self.ids);
        ids.sort_by_key(|defined| defined.offset);
        let mut first_lines: HashMap<&str, usize> = HashMap::new();
        for defined in &ids {
            match first_lines.get(defined.id.as_str()) {
                Some(first_line) => {
                    let message = format!("duplicate id \"{}\" (first defined on line {first_line})", defined.id);
                    self.report(defined.offset..defined.offset, &defined.place, message);
                }
                None => {
                    let (line, _) = self.position(defined.offset);
                    first_lines.insert(defined.id.as_str(), line);
                }
            }
        }
    }

    // Readers of single values. Each reports what is wrong and returns `None`,
    // so callers only combine the `Option`s.

    fn table<'a, 'i>(&mut self, what: &str, item: &'a Item<'i>, place: &Place) -> Option<&'a DeTable<'i>> {
        match item.get_ref() {
            DeValue::Table(table) => Some(table),
            _ => {
                self.report_wrong_type(what, "a table", item, place);
                None
            }
        }
    }

    /// The items of an array of tables such as `[[engagement]]`; the items
    /// themselves are checked by the caller.
    fn array_of_tables<'a, 'i>(&mut self, key: &str, item: &'a Item<'i>) -> &'a [Item<'i>] {
        match item.get_ref() {
            DeValue::Array(items) => items,
            _ => {
                let expected = format!("an array of tables (one [[{key}]] section each)");
                self.report_wrong_type(&format!("`{key}`"), &expected, item, &Place::Model);
                &[]
            }
        }
    }

    fn string(&mut self, what: &str, item: &Item<'_>, place: &Place) -> Option<String> {
        match item.get_ref() {
            DeValue::String(text) => Some(text.to_string()),
            _ => {
                self.report_wrong_type(what, "a string", item, place);
                None
            }
        }
    }

    fn non_empty_string(&mut self, what: &str, item: &Item<'_>, place: &Place) -> Option<String> {
        let text = self.string(what, item, place)?;
        if text.is_empty() {
            self.report(item.span(), place, format!("{what} must not be empty"));
            return None;
        }
        Some(text)
    }

    fn boolean(&mut self, what: &str, item: &Item<'_>, place: &Place) -> Option<bool> {
        match item.get_ref() {
            DeValue::Boolean(flag) => Some(*flag),
            _ => {
                self.report_wrong_type(what, "true or false", item, place);
                None
            }
        }
    }

    /// An integer or a float, finite and within `range`.
    fn number(&mut self, what: &str, item: &Item<'_>, place: &Place, range: NumberRange) -> Option<f64> {
        let value = match item.get_ref() {
            DeValue::Integer(integer) => Some(self.integer_value(what, integer, item, place)? as f64),
            DeValue::Float(float) => float.as_str().parse::<f64>().ok(),
            _ => {
                self.report_wrong_type(what, "a number", item, place);
                return None;
            }
        };
        let found = self.source(item.span());
        let Some(value) = value.filter(|value| value.is_finite()) else {
            self.report(item.span(), place, format!("{what} must be a finite number, found {found}"));
            return None;
        };
        let problem = match range {
            NumberRange::Any => None,
            NumberRange::ZeroOrMore => (value < 0.0).then_some("0 or more"),
            NumberRange::AboveZero => (value <= 0.0).then_some("more than 0"),
        };
        if let Some(expected) = problem {
            self.report(item.span(), place, format!("{what} must be {expected}, found {found}"));
            return None;
        }
        Some(value)
    }

    fn integer(&mut self, what: &str, item: &Item<'_>, place: &Place) -> Option<i64> {
        match item.get_ref() {
            DeValue::Integer(integer) => self.integer_value(what, integer, item, place),
            _ => {
                self.report_wrong_type(what, "an integer", item, place);
                None
            }
        }
    }

    /// The parser keeps integers as text (digits without `_` or `0x`), so
    /// converting them is where too large a value shows up.
    fn integer_value(&mut self, what: &str, integer: &DeInteger<'_>, item: &Item<'_>, place: &Place) -> Option<i64> {
        let value = i64::from_str_radix(integer.as_str(), integer.radix()).ok();
        if value.is_none() {
            let found = self.source(item.span());
            self.report(item.span(), place, format!("{what} is too large, found {found}"));
        }
        value
    }

    // The model and its sections.

    fn model(&mut self, document: &DeTable<'_>) -> Model {
        self.report_unknown_keys(document, &TOP_LEVEL_KEYS, &Place::Model);
        let name = match document.get("name") {
            Some(item) => self.non_empty_string("`name`", item, &Place::Model),
            None => Some("model".to_string()),
        };
        let (mql, recycle_days) = match document.get("mql") {
            Some(item) => self.mql(item),
            None => {
                let message = "missing required table [mql] (it sets engagement_threshold and min_grade)";
                self.report(0..0, &Place::Model, message);
                (None, None)
            }
        };
        let decay_half_life = document.get("decay").and_then(|item| self.decay(item));
        let grades = match document.get("grades") {
            Some(item) => self.grades(item),
            None => GradeBounds::default(),
        };

        let engagement_items =
            document.get("engagement").map_or(&[][..], |item| self.array_of_tables("engagement", item));
        let engagement = engagement_items
            .iter()
            .enumerate()
            .filter_map(|(index, item)| self.engagement_rule(index + 1, item, decay_half_life))
            .collect();

        let mut personas = Vec::new();
        let default_fit_items = document.get("fit").map_or(&[][..], |item| self.array_of_tables("fit", item));
        if !default_fit_items.is_empty() {
            let fit = default_fit_items
                .iter()
                .enumerate()
                .filter_map(|(index, item)| self.fit_rule(format!("fit rule #{}", index + 1), item))
                .collect();
            personas.push(Persona { id: "default".to_string(), description: None, fit });
        }
        // The top-level `[[fit]]` rules claim the persona id `default`.
        let default_fit_line = default_fit_items.first().map(|item| self.position(item.span().start).0);
        let persona_items = document.get("persona").map_or(&[][..], |item| self.array_of_tables("persona", item));
        for (index, item) in persona_items.iter().enumerate() {
            if let Some(persona) = self.persona(index + 1, item, default_fit_line) {
                personas.push(persona);
            }
        }

        // The placeholders below only fill a model that is never returned:
        // every missing part has been reported.
        Model {
            name: name.unwrap_or_default(),
            mql: mql.unwrap_or(MqlCondition { engagement_threshold: 0.0, min_grade: Grade::D }),
            grades,
            engagement,
            personas,
            recycle_days: recycle_days.unwrap_or(DEFAULT_RECYCLE_DAYS),
        }
    }

    fn mql(&mut self, item: &Item<'_>) -> (Option<MqlCondition>, Option<f64>) {
        let place = Place::Model;
        let Some(table) = self.table("`mql`", item, &place) else {
            return (None, None);
        };
        self.report_unknown_keys(table, &MQL_KEYS, &place);
        let threshold = match table.get("engagement_threshold") {
            Some(value) => self.number("`engagement_threshold`", value, &place, NumberRange::Any),
            None => {
                self.report(item.span(), &place, "missing required key \"engagement_threshold\" in [mql]");
                None
            }
        };
        let min_grade = match table.get("min_grade") {
            Some(value) => self.string("`min_grade`", value, &place).and_then(|text| {
                let grade = Grade::parse(&text);
                if grade.is_none() {
                    self.report(value.span(), &place, format!("grade \"{text}\" does not exist (use A, B, C or D)"));
                }
                grade
            }),
            None => Some(Grade::D),
        };
        let recycle_days = match table.get("recycle_days") {
            Some(value) => self.number("`recycle_days`", value, &place, NumberRange::ZeroOrMore),
            None => Some(DEFAULT_RECYCLE_DAYS),
        };
        let mql = threshold
            .zip(min_grade)
            .map(|(engagement_threshold, min_grade)| MqlCondition { engagement_threshold, min_grade });
        (mql, recycle_days)
    }

    /// The model-wide half-life; `None` when `[decay]` is absent or unusable,
    /// which is harmless since an unusable one has been reported.
    fn decay(&mut self, item: &Item<'_>) -> Option<f64> {
        let place = Place::Model;
        let table = self.table("`decay`", item, &place)?;
        self.report_unknown_keys(table, &DECAY_KEYS, &place);
        match table.get("half_life_days") {
            Some(value) => self.number("`half_life_days`", value, &place, NumberRange::ZeroOrMore),
            None => {
                self.report(item.span(), &place, "missing required key \"half_life_days\" in [decay]");
                None
            }
        }
    }

    fn grades(&mut self, item: &Item<'_>) -> GradeBounds {
        let place = Place::Model;
        let defaults = GradeBounds::default();
        let mut bounds =
            [GradeBound::Default(defaults.a), GradeBound::Default(defaults.b), GradeBound::Default(defaults.c)];
        let Some(table) = self.table("`grades`", item, &place) else {
            return defaults;
        };
        for (key, value) in table {
            let letter = key.get_ref().as_ref();
            let slot = match letter {
                "A" => 0,
                "B" => 1,
                "C" => 2,
                "D" => {
                    self.report(key.span(), &place, "grade \"D\" takes no bound: it is every fit score below C");
                    continue;
                }
                _ => {
                    let message = format!("unknown grade \"{letter}\" (expected one of: A, B, C)");
                    self.report(key.span(), &place, message);
                    continue;
                }
            };
            let what = format!("`{letter}`");
            bounds[slot] = match self.integer(&what, value, &place) {
                Some(bound) if (0..=100).contains(&bound) => GradeBound::Given(bound, value.span()),
                Some(_) => {
                    let found = self.source(value.span());
                    self.report(value.span(), &place, format!("{what} must be between 0 and 100, found {found}"));
                    GradeBound::Invalid
                }
                None => GradeBound::Invalid,
            };
        }
        // A partial section keeps the defaults for the other grades, so the
        // order is checked against them too: `C = 60` alone is above B's 50.
        let letters = ["A", "B", "C"];
        for upper in 0..2 {
            let lower = upper + 1;
            let (Some(upper_bound), Some(lower_bound)) = (bounds[upper].value(), bounds[lower].value()) else {
                continue;
            };
            if lower_bound <= upper_bound {
                continue;
            }
            let span = match (&bounds[lower], &bounds[upper]) {
                (GradeBound::Given(_, span), _) | (_, GradeBound::Given(_, span)) => span.clone(),
                _ => item.span(),
            };
            let message = format!(
                "grade bounds must not increase from A to C, but {} = {lower_bound}{} is above {} = {upper_bound}{}",
                letters[lower],
                bounds[lower].default_note(),
                letters[upper],
                bounds[upper].default_note(),
            );
            self.report(span, &place, message);
        }
        GradeBounds {
            a: bounds[0].value().unwrap_or(defaults.a),
            b: bounds[1].value().unwrap_or(defaults.b),
            c: bounds[2].value().unwrap_or(defaults.c),
        }
    }

    /// Reads a rule's or persona's `id` and records it for the duplicate
    /// check. Returns the id when it is usable, with the place that later
    /// problems in the same table are reported at.
    fn identify(
        &mut self,
        table: &DeTable<'_>,
        table_span: Range<usize>,
        unnamed: String,
        place_of: impl Fn(&str) -> Place,
    ) -> (Option<String>, Place) {
        let unnamed = Place::Labelled(unnamed);
        let Some(item) = table.get("id") else {
            self.report_missing(table_span, "id", &unnamed);
            return (None, unnamed);
        };
        let Some(id) = self.non_empty_string("`id`", item, &unnamed) else {
            return (None, unnamed);
        };
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-');
        if !id.chars().all(allowed) {
            let message = format!("id \"{}\" may only contain letters, digits and _ . : -", id.escape_debug());
            self.report(item.span(), &unnamed, message);
            return (None, unnamed);
        }
        let place = place_of(&id);
        self.ids.push(DefinedId { id: id.clone(), offset: item.span().start, place: place.clone() });
        (Some(id), place)
    }

    fn engagement_rule(
        &mut self,
        number: usize,
        item: &Item<'_>,
        decay_half_life: Option<f64>,
    ) -> Option<EngagementRule> {
        let label = format!("engagement rule #{number}");
        let table = self.table("each [[engagement]] rule", item, &Place::Labelled(label.clone()))?;
        let (id, place) = self.identify(table, item.span(), label, |id| Place::Rule(id.to_string()));
        self.report_unknown_keys(table, &ENGAGEMENT_KEYS, &place);
        let selector = self.selector(table, item.span(), &place);
        let conditions = match table.get_key_value("where") {
            Some((key, _)) if matches!(selector, Some(Selector::Visit)) => {
                self.report(key.span(), &place, "`where` does not apply to type = \"visit\"");
                None
            }
            Some((_, value)) => self.where_conditions(value, &place),
            None => Some(Vec::new()),
        };
        let points = match table.get("points") {
            Some(value) => self.number("`points`", value, &place, NumberRange::Any),
            None => {
                self.report_missing(item.span(), "points", &place);
                None
            }
        };
        let max_points = self.optional_number(table, "max_points", &place, NumberRange::AboveZero);
        let within_days = self.optional_number(table, "within_days", &place, NumberRange::AboveZero);
        let own_half_life = self.optional_number(table, "half_life_days", &place, NumberRange::ZeroOrMore);
        Some(EngagementRule {
            id: id?,
            selector: selector?,
            conditions: conditions?,
            points: points?,
            max_points: max_points?,
            within_days: within_days?,
            // The rule's own half-life wins, even when it is 0 (no decay).
            half_life_days: own_half_life?.or(decay_half_life).filter(|days| *days > 0.0),
        })
    }

    /// `Some(None)` when the key is absent, `None` when it is present but wrong.
    fn optional_number(
        &mut self,
        table: &DeTable<'_>,
        key: &str,
        place: &Place,
        range: NumberRange,
    ) -> Option<Option<f64>> {
        match table.get(key) {
            Some(item) => self.number(&format!("`{key}`"), item, place, range).map(Some),
            None => Some(None),
        }
    }

    fn selector(&mut self, table: &DeTable<'_>, table_span: Range<usize>, place: &Place) -> Option<Selector> {
        let Some(type_item) = table.get("type") else {
            let message = format!("missing required key \"type\" (one of: {})", ENGAGEMENT_TYPES.join(", "));
            self.report(table_span, place, message);
            return None;
        };
        let kind = self.string("`type`", type_item, place)?;
        let event = table.get_key_value("event");
        let path = table.get_key_value("path");
        let path_prefix = table.get_key_value("path_prefix");
        // Keys that do not fit the type are reported, but only once the type
        // itself is known: with a misspelt type they would just be noise.
        match kind.as_str() {
            "track" => {
                for (key, _) in path.into_iter().chain(path_prefix) {
                    let message =
                        format!("`{}` does not apply to type = \"track\" (only to page and screen)", key.get_ref());
                    self.report(key.span(), place, message);
                }
                let Some((_, event)) = event else {
                    self.report_missing(table_span, "event", place);
                    return None;
                };
                let event = self.non_empty_string("`event`", event, place)?;
                Some(Selector::Track { event })
            }
            "page" | "screen" | "visit" => {
                if let Some((key, _)) = event {
                    let message = format!("`event` does not apply to type = \"{kind}\" (only to track)");
                    self.report(key.span(), place, message);
                }
                if kind == "visit" {
                    for (key, _) in path.into_iter().chain(path_prefix) {
                        let message =
                            format!("`{}` does not apply to type = \"visit\" (only to page and screen)", key.get_ref());
                        self.report(key.span(), place, message);
                    }
                    return Some(Selector::Visit);
                }
                let path = match (path, path_prefix) {
                    (Some(_), Some((key, _))) => {
                        self.report(key.span(), place, "use either `path` or `path_prefix`, not both");
                        None
                    }
                    (Some((_, exact)), None) => self.non_empty_string("`path`", exact, place).map(PathMatch::Exact),
                    (None, Some((_, prefix))) => {
                        self.non_empty_string("`path_prefix`", prefix, place).map(PathMatch::Prefix)
                    }
                    (None, None) => Some(PathMatch::Any),
                }?;
                Some(if kind == "page" { Selector::Page { path } } else { Selector::Screen { path } })
            }
            _ => {
                let message = format!("unknown type \"{kind}\" (expected one of: {})", ENGAGEMENT_TYPES.join(", "));
                self.report(type_item.span(), place, message);
                None
            }
        }
    }

    fn where_conditions(&mut self, item: &Item<'_>, place: &Place) -> Option<Vec<Condition>> {
        let DeValue::Array(items) = item.get_ref() else {
            self.report_wrong_type("`where`", "an array of conditions", item, place);
            return None;
        };
        // Every condition is read before the results are combined, so that
        // the problems of all of them are reported.
        let conditions: Vec<Option<Condition>> = items
            .iter()
            .map(|item| match item.get_ref() {
                DeValue::Table(table) => self.condition(table, item.span(), "property", &[], place),
                _ => {
                    let expected = "a table such as { property = \"plan\", equals = \"pro\" }";
                    self.report_wrong_type("each condition in `where`", expected, item, place);
                    None
                }
            })
            .collect();
        conditions.into_iter().collect()
    }

    /// A condition: the field named by `field_key` (`property` or `trait`)
    /// and one or more operators. `other_keys` are the table's keys that are
    /// neither, read by the caller.
    fn condition(
        &mut self,
        table: &DeTable<'_>,
        table_span: Range<usize>,
        field_key: &str,
        other_keys: &[&str],
        place: &Place,
    ) -> Option<Condition> {
        let field = match table.get(field_key) {
            Some(item) => self.non_empty_string(&format!("`{field_key}`"), item, place),
            None => {
                self.report_missing(table_span.clone(), field_key, place);
                None
            }
        };
        // Operators are kept in the order they were written, which is the
        // order a summary shows them in.
        let mut entries: Vec<(&Key<'_>, &Item<'_>)> = table
            .iter()
            .filter(|(key, _)| {
                let key = key.get_ref().as_ref();
                key != field_key && !other_keys.contains(&key)
            })
            .collect();
        entries.sort_by_key(|(key, _)| key.span().start);
        if entries.is_empty() {
            let message = format!("condition has no operator (use one of: {})", OPERATOR_NAMES.join(", "));
            self.report(table_span, place, message);
            return None;
        }
        let operators: Vec<Option<Operator>> =
            entries.into_iter().map(|(key, item)| self.operator(key, item, field_key, other_keys, place)).collect();
        let operators = operators.into_iter().collect::<Option<Vec<_>>>()?;
        Some(Condition { field: field?, operators })
    }

    fn operator(
        &mut self,
        key: &Key<'_>,
        item: &Item<'_>,
        field_key: &str,
        other_keys: &[&str],
        place: &Place,
    ) -> Option<Operator> {
        let name = key.get_ref().as_ref();
        let what = format!("`{name}`");
        match name {
            "equals" => self.operand(&what, item, place).map(Operator::Equals),
            "not_equals" => self.operand(&what, item, place).map(Operator::NotEquals),
            "contains" => self.operand(&what, item, place).map(Operator::Contains),
            "in" => self.operand_list(&what, item, place).map(Operator::In),
            "contains_any" => self.operand_list(&what, item, place).map(Operator::ContainsAny),
            "gte" => self.number(&what, item, place, NumberRange::Any).map(Operator::Gte),
            "gt" => self.number(&what, item, place, NumberRange::Any).map(Operator::Gt),
            "lte" => self.number(&what, item, place, NumberRange::Any).map(Operator::Lte),
            "lt" => self.number(&what, item, place, NumberRange::Any).map(Operator::Lt),
            "between" => self.between(item, place),
            "starts_with" => self.string(&what, item, place).map(Operator::StartsWith),
            "exists" => self.boolean(&what, item, place).map(Operator::Exists),
            "min_length" => {
                let length = self.integer(&what, item, place)?;
                let length = u64::try_from(length).ok();
                if length.is_none() {
                    let found = self.source(item.span());
                    self.report(item.span(), place, format!("{what} must be 0 or more, found {found}"));
                }
                length.map(Operator::MinLength)
            }
            _ => {
                let keys: Vec<&str> = std::iter::once(field_key).chain(other_keys.iter().copied()).collect();
                let message = format!(
                    "unknown operator \"{name}\" (expected one of: {}; other keys: {})",
                    OPERATOR_NAMES.join(", "),
                    keys.join(", "),
                );
                self.report(key.span(), place, message);
                None
            }
        }
    }

    fn operand(&mut self, what: &str, item: &Item<'_>, place: &Place) -> Option<Operand> {
        match item.get_ref() {
            DeValue::String(text) => Some(Operand::Text(text.to_string())),
            DeValue::Boolean(flag) => Some(Operand::Bool(*flag)),
            DeValue::Integer(_) | DeValue::Float(_) => {
                self.number(what, item, place, NumberRange::Any).map(Operand::Number)
            }
            _ => {
                self.report_wrong_type(what, "a string, number or boolean", item, place);
                None
            }
        }
    }

    fn operand_list(&mut self, what: &str, item: &Item<'_>, place: &Place) -> Option<Vec<Operand>> {
        let DeValue::Array(items) = item.get_ref() else {
            self.report_wrong_type(what, "an array of strings, numbers or booleans", item, place);
            return None;
        };
        if items.is_empty() {
            self.report(item.span(), place, format!("{what} needs at least one value"));
            return None;
        }
        let element = format!("each value of {what}");
        let operands: Vec<Option<Operand>> = items.iter().map(|item| self.operand(&element, item, place)).collect();
        operands.into_iter().collect()
    }

    fn between(&mut self, item: &Item<'_>, place: &Place) -> Option<Operator> {
        let expected = "a pair of numbers [low, high]";
        let DeValue::Array(items) = item.get_ref() else {
            self.report_wrong_type("`between`", expected, item, place);
            return None;
        };
        let [low_item, high_item] = items.as_ref() else {
            let message = format!("`between` must be {expected}, found {} values", items.len());
            self.report(item.span(), place, message);
            return None;
        };
        let low = self.number("the low bound of `between`", low_item, place, NumberRange::Any);
        let high = self.number("the high bound of `between`", high_item, place, NumberRange::Any);
        let (low, high) = low.zip(high)?;
        if low > high {
            let found = self.source(item.span());
            self.report(item.span(), place, format!("`between` must list the low bound first, found {found}"));
            return None;
        }
        Some(Operator::Between(low, high))
    }

    fn persona(&mut self, number: usize, item: &Item<'_>, default_fit_line: Option<usize>) -> Option<Persona> {
        let label = format!("persona #{number}");
        let table = self.table("each [[persona]]", item, &Place::Labelled(label.clone()))?;
        let (id, place) = self.identify(table, item.span(), label, |id| Place::Labelled(format!("persona \"{id}\"")));
        if let (Some("default"), Some(line), Some(id_item)) = (id.as_deref(), default_fit_line, table.get("id")) {
            let message = format!("the id \"default\" is taken by the top-level [[fit]] rules (line {line})");
            self.report(id_item.span(), &place, message);
        }
        self.report_unknown_keys(table, &PERSONA_KEYS, &place);
        let description = match table.get("description") {
            Some(value) => self.string("`description`", value, &place).map(Some),
            None => Some(None),
        };
        let fit_items = table.get("fit").map_or(&[][..], |fit| match fit.get_ref() {
            DeValue::Array(items) => items,
            _ => {
                self.report_wrong_type("`fit`", "an array of tables (one [[persona.fit]] section each)", fit, &place);
                &[]
            }
        });
        let persona_name = match &id {
            Some(id) => format!("persona \"{id}\""),
            None => format!("persona #{number}"),
        };
        let fit: Vec<Option<FitRule>> = fit_items
            .iter()
            .enumerate()
            .map(|(index, item)| self.fit_rule(format!("fit rule #{} of {persona_name}", index + 1), item))
            .collect();
        Some(Persona { id: id?, description: description?, fit: fit.into_iter().collect::<Option<_>>()? })
    }

    fn fit_rule(&mut self, label: String, item: &Item<'_>) -> Option<FitRule> {
        let table = self.table("each fit rule", item, &Place::Labelled(label.clone()))?;
        let (id, place) = self.identify(table, item.span(), label, |id| Place::Rule(id.to_string()));
        let condition = self.condition(table, item.span(), "trait", &FIT_RULE_KEYS, &place);
        let points = match table.get("points") {
            Some(value) => self.integer("`points`", value, &place),
            None => {
                self.report_missing(item.span(), "points", &place);
                None
            }
        };
        Some(FitRule { id: id?, condition: condition?, points: points? })
    }
}

const DEFAULT_RECYCLE_DAYS: f64 = 90.0;

/// One grade's lower bound while `[grades]` is read.
enum GradeBound {
    Default(i64),
    Given(i64, Range<usize>),
    /// Given but unusable (already reported), so left out of the order check.
    Invalid,
}

impl GradeBound {
    fn value(&self) -> Option<i64> {
        match self {
            GradeBound::Default(bound) | GradeBound::Given(bound, _) => Some(*bound),
            GradeBound::Invalid => None,
        }
    }

    fn default_note(&self) -> &'static str {
        match self {
            GradeBound::Default(_) => " (the default)",
            _ => "",
        }
    }
}

fn with_article(type_name: &str) -> String {
    let article = if type_name.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {type_name}")
}

// The summary.

pub(super) fn summary(model: &Model) -> String {
    let mut out = String::new();
    let grades = &model.grades;
    // Writing to a `String` cannot fail, so the `fmt::Result`s are dropped.
    let _ = writeln!(out, "model   {}", model.name);
    let _ = writeln!(
        out,
        "MQL     engagement >= {} and grade {} or better; a rejected lead may qualify again after {} days",
        model.mql.engagement_threshold, model.mql.min_grade, model.recycle_days,
    );
    let _ = writeln!(out, "grades  A >= {}, B >= {}, C >= {}, D below {}", grades.a, grades.b, grades.c, grades.c);

    let _ = writeln!(out, "\nengagement rules ({})", model.engagement.len());
    let rows: Vec<Vec<String>> = model
        .engagement
        .iter()
        .map(|rule| {
            let conditions = if rule.conditions.is_empty() {
                "-".to_string()
            } else {
                rule.conditions.iter().map(describe_condition).collect::<Vec<_>>().join("; ")
            };
            vec![
                rule.id.clone(),
                describe_selector(&rule.selector),
                conditions,
                rule.points.to_string(),
                rule.max_points.map_or("-".to_string(), |cap| cap.to_string()),
                rule.within_days.map_or("-".to_string(), |days| format!("{days}d")),
                rule.half_life_days.map_or("none".to_string(), |days| format!("{days}d")),
            ]
        })
        .collect();
    write_columns(
        &mut out,
        &[
            ("id", Align::Left),
            ("selector", Align::Left),
            ("conditions", Align::Left),
            ("points", Align::Right),
            ("cap", Align::Right),
            ("within", Align::Right),
            ("half-life", Align::Right),
        ],
        &rows,
    );

    for persona in &model.personas {
        let _ = write!(out, "\npersona {}", persona.id);
        if let Some(description) = &persona.description {
            let _ = write!(out, ": {description}");
        }
        out.push('\n');
        if persona.fit.is_empty() {
            out.push_str("  (no fit rules)\n");
            continue;
        }
        let rows: Vec<Vec<String>> = persona
            .fit
            .iter()
            .map(|rule| vec![rule.id.clone(), describe_condition(&rule.condition), rule.points.to_string()])
            .collect();
        write_columns(&mut out, &[("id", Align::Left), ("condition", Align::Left), ("points", Align::Right)], &rows);
    }
    out
}

#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// Writes a header and rows as columns padded to their widest cell.
fn write_columns(out: &mut String, columns: &[(&str, Align)], rows: &[Vec<String>]) {
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(index, (header, _))| {
            rows.iter()
                .filter_map(|row| row.get(index))
                .map(|cell| cell.chars().count())
                .chain([header.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let headers: Vec<String> = columns.iter().map(|(header, _)| header.to_string()).collect();
    for row in std::iter::once(&headers).chain(rows) {
        let mut line = String::new();
        for ((cell, (_, align)), width) in row.iter().zip(columns).zip(&widths) {
            let _ = match align {
                Align::Left => write!(line, "  {cell:<width$}"),
                Align::Right => write!(line, "  {cell:>width$}"),
            };
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

fn describe_selector(selector: &Selector) -> String {
    let path = |path: &PathMatch| match path {
        PathMatch::Any => String::new(),
        PathMatch::Exact(exact) => format!(" path {exact:?}"),
        PathMatch::Prefix(prefix) => format!(" path_prefix {prefix:?}"),
    };
    match selector {
        Selector::Track { event } => format!("track \"{event}\""),
        Selector::Page { path: page } => format!("page{}", path(page)),
        Selector::Screen { path: screen } => format!("screen{}", path(screen)),
        Selector::Visit => "visit".to_string(),
    }
}

fn describe_condition(condition: &Condition) -> String {
    let operand = |operand: &Operand| match operand {
        Operand::Number(number) => number.to_string(),
        Operand::Text(text) => format!("{text:?}"),
        Operand::Bool(flag) => flag.to_string(),
    };
    let list = |operands: &[Operand]| operands.iter().map(operand).collect::<Vec<_>>().join(", ");
    let operators: Vec<String> = condition
        .operators
        .iter()
        .map(|operator| match operator {
            Operator::Equals(value) => format!("= {}", operand(value)),
            Operator::NotEquals(value) => format!("!= {}", operand(value)),
            Operator::In(values) => format!("in [{}]", list(values)),
            Operator::Gte(bound) => format!(">= {bound}"),
            Operator::Gt(bound) => format!("> {bound}"),
            Operator::Lte(bound) => format!("<= {bound}"),
            Operator::Lt(bound) => format!("< {bound}"),
            Operator::Between(low, high) => format!("between {low} and {high}"),
            Operator::Contains(value) => format!("contains {}", operand(value)),
            Operator::ContainsAny(values) => format!("contains any of [{}]", list(values)),
            Operator::StartsWith(prefix) => format!("starts with {prefix:?}"),
            Operator::Exists(true) => "exists".to_string(),
            Operator::Exists(false) => "is absent".to_string(),
            Operator::MinLength(length) => format!("has length >= {length}"),
        })
        .collect();
    format!("{} {}", condition.field, operators.join(" and "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The example model of spec section 4, verbatim.
    const FINE_JEWELRY: &str = include_str!("../../tests/models/fine-jewelry.toml");

    /// The `[mql]` section that most cases need; it takes lines 1 and 2.
    const MQL: &str = "[mql]\nengagement_threshold = 1\n";

    /// An expected error: its line, part of its message and its rule id.
    type ExpectedError<'a> = (usize, &'a str, Option<&'a str>);

    /// One row per model file: the file, and the errors it must be rejected
    /// with, in order, as (line, part of the message, rule id). An empty list
    /// means the file must be accepted.
    fn check(cases: &[(&str, &[ExpectedError])]) {
        for (text, expected) in cases {
            let errors = match parse_model(text) {
                Ok(_) => Vec::new(),
                Err(ModelErrors(errors)) => errors,
            };
            let shown: Vec<String> =
                errors.iter().map(|error| format!("{error}  [rule_id: {:?}]", error.rule_id)).collect();
            assert_eq!(errors.len(), expected.len(), "model:\n{text}\nerrors: {shown:#?}");
            for (error, (line, message, rule_id)) in errors.iter().zip(expected.iter()) {
                assert!(
                    error.line == *line && error.message.contains(message) && error.rule_id.as_deref() == *rule_id,
                    "expected line {line}, {message:?}, rule id {rule_id:?}\nmodel:\n{text}\nerrors: {shown:#?}",
                );
            }
        }
    }

    fn with_mql(rest: &str) -> String {
        format!("{MQL}{rest}")
    }

    #[test]
    fn valid_models_are_accepted() {
        check(&[
            (FINE_JEWELRY, &[]),
            (MQL, &[]),
            (
                r#"name = "hex, underscores and every operand type"
[mql]
engagement_threshold = 1_000
min_grade = "A"
recycle_days = 0
[grades]
A = 0x50
[[engagement]]
id = "screen.home:v2_x"
type = "screen"
path = "home"
points = -2.5
where = [
  { property = "plan", in = ["pro", 3, true], not_equals = 2.5 },
  { property = "seats", min_length = 0, exists = true, contains = "x", starts_with = "a" },
  { property = "size", gt = 1, lt = 9, gte = 1.5, lte = 8, between = [-1, -1], equals = false },
]
[[fit]]
id = "big"
trait = "employees"
gt = 1e3
points = -10
[[persona]]
id = "no-fit-rules"
"#,
                &[],
            ),
        ]);
    }

    #[test]
    fn top_level_keys_and_sections_are_checked() {
        check(&[
            ("", &[(1, "missing required table [mql]", None)]),
            (
                "nmae = \"x\"\n[mql]\nengagement_threshold = 1\n",
                &[(
                    1,
                    "unknown key \"nmae\" (expected one of: name, mql, decay, grades, engagement, persona, fit)",
                    None,
                )],
            ),
            ("name = 3\n[mql]\nengagement_threshold = 1\n", &[(1, "`name` must be a string, found an integer", None)]),
            ("name = \"\"\n[mql]\nengagement_threshold = 1\n", &[(1, "`name` must not be empty", None)]),
            ("mql = 5\n", &[(1, "`mql` must be a table, found an integer", None)]),
            (
                &with_mql("[engagement]\nid = \"x\"\n"),
                &[(
                    3,
                    "`engagement` must be an array of tables (one [[engagement]] section each), found a table",
                    None,
                )],
            ),
            ("fit = 3\n[mql]\nengagement_threshold = 1\n", &[(1, "`fit` must be an array of tables", None)]),
            (
                &with_mql("[decay]\nhalf_life_days = -3\nhalf_life = 2\n"),
                &[(4, "`half_life_days` must be 0 or more, found -3", None), (5, "unknown key \"half_life\"", None)],
            ),
            (&with_mql("[decay]\n"), &[(3, "missing required key \"half_life_days\" in [decay]", None)]),
            (
                &with_mql("[decay]\nhalf_life_days = 1979-05-27\n"),
                &[(4, "`half_life_days` must be a number, found a datetime", None)],
            ),
        ]);
    }

    #[test]
    fn mql_section_is_checked() {
        check(&[
            ("[mql]\nmin_grade = \"B\"\n", &[(1, "missing required key \"engagement_threshold\" in [mql]", None)]),
            (
                "[mql]\nengagement_threshold = \"60\"\n",
                &[(2, "`engagement_threshold` must be a number, found a string", None)],
            ),
            (&with_mql("min_grade = \"E\"\n"), &[(3, "grade \"E\" does not exist (use A, B, C or D)", None)]),
            (&with_mql("min_grade = \"b\"\n"), &[(3, "grade \"b\" does not exist (use A, B, C or D)", None)]),
            (&with_mql("min_grade = 2\n"), &[(3, "`min_grade` must be a string, found an integer", None)]),
            (&with_mql("recycle_days = -1\n"), &[(3, "`recycle_days` must be 0 or more, found -1", None)]),
            (
                "[mql]\nengagement_threshold = nan\n",
                &[(2, "`engagement_threshold` must be a finite number, found nan", None)],
            ),
            (
                &with_mql("threshold = 3\n"),
                &[(
                    3,
                    "unknown key \"threshold\" (expected one of: engagement_threshold, min_grade, recycle_days)",
                    None,
                )],
            ),
        ]);
    }

    #[test]
    fn grade_bounds_are_checked() {
        check(&[
            (
                &with_mql("[grades]\nA = 120\nB = 50.5\nC = -1\n"),
                &[
                    (4, "`A` must be between 0 and 100, found 120", None),
                    (5, "`B` must be an integer, found a float", None),
                    (6, "`C` must be between 0 and 100, found -1", None),
                ],
            ),
            (
                &with_mql("[grades]\nE = 10\nD = 5\n"),
                &[(4, "unknown grade \"E\" (expected one of: A, B, C)", None), (5, "grade \"D\" takes no bound", None)],
            ),
            (&with_mql("[grades]\nA = 40\nB = 60\n"), &[(5, "B = 60 is above A = 40", None)]),
            // A partial section is checked against the defaults it keeps.
            (&with_mql("[grades]\nC = 60\n"), &[(4, "C = 60 is above B = 50 (the default)", None)]),
            (&with_mql("[grades]\nA = 30\n"), &[(4, "B = 50 (the default) is above A = 30", None)]),
            (&with_mql("[grades]\nA = 50\nB = 50\nC = 50\n"), &[]),
            (
                "grades = 3\n[mql]\nengagement_threshold = 1\n",
                &[(1, "`grades` must be a table, found an integer", None)],
            ),
        ]);
    }

    #[test]
    fn engagement_rule_ids_and_types_are_checked() {
        check(&[
            (&with_mql("[[engagement]]\nid = \"a\"\npoints = 1\n"), &[(3, "missing required key \"type\"", Some("a"))]),
            (
                &with_mql("[[engagement]]\nid = \"a\"\ntype = \"click\"\npoints = 1\n"),
                &[(5, "unknown type \"click\" (expected one of: track, page, screen, visit)", Some("a"))],
            ),
            (
                &with_mql(
                    r#"[[engagement]]
type = "visit"
points = 1
[[engagement]]
id = "b c"
type = "visit"
points = 1
[[engagement]]
id = ""
type = "visit"
pointz = 1
[[engagement]]
id = 7
type = "visit"
points = 1
"#,
                ),
                &[
                    (3, "engagement rule #1: missing required key \"id\"", None),
                    (7, "engagement rule #2: id \"b c\" may only contain letters, digits and _ . : -", None),
                    (10, "engagement rule #3: missing required key \"points\"", None),
                    (11, "engagement rule #3: `id` must not be empty", None),
                    (13, "engagement rule #3: unknown key \"pointz\"", None),
                    (15, "engagement rule #4: `id` must be a string, found an integer", None),
                ],
            ),
            (
                "engagement = [3]\n[mql]\nengagement_threshold = 1\n",
                &[(1, "engagement rule #1: each [[engagement]] rule must be a table", None)],
            ),
        ]);
    }

    #[test]
    fn engagement_selectors_are_checked() {
        check(&[(
            &with_mql(
                r#"[[engagement]]
id = "t"
type = "track"
path = "/x"
points = 1
[[engagement]]
id = "p"
type = "page"
event = "E"
path = "/a"
path_prefix = "/b"
points = 1
[[engagement]]
id = "v"
type = "visit"
path_prefix = "/a"
where = []
points = 1
[[engagement]]
id = "e"
type = "track"
event = ""
points = 1
[[engagement]]
id = "s"
type = "screen"
path = 3
points = 1
"#,
            ),
            &[
                (3, "missing required key \"event\"", Some("t")),
                (6, "`path` does not apply to type = \"track\"", Some("t")),
                (11, "`event` does not apply to type = \"page\"", Some("p")),
                (13, "use either `path` or `path_prefix`, not both", Some("p")),
                (18, "`path_prefix` does not apply to type = \"visit\"", Some("v")),
                (19, "`where` does not apply to type = \"visit\"", Some("v")),
                (24, "`event` must not be empty", Some("e")),
                (29, "`path` must be a string, found an integer", Some("s")),
            ],
        )]);
    }

    #[test]
    fn engagement_numbers_are_checked() {
        check(&[(
            &with_mql(
                r#"[[engagement]]
id = "n"
type = "visit"
points = "5"
max_points = 0
within_days = -1
half_life_days = -2
[[engagement]]
id = "m"
type = "visit"
points = inf
[[engagement]]
id = "d"
type = "visit"
points = 1979-05-27
[[engagement]]
id = "o"
type = "visit"
points = 99999999999999999999
"#,
            ),
            &[
                (6, "`points` must be a number, found a string", Some("n")),
                (7, "`max_points` must be more than 0, found 0", Some("n")),
                (8, "`within_days` must be more than 0, found -1", Some("n")),
                (9, "`half_life_days` must be 0 or more, found -2", Some("n")),
                (13, "`points` must be a finite number, found inf", Some("m")),
                (17, "`points` must be a number, found a datetime", Some("d")),
                (21, "`points` is too large, found 99999999999999999999", Some("o")),
            ],
        )]);
    }

    #[test]
    fn where_conditions_and_their_operands_are_checked() {
        check(&[
            (
                &with_mql(
                    r#"[[engagement]]
id = "w"
type = "track"
event = "E"
points = 1
where = [
  { property = "a", greater = 3 },
  { gte = 3 },
  { property = "b" },
  "c",
  { property = 4, equals = [1] },
  { property = "d", in = [] },
  { property = "e", contains_any = ["x", {}] },
  { property = "f", gte = "3", lt = true },
  { property = "g", between = [1, 2, 3] },
  { property = "h", between = [5, 1] },
  { property = "i", between = ["a", 1] },
  { property = "j", starts_with = 1, exists = "yes" },
  { property = "k", min_length = -1 },
  { property = "l", min_length = 1.5, not_equals = 1979-05-27 },
]
"#,
                ),
                &[
                    (
                        9,
                        "unknown operator \"greater\" (expected one of: equals, not_equals, in, gte, gt, lte, lt, between, contains, contains_any, starts_with, exists, min_length; other keys: property)",
                        Some("w"),
                    ),
                    (10, "missing required key \"property\"", Some("w")),
                    (11, "condition has no operator (use one of: equals, ", Some("w")),
                    (
                        12,
                        "each condition in `where` must be a table such as { property = \"plan\", equals = \"pro\" }, found a string",
                        Some("w"),
                    ),
                    (13, "`property` must be a string, found an integer", Some("w")),
                    (13, "`equals` must be a string, number or boolean, found an array", Some("w")),
                    (14, "`in` needs at least one value", Some("w")),
                    (15, "each value of `contains_any` must be a string, number or boolean, found a table", Some("w")),
                    (16, "`gte` must be a number, found a string", Some("w")),
                    (16, "`lt` must be a number, found a boolean", Some("w")),
                    (17, "`between` must be a pair of numbers [low, high], found 3 values", Some("w")),
                    (18, "`between` must list the low bound first, found [5, 1]", Some("w")),
                    (19, "the low bound of `between` must be a number, found a string", Some("w")),
                    (20, "`starts_with` must be a string, found an integer", Some("w")),
                    (20, "`exists` must be true or false, found a string", Some("w")),
                    (21, "`min_length` must be 0 or more, found -1", Some("w")),
                    (22, "`min_length` must be an integer, found a float", Some("w")),
                    (22, "`not_equals` must be a string, number or boolean, found a datetime", Some("w")),
                ],
            ),
            (
                &with_mql(
                    "[[engagement]]\nid = \"w\"\ntype = \"page\"\npoints = 1\nwhere = { property = \"a\", exists = true }\n",
                ),
                &[(7, "`where` must be an array of conditions, found a table", Some("w"))],
            ),
        ]);
    }

    #[test]
    fn personas_and_fit_rules_are_checked() {
        check(&[
            (
                &with_mql(
                    r#"[[persona]]
description = 5
colour = "red"
[[persona.fit]]
trait = "age"
gte = 30
points = 10
[[persona]]
id = "p"
[[persona.fit]]
id = "f"
gte = 30
points = 2.5
pointz = 1
[[persona.fit]]
id = "g"
trait = "age"
points = 1
[[persona.fit]]
id = "h"
trait = "age"
equals = 1
"#,
                ),
                &[
                    (3, "persona #1: missing required key \"id\"", None),
                    (4, "persona #1: `description` must be a string, found an integer", None),
                    (5, "persona #1: unknown key \"colour\" (expected one of: id, description, fit)", None),
                    (6, "fit rule #1 of persona #1: missing required key \"id\"", None),
                    (12, "missing required key \"trait\"", Some("f")),
                    (15, "`points` must be an integer, found a float", Some("f")),
                    (16, "unknown operator \"pointz\"", Some("f")),
                    (17, "condition has no operator", Some("g")),
                    (21, "missing required key \"points\"", Some("h")),
                ],
            ),
            (
                &with_mql("[[persona]]\nid = \"p\"\nfit = 3\n"),
                &[(5, "persona \"p\": `fit` must be an array of tables", None)],
            ),
            (
                "persona = [\"p\"]\n[mql]\nengagement_threshold = 1\n",
                &[(1, "persona #1: each [[persona]] must be a table, found a string", None)],
            ),
            (
                &with_mql("[[fit]]\nid = \"x\"\ntrait = \"t\"\nexists = true\npoints = 9223372036854775808\n"),
                &[(7, "`points` is too large", Some("x"))],
            ),
            (
                &with_mql("[[fit]]\ntrait = \"t\"\nexists = true\npoints = 1\n"),
                &[(3, "fit rule #1: missing required key \"id\"", None)],
            ),
        ]);
    }

    #[test]
    fn ids_are_unique_across_the_whole_model() {
        check(&[(
            &with_mql(
                r#"[[fit]]
id = "x"
trait = "t"
exists = true
points = 1
[[engagement]]
id = "x"
type = "visit"
points = 1
[[persona]]
id = "default"
[[persona]]
id = "p"
[[persona]]
id = "p"
[[persona.fit]]
id = "x"
trait = "t"
exists = false
points = 1
"#,
            ),
            &[
                (9, "duplicate id \"x\" (first defined on line 4)", Some("x")),
                (13, "persona \"default\": the id \"default\" is taken by the top-level [[fit]] rules (line 3)", None),
                (17, "persona \"p\": duplicate id \"p\" (first defined on line 15)", None),
                (19, "duplicate id \"x\" (first defined on line 4)", Some("x")),
            ],
        )]);
    }

    #[test]
    fn several_problems_are_reported_at_once_in_file_order() {
        check(&[(
            r#"name = 1
[mql]
engagement_threshold = 1
min_grade = "E"
[grades]
A = 101
[[engagement]]
id = "a"
type = "visit"
[[persona]]
id = "p"
[[persona.fit]]
id = "f"
trait = "age"
between = [50, 30]
points = 1
"#,
            &[
                (1, "`name` must be a string", None),
                (4, "grade \"E\" does not exist", None),
                (6, "`A` must be between 0 and 100", None),
                (7, "missing required key \"points\"", Some("a")),
                (15, "`between` must list the low bound first", Some("f")),
            ],
        )]);
    }

    #[test]
    fn toml_syntax_errors_are_reported_alone_with_their_position() {
        check(&[
            // The bad `where` would be a second error, but a file that is not
            // TOML has no tree to check.
            (&with_mql("where = 3\nengagement_threshold = \n"), &[(4, "invalid TOML", None)]),
            (&with_mql("[mql]\n"), &[(3, "invalid TOML: duplicate key", None)]),
            (&with_mql("points = 1979-13-27\n"), &[(3, "invalid TOML: invalid date", None)]),
        ]);
        let Err(errors) = parse_model("[mql]\nengagement_threshold = \"60\n") else {
            panic!("an unterminated string must be rejected");
        };
        assert_eq!(errors.0.len(), 1);
        // The error points at the end of the line, where the closing quote is missing.
        assert_eq!((errors.0[0].line, errors.0[0].column), (2, 27));
    }

    #[test]
    fn errors_display_their_position_and_rule_one_per_line() {
        let text = with_mql(
            r#"[[engagement]]
id = "catalog-download"
type = "track"
event = "é"
where = [{ property = "é", gte = "x" }]
points = 1
pointz = 2
"#,
        );
        let Err(errors) = parse_model(&text) else {
            panic!("the model must be rejected");
        };
        // Columns count characters, not bytes: the `"x"` after the `é` is the
        // 34th character of its line but starts at its 35th byte.
        assert_eq!(
            errors.to_string(),
            "line 7, column 34: rule \"catalog-download\": `gte` must be a number, found a string\n\
             line 9, column 1: rule \"catalog-download\": unknown key \"pointz\" (expected one of: id, type, event, \
             path, path_prefix, where, points, max_points, within_days, half_life_days)",
        );
        let Err(errors) = parse_model("[[engagement]]\nid = \"\"\n") else {
            panic!("the model must be rejected");
        };
        assert_eq!(
            errors.to_string(),
            "line 1, column 1: missing required table [mql] (it sets engagement_threshold and min_grade)\n\
             line 1, column 1: engagement rule #1: missing required key \"type\" (one of: track, page, screen, visit)\n\
             line 1, column 1: engagement rule #1: missing required key \"points\"\n\
             line 2, column 6: engagement rule #1: `id` must not be empty",
        );
    }

    #[test]
    fn the_spec_example_parses_into_the_expected_model() {
        let model = match parse_model(FINE_JEWELRY) {
            Ok(model) => model,
            Err(errors) => panic!("the spec example must parse:\n{errors}"),
        };
        assert_eq!(model.name, "fine-jewelry");
        assert_eq!(model.mql, MqlCondition { engagement_threshold: 60.0, min_grade: Grade::B });
        assert_eq!(model.grades, GradeBounds { a: 75, b: 50, c: 25 });
        assert_eq!(model.recycle_days, 90.0);

        let ids: Vec<&str> = model.engagement.iter().map(|rule| rule.id.as_str()).collect();
        assert_eq!(ids, ["repeat-visits", "product-page", "catalog-download", "detailed-inquiry", "unsubscribed"]);
        // Every rule takes the model's 30 days, except the one that sets 0.
        let half_lives: Vec<Option<f64>> = model.engagement.iter().map(|rule| rule.half_life_days).collect();
        assert_eq!(half_lives, [Some(30.0), Some(30.0), Some(30.0), Some(30.0), None]);
        let visits = &model.engagement[0];
        assert_eq!(
            (&visits.selector, visits.points, visits.max_points, visits.within_days),
            (&Selector::Visit, 5.0, Some(20.0), Some(30.0)),
        );
        assert_eq!(model.engagement[1].selector, Selector::Page { path: PathMatch::Prefix("/products/".into()) });
        assert_eq!(model.engagement[2].selector, Selector::Track { event: "Catalog Downloaded".into() });
        assert_eq!(
            model.engagement[3].conditions,
            [Condition { field: "message_length".into(), operators: vec![Operator::Gte(80.0)] }],
        );
        assert_eq!(model.engagement[4].points, -50.0);

        let personas: Vec<(&str, usize)> =
            model.personas.iter().map(|persona| (persona.id.as_str(), persona.fit.len())).collect();
        assert_eq!(personas, [("affluent-socialite", 4), ("bridal-couple", 3)]);
        let socialite = &model.personas[0];
        assert_eq!(
            socialite.description.as_deref(),
            Some("Affluent, 30-50, into high-end fashion, goes to social events"),
        );
        assert_eq!(
            socialite.fit[0],
            FitRule {
                id: "age-30-50".into(),
                condition: Condition { field: "age".into(), operators: vec![Operator::Between(30.0, 50.0)] },
                points: 25,
            },
        );
        assert_eq!(
            socialite.fit[2].condition.operators,
            [Operator::ContainsAny(vec![
                Operand::Text("high-end fashion".into()),
                Operand::Text("accessories".into()),
            ])]
        );
        assert_eq!(socialite.fit[3].condition.operators, [Operator::Equals(Operand::Bool(true))]);
        assert_eq!(model.rule_ids().count(), 12);
    }

    #[test]
    fn defaults_apply_and_top_level_fit_rules_form_the_default_persona_first() {
        let text = r#"[mql]
engagement_threshold = 5
[grades]
B = 40
[[persona]]
id = "named"
[[persona.fit]]
id = "n"
trait = "t"
equals = "v"
points = 5
[[fit]]
id = "top"
trait = "t"
exists = true
points = 3
[[engagement]]
id = "own"
type = "page"
half_life_days = 7
points = 1
[[engagement]]
id = "none"
type = "track"
event = "E"
points = 1
"#;
        let model = match parse_model(text) {
            Ok(model) => model,
            Err(errors) => panic!("the model must parse:\n{errors}"),
        };
        assert_eq!(model.name, "model");
        assert_eq!(model.mql.min_grade, Grade::D);
        assert_eq!(model.recycle_days, 90.0);
        assert_eq!(model.grades, GradeBounds { a: 75, b: 40, c: 25 });
        let personas: Vec<&str> = model.personas.iter().map(|persona| persona.id.as_str()).collect();
        assert_eq!(personas, ["default", "named"]);
        assert_eq!(model.personas[0].fit[0].id, "top");
        assert_eq!(model.engagement[0].selector, Selector::Page { path: PathMatch::Any });
        let half_lives: Vec<Option<f64>> = model.engagement.iter().map(|rule| rule.half_life_days).collect();
        assert_eq!(half_lives, [Some(7.0), None]);
    }

    #[test]
    fn the_summary_names_every_rule_and_persona() {
        let model = match parse_model(FINE_JEWELRY) {
            Ok(model) => model,
            Err(errors) => panic!("the spec example must parse:\n{errors}"),
        };
        let summary = summary(&model);
        for id in model.rule_ids().chain(model.personas.iter().map(|persona| persona.id.as_str())) {
            assert!(summary.contains(id), "{id} is missing from:\n{summary}");
        }
        for expected in [
            "fine-jewelry",
            "engagement >= 60 and grade B or better",
            "A >= 75, B >= 50, C >= 25",
            "message_length >= 80",
            "age between 30 and 50",
            "page path_prefix \"/products/\"",
            "interests contains any of [\"high-end fashion\", \"accessories\"]",
        ] {
            assert!(summary.contains(expected), "{expected:?} is missing from:\n{summary}");
        }
    }

    /// Lines a model file might contain, right and wrong, so that generated
    /// files get past the TOML parser and into the checks.
    const FRAGMENTS: &[&str] = &[
        "[mql]",
        "engagement_threshold = 10",
        "min_grade = \"E\"",
        "recycle_days = -1e400",
        "[grades]",
        "A = 150",
        "C = 0x7fffffffffffffff",
        "[decay]",
        "half_life_days = 30",
        "[[engagement]]",
        "[[persona]]",
        "[[persona.fit]]",
        "[[fit]]",
        "id = \"a\"",
        "id = \"b c\"",
        "id = \"default\"",
        "type = \"track\"",
        "type = \"page\"",
        "type = \"visit\"",
        "event = \"E\"",
        "path = \"/x\"",
        "path_prefix = \"/y\"",
        "where = [{ property = \"p\", between = [3, 1] }, { property = \"é\", in = [] }]",
        "where = [{ property = \"p\", min_length = -3, oops = 1 }, 4]",
        "points = 5",
        "points = nan",
        "points = 1979-05-27T07:32:00Z",
        "max_points = 0",
        "trait = \"age\"",
        "gte = 30",
        "equals = [1]",
        "description = \"d\"",
        "name = \"\"",
        "a.b = 1",
        "fit = []",
        "é = 1",
    ];

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            let _ = parse_model(&text);
        }

        #[test]
        fn generated_models_are_accepted_or_rejected_with_positions_inside_the_file(
            lines in prop::collection::vec(prop::sample::select(FRAGMENTS), 0..30),
        ) {
            let text = lines.join("\n");
            match parse_model(&text) {
                Ok(model) => {
                    let summary = summary(&model);
                    prop_assert!(summary.contains(&model.name));
                }
                Err(ModelErrors(errors)) => {
                    prop_assert!(!errors.is_empty());
                    let line_count = text.split('\n').count();
                    for error in &errors {
                        prop_assert!((1..=line_count).contains(&error.line), "{error} in:\n{text}");
                        prop_assert!(error.column >= 1);
                    }
                }
            }
        }
    }
}
