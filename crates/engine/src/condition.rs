//! Conditions on property and trait values (spec section 4, "Conditions").
//!
//! A condition names a field and one or more operators that must all hold.
//! A missing value (absent or JSON `null`) or one of the wrong type fails
//! every operator except `exists = false` and `not_equals`. Numbers compare as
//! numbers whether they were sent as JSON numbers or as numeric strings.

use serde_json::Value;

/// A literal in a model file that a value is compared with.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    Number(f64),
    Text(String),
    Bool(bool),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Operator {
    Equals(Operand),
    NotEquals(Operand),
    In(Vec<Operand>),
    Gte(f64),
    Gt(f64),
    Lte(f64),
    Lt(f64),
    Between(f64, f64),
    Contains(Operand),
    ContainsAny(Vec<Operand>),
    StartsWith(String),
    Exists(bool),
    MinLength(u64),
}

/// Every operator name a model file may use, in the order the spec lists them.
pub const OPERATOR_NAMES: [&str; 13] = [
    "equals",
    "not_equals",
    "in",
    "gte",
    "gt",
    "lte",
    "lt",
    "between",
    "contains",
    "contains_any",
    "starts_with",
    "exists",
    "min_length",
];

/// A field (a property or a trait) and the operators its value must satisfy.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub field: String,
    pub operators: Vec<Operator>,
}

impl Condition {
    /// Whether every operator holds for `value` (`None` when the field is absent).
    pub fn holds(&self, value: Option<&Value>) -> bool {
        let value = value.filter(|value| !value.is_null());
        self.operators.iter().all(|operator| operator.holds(value))
    }
}

impl Operator {
    /// Whether the operator holds for a present, non-null value (`None` when missing).
    pub fn holds(&self, value: Option<&Value>) -> bool {
        let Some(value) = value else {
            return matches!(self, Operator::Exists(false) | Operator::NotEquals(_));
        };
        match self {
            Operator::Equals(operand) => equals(value, operand),
            Operator::NotEquals(operand) => !equals(value, operand),
            Operator::In(operands) => operands.iter().any(|operand| equals(value, operand)),
            Operator::Gte(bound) => number(value).is_some_and(|n| n >= *bound),
            Operator::Gt(bound) => number(value).is_some_and(|n| n > *bound),
            Operator::Lte(bound) => number(value).is_some_and(|n| n <= *bound),
            Operator::Lt(bound) => number(value).is_some_and(|n| n < *bound),
            Operator::Between(low, high) => number(value).is_some_and(|n| *low <= n && n <= *high),
            Operator::Contains(operand) => match value {
                Value::String(text) => text.contains(operand_text(operand).as_str()),
                Value::Array(items) => items.iter().any(|item| equals(item, operand)),
                _ => false,
            },
            Operator::ContainsAny(operands) => match value {
                Value::Array(items) => items.iter().any(|item| operands.iter().any(|operand| equals(item, operand))),
                Value::Object(_) => false,
                scalar => operands.iter().any(|operand| equals(scalar, operand)),
            },
            Operator::StartsWith(prefix) => value.as_str().is_some_and(|text| text.starts_with(prefix.as_str())),
            Operator::Exists(expected) => *expected,
            Operator::MinLength(length) => match value {
                Value::String(text) => text.chars().count() as u64 >= *length,
                Value::Array(items) => items.len() as u64 >= *length,
                _ => false,
            },
        }
    }
}

/// A value as a number: a JSON number, or a string that holds one (surrounding
/// white space allowed). Non-finite values are not numbers.
pub fn number(value: &Value) -> Option<f64> {
    let number = match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse::<f64>().ok(),
        _ => None,
    }?;
    number.is_finite().then_some(number)
}

fn operand_text(operand: &Operand) -> String {
    match operand {
        Operand::Number(number) => number.to_string(),
        Operand::Text(text) => text.clone(),
        Operand::Bool(flag) => flag.to_string(),
    }
}

