//! The scoring model a marketing team writes as a TOML file (spec section 4):
//! engagement rules, buyer personas with their fit rules, grade bounds and the
//! MQL condition. A `Model` only exists once [`Model::parse`] has checked the
//! whole file, so scoring code never meets an invalid one.

mod parse;

pub use parse::{ModelError, ModelErrors};

use crate::condition::Condition;
use std::fmt;

#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub name: String,
    pub mql: MqlCondition,
    pub grades: GradeBounds,
    pub engagement: Vec<EngagementRule>,
    /// Personas in file order; top-level `[[fit]]` rules form the persona
    /// `default`, placed first.
    pub personas: Vec<Persona>,
    /// Days after a sales rejection before a lead may qualify again
    /// (`recycle_days` under `[mql]`, default 90).
    pub recycle_days: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MqlCondition {
    pub engagement_threshold: f64,
    pub min_grade: Grade,
}

/// Lower bounds of the fit score for grades A, B and C; below C is D.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradeBounds {
    pub a: i64,
    pub b: i64,
    pub c: i64,
}

impl GradeBounds {
    pub fn grade(&self, fit: i64) -> Grade {
        if fit >= self.a {
            Grade::A
        } else if fit >= self.b {
            Grade::B
        } else if fit >= self.c {
            Grade::C
        } else {
            Grade::D
        }
    }
}

impl Default for GradeBounds {
    fn default() -> Self {
        GradeBounds { a: 75, b: 50, c: 25 }
    }
}

/// A fit grade. `A` is the best; the derived order puts it first, so
/// "B or better" is `grade <= Grade::B`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Grade {
    A,
    B,
    C,
    D,
}

impl Grade {
    pub fn parse(text: &str) -> Option<Grade> {
        match text {
            "A" => Some(Grade::A),
            "B" => Some(Grade::B),
            "C" => Some(Grade::C),
            "D" => Some(Grade::D),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Grade::A => "A",
            Grade::B => "B",
            Grade::C => "C",
            Grade::D => "D",
        }
    }

    /// Whether this grade is `minimum` or better.
    pub fn meets(self, minimum: Grade) -> bool {
        self <= minimum
    }
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct EngagementRule {
    pub id: String,
    pub selector: Selector,
    /// Property conditions (`where`) that must all hold.
    pub conditions: Vec<Condition>,
    pub points: f64,
    /// Cap on the absolute value of the rule's total.
    pub max_points: Option<f64>,
    /// Only events at most this many days before the evaluation time count.
    pub within_days: Option<f64>,
    /// The effective half-life in days (the rule's own, else the model's
    /// `[decay]`); `None` means the rule does not decay.
    pub half_life_days: Option<f64>,
}

/// Which events an engagement rule looks at.
#[derive(Clone, Debug, PartialEq)]
pub enum Selector {
    Track { event: String },
    Page { path: PathMatch },
    Screen { path: PathMatch },
    Visit,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PathMatch {
    Any,
    Exact(String),
    Prefix(String),
}

impl PathMatch {
    pub fn matches(&self, path: Option<&str>) -> bool {
        match self {
            PathMatch::Any => true,
            PathMatch::Exact(expected) => path == Some(expected.as_str()),
            PathMatch::Prefix(prefix) => path.is_some_and(|path| path.starts_with(prefix.as_str())),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Persona {
    pub id: String,
    pub description: Option<String>,
    pub fit: Vec<FitRule>,
}

/// A fit rule: a condition on one trait, worth `points` when it holds.
#[derive(Clone, Debug, PartialEq)]
pub struct FitRule {
    pub id: String,
    pub condition: Condition,
    pub points: i64,
}

impl FitRule {
    pub fn trait_name(&self) -> &str {
        &self.condition.field
    }
}

impl Model {
    /// Parses and checks a model file, reporting every problem at once.
    pub fn parse(text: &str) -> Result<Model, ModelErrors> {
        parse::parse_model(text)
    }

    /// The trait names that fit rules read, sorted and without repeats.
    pub fn trait_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> =
            self.personas.iter().flat_map(|persona| persona.fit.iter().map(FitRule::trait_name)).collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Every rule id, engagement rules first, in file order.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.engagement
            .iter()
            .map(|rule| rule.id.as_str())
            .chain(self.personas.iter().flat_map(|persona| persona.fit.iter().map(|rule| rule.id.as_str())))
    }

    /// A one-screen, human-readable summary of the model's rules.
    pub fn summary(&self) -> String {
        parse::summary(self)
    }
}
