//! Who the leads are: personas and their profile traits, with the quirks of
//! real data (numbers sent as strings, nulls, missing keys, later changes).

use crate::catalog::*;
use crate::json::Json;
use crate::rng::{Draw, Rand};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Persona {
    Affluent,
    Bridal,
    Student,
    Budget,
    Gift,
    Other,
    /// Anonymous visitors (never identified).
    Visitor,
}

impl Persona {
    /// Relative interest in each collection (indexes of `COLLECTIONS`).
    pub(crate) fn collection_weights(self) -> &'static [f64] {
        match self {
            Persona::Affluent => &[1.0, 1.0, 1.0, 6.0, 3.0, 3.0, 3.0, 0.5, 3.0],
            Persona::Bridal => &[8.0, 5.0, 6.0, 1.0, 1.0, 2.0, 1.0, 0.5, 1.0],
            Persona::Student => &[1.0, 0.5, 0.5, 0.5, 2.0, 3.0, 2.0, 5.0, 2.0],
            Persona::Budget => &[1.0, 1.0, 1.0, 0.5, 2.0, 2.0, 2.0, 4.0, 2.0],
            Persona::Gift => &[1.0, 1.0, 0.5, 1.0, 3.0, 3.0, 3.0, 4.0, 2.0],
            Persona::Other | Persona::Visitor => &[2.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0],
        }
    }
}

/// Profile traits of a lead, with the quirks of real data (numbers sent as
/// strings, nulls, missing keys).
pub(crate) struct Traits {
    pub(crate) email: String,
    pub(crate) first: &'static str,
    pub(crate) last: &'static str,
    pub(crate) age: Option<i64>,
    pub(crate) age_text: bool,
    pub(crate) income: Option<i64>,
    pub(crate) income_text: bool,
    pub(crate) income_null: bool,
    pub(crate) interests: Vec<&'static str>,
    pub(crate) social: Option<bool>,
    pub(crate) social_null: bool,
    pub(crate) relationship: Option<&'static str>,
    pub(crate) phone_null: bool,
    pub(crate) city: &'static str,
    pub(crate) company: Option<&'static str>,
    pub(crate) created_at: i64,
}

impl Traits {
    pub(crate) fn write_full(&self, j: &mut Json) {
        j.s("email", &self.email);
        j.s("firstName", self.first);
        j.s("lastName", self.last);
        self.write_age(j);
        self.write_income(j);
        if !self.interests.is_empty() {
            j.arr("interests");
            for i in &self.interests {
                j.str_val(i);
            }
            j.end_arr();
        }
        match self.social {
            Some(b) => j.b("attends_social_events", b),
            None if self.social_null => j.null("attends_social_events"),
            None => {}
        }
        if let Some(r) = self.relationship {
            j.s("relationship_status", r);
        }
        if let Some(c) = self.company {
            j.s("company", c);
        }
        j.s("city", self.city);
        if self.phone_null {
            j.null("phone");
        }
        j.ts("createdAt", self.created_at);
    }

    pub(crate) fn write_age(&self, j: &mut Json) {
        match self.age {
            Some(a) if self.age_text => j.s("age", &a.to_string()),
            Some(a) => j.i("age", a),
            None => {}
        }
    }

    pub(crate) fn write_income(&self, j: &mut Json) {
        match self.income {
            Some(v) if self.income_text => j.s("household_income", &v.to_string()),
            Some(v) => j.i("household_income", v),
            None if self.income_null => j.null("household_income"),
            None => {}
        }
    }

    pub(crate) fn write_interests(&self, j: &mut Json) {
        j.arr("interests");
        for i in &self.interests {
            j.str_val(i);
        }
        j.end_arr();
    }
}

/// A later change to a lead's profile, sent by a later identify.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Update {
    /// Got engaged: relationship_status and interests change.
    Engaged,
    Income(i64),
    Birthday,
    Social,
}