/// Equality of a value with a literal: numerically when both sides are numbers
/// (or numeric strings), else exact text, else booleans.
fn equals(value: &Value, operand: &Operand) -> bool {
    match operand {
        Operand::Number(expected) => number(value) == Some(*expected),
        Operand::Text(expected) => match value {
            Value::String(text) if text == expected => true,
            _ => match (number(value), expected.trim().parse::<f64>()) {
                (Some(actual), Ok(expected)) => actual == expected,
                _ => false,
            },
        },
        Operand::Bool(expected) => value.as_bool() == Some(*expected),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// One row per case: the operator, the value (`None` for a missing field)
    /// and whether the condition holds.
    fn check(cases: &[(Operator, Option<Value>, bool)]) {
        for (operator, value, expected) in cases {
            let condition = Condition { field: "f".into(), operators: vec![operator.clone()] };
            assert_eq!(condition.holds(value.as_ref()), *expected, "{operator:?} on {value:?}");
        }
    }

    fn text(s: &str) -> Operand {
        Operand::Text(s.into())
    }

    #[test]
    fn equals_and_not_equals() {
        use Operator::*;
        check(&[
            (Equals(text("engaged")), Some(json!("engaged")), true),
            (Equals(text("engaged")), Some(json!("Engaged")), false),
            (Equals(Operand::Number(34.0)), Some(json!(34)), true),
            (Equals(Operand::Number(34.0)), Some(json!("34")), true),
            (Equals(Operand::Number(34.0)), Some(json!(" 34.0 ")), true),
            (Equals(text("34")), Some(json!(34)), true),
            (Equals(Operand::Bool(true)), Some(json!(true)), true),
            (Equals(Operand::Bool(true)), Some(json!("true")), false),
            (Equals(text("x")), None, false),
            (Equals(text("x")), Some(Value::Null), false),
            (Equals(text("x")), Some(json!(["x"])), false),
            (NotEquals(text("x")), Some(json!("y")), true),
            (NotEquals(text("x")), Some(json!("x")), false),
            (NotEquals(text("x")), None, true),
            (NotEquals(text("x")), Some(Value::Null), true),
            (NotEquals(Operand::Number(1.0)), Some(json!({"a": 1})), true),
        ]);
    }

    #[test]
    fn in_list() {
        let operator = Operator::In(vec![text("gold"), text("platinum"), Operand::Number(5.0)]);
        check(&[
            (operator.clone(), Some(json!("gold")), true),
            (operator.clone(), Some(json!("silver")), false),
            (operator.clone(), Some(json!("5")), true),
            (operator.clone(), None, false),
        ]);
    }

    #[test]
    fn numeric_comparisons_accept_numeric_strings_and_refuse_other_types() {
        use Operator::*;
        check(&[
            (Gte(80.0), Some(json!(80)), true),
            (Gte(80.0), Some(json!(79.99)), false),
            (Gte(80.0), Some(json!("120")), true),
            (Gte(80.0), Some(json!("lots")), false),
            (Gte(80.0), Some(json!(true)), false),
            (Gte(80.0), None, false),
            (Gt(80.0), Some(json!(80)), false),
            (Gt(80.0), Some(json!(80.5)), true),
            (Lte(50.0), Some(json!(50)), true),
            (Lte(50.0), Some(json!("51")), false),
            (Lt(50.0), Some(json!(49)), true),
            (Lt(50.0), Some(json!(50)), false),
            (Between(30.0, 50.0), Some(json!(30)), true),
            (Between(30.0, 50.0), Some(json!(50)), true),
            (Between(30.0, 50.0), Some(json!("50.0")), true),
            (Between(30.0, 50.0), Some(json!(50.01)), false),
            (Between(30.0, 50.0), Some(json!(29)), false),
            (Between(30.0, 50.0), Some(json!("NaN")), false),
            (Between(30.0, 50.0), None, false),
        ]);
    }

    #[test]
    fn contains_and_contains_any() {
        use Operator::*;
        check(&[
            (Contains(text("ring")), Some(json!("engagement rings")), true),
            (Contains(text("ring")), Some(json!("necklace")), false),
            (Contains(text("bridal")), Some(json!(["bridal", "gold"])), true),
            (Contains(text("bri")), Some(json!(["bridal"])), false),
            (Contains(text("x")), Some(json!(5)), false),
            (Contains(text("x")), None, false),
            (ContainsAny(vec![text("bridal"), text("wedding")]), Some(json!(["gold", "wedding"])), true),
            (ContainsAny(vec![text("bridal"), text("wedding")]), Some(json!(["gold"])), false),
            (ContainsAny(vec![text("bridal"), text("wedding")]), Some(json!("wedding")), true),
            (ContainsAny(vec![text("bridal"), text("wedding")]), Some(json!("wedding bands")), false),
            (ContainsAny(vec![text("bridal")]), Some(json!({"bridal": true})), false),
            (ContainsAny(vec![text("bridal")]), None, false),
        ]);
    }

    #[test]
    fn starts_with_exists_and_min_length() {
        use Operator::*;
        check(&[
            (StartsWith("/products/".into()), Some(json!("/products/ring")), true),
            (StartsWith("/products/".into()), Some(json!("/about")), false),
            (StartsWith("/products/".into()), Some(json!(12)), false),
            (StartsWith("/products/".into()), None, false),
            (Exists(true), Some(json!("")), true),
            (Exists(true), Some(json!(0)), true),
            (Exists(true), Some(Value::Null), false),
            (Exists(true), None, false),
            (Exists(false), None, true),
            (Exists(false), Some(Value::Null), true),
            (Exists(false), Some(json!("x")), false),
            (MinLength(3), Some(json!("abc")), true),
            (MinLength(3), Some(json!("ab")), false),
            (MinLength(3), Some(json!("élé")), true),
            (MinLength(2), Some(json!([1, 2])), true),
            (MinLength(2), Some(json!([1])), false),
            (MinLength(2), Some(json!(12345)), false),
            (MinLength(2), None, false),
        ]);
    }

    #[test]
    fn all_operators_of_a_condition_must_hold() {
        let condition = Condition { field: "age".into(), operators: vec![Operator::Gte(30.0), Operator::Lt(40.0)] };
        assert!(condition.holds(Some(&json!(35))));
        assert!(!condition.holds(Some(&json!(45))));
        assert!(!condition.holds(None));
    }
}