pub(crate) fn make_traits(rng: &mut Rand, persona: Persona, id: u32, start: i64) -> (Traits, Option<Update>) {
    let first = *rng.pick(FIRST_NAMES);
    let last = *rng.pick(LAST_NAMES);
    let email = format!(
        "{}.{}{}@{}",
        first.to_ascii_lowercase(),
        last.to_ascii_lowercase(),
        u64::from(id) + 1,
        rng.pick(EMAIL_DOMAINS)
    );
    let mut t = Traits {
        email,
        first,
        last,
        age: None,
        age_text: rng.chance(0.15),
        income: None,
        income_text: rng.chance(0.04),
        income_null: false,
        interests: Vec::new(),
        social: None,
        social_null: false,
        relationship: None,
        phone_null: rng.chance(0.2),
        city: *rng.pick(CITIES),
        company: None,
        created_at: start,
    };
    let mut update = None;
    let pick_some = |rng: &mut Rand, pool: &[&'static str], n: usize, into: &mut Vec<&'static str>| {
        for _ in 0..n {
            let x = *rng.pick(pool);
            if !into.contains(&x) {
                into.push(x);
            }
        }
    };
    match persona {
        Persona::Affluent => {
            t.age = Some(if rng.chance(0.9) { rng.range(30, 50) } else { rng.range(51, 58) });
            if rng.chance(0.8) {
                t.income = Some(rng.range(30, 120) * 5_000);
            } else {
                t.income_null = rng.chance(0.5);
                if rng.chance(0.5) {
                    update = Some(Update::Income(rng.range(30, 120) * 5_000));
                }
            }
            if rng.chance(0.9) {
                pick_some(rng, &["high-end fashion", "accessories"], 2, &mut t.interests);
            }
            pick_some(rng, &["art", "travel", "wine", "philanthropy", "interior design"], 2, &mut t.interests);
            let r = rng.unit();
            if r < 0.85 {
                t.social = Some(true);
            } else if r < 0.93 {
                t.social_null = true;
            } else {
                t.social = Some(false);
            }
            t.relationship = Some(*rng.pick(&["married", "married", "single", "divorced"]));
        }
        Persona::Bridal => {
            t.age = Some(if rng.chance(0.9) { rng.range(25, 40) } else { rng.range(41, 46) });
            if rng.chance(0.65) {
                t.relationship = Some("engaged");
                t.interests = vec!["bridal", "wedding"];
                pick_some(rng, &["travel", "home decor", "photography"], 1, &mut t.interests);
            } else {
                t.relationship = Some("in a relationship");
                t.interests = vec!["travel", "jewelry"];
                update = Some(Update::Engaged);
            }
            t.income = Some(rng.range(10, 36) * 5_000);
            if rng.chance(0.5) {
                t.social = Some(rng.chance(0.5));
            }
        }
        Persona::Student => {
            t.age = Some(rng.range(18, 23));
            if rng.chance(0.5) {
                t.income = Some(rng.range(1, 5) * 5_000);
            }
            pick_some(rng, &["music", "gaming", "streetwear", "sneakers", "k-pop"], 2, &mut t.interests);
            t.social = Some(rng.chance(0.4));
            t.relationship = Some(*rng.pick(&["single", "single", "in a relationship"]));
            if rng.chance(0.03) {
                update = Some(Update::Engaged);
            }
        }
        Persona::Budget => {
            t.age = Some(rng.range(25, 65));
            t.income = Some(rng.range(6, 19) * 5_000);
            pick_some(rng, &["home decor", "gardening", "cooking", "fitness", "reading"], 2, &mut t.interests);
            if rng.chance(0.5) {
                t.social = Some(false);
            }
            t.relationship = Some(*rng.pick(&["married", "single"]));
            let r = rng.unit();
            if r < 0.03 {
                update = Some(Update::Engaged);
            } else if r < 0.08 {
                update = Some(Update::Income(rng.range(6, 19) * 5_000));
            }
        }
        Persona::Gift => {
            t.age = Some(rng.range(45, 72));
            t.income = Some(rng.range(12, 29) * 5_000);
            pick_some(rng, &["golf", "travel", "watches", "sports"], 2, &mut t.interests);
            t.social = Some(rng.chance(0.3));
            t.relationship = Some("married");
            let r = rng.unit();
            if r < 0.05 {
                update = Some(Update::Birthday);
            } else if r < 0.08 {
                update = Some(Update::Social);
            }
        }
        Persona::Other | Persona::Visitor => {
            t.company = Some(*rng.pick(&[
                "Brilliant Earth Research",
                "Atelier Supply Co.",
                "Northline Wholesale",
                "Studio Vale",
            ]));
            if rng.chance(0.5) {
                t.interests = vec!["jewelry design"];
            }
        }
    }
    if update.is_none() && t.age.is_some() && rng.chance(0.04) {
        update = Some(Update::Birthday);
    }
    (t, update)
}

impl Traits {
    pub(crate) fn apply(&mut self, update: Update) {
        match update {
            Update::Engaged => {
                self.relationship = Some("engaged");
                self.interests.retain(|i| *i != "jewelry");
                for x in ["bridal", "wedding"] {
                    if !self.interests.contains(&x) {
                        self.interests.insert(0, x);
                    }
                }
            }
            Update::Income(v) => {
                self.income = Some(v);
                self.income_null = false;
            }
            Update::Birthday => self.age = self.age.map(|a| a + 1),
            Update::Social => {
                self.social = Some(true);
                self.social_null = false;
            }
        }
    }

    /// The traits an update identify sends (after `apply`).
    pub(crate) fn write_update(&self, j: &mut Json, update: Update) {
        j.s("email", &self.email);
        match update {
            Update::Engaged => {
                j.s("relationship_status", "engaged");
                self.write_interests(j);
            }
            Update::Income(_) => self.write_income(j),
            Update::Birthday => self.write_age(j),
            Update::Social => j.b("attends_social_events", true),
        }
    }
}
