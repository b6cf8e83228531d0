use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::*;

fn run(config: &GeneratorConfig) -> (Vec<u8>, GeneratedStats) {
    let mut buf = Vec::new();
    let stats = generate(config, &mut buf).unwrap();
    (buf, stats)
}

fn small(leads: usize, seed: u64) -> GeneratorConfig {
    GeneratorConfig { leads, seed, ..GeneratorConfig::default() }
}

/// All messages, batches flattened, in file order.
fn messages(buf: &[u8]) -> Vec<Value> {
    let mut all = Vec::new();
    for line in buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let v: Value = serde_json::from_slice(line).expect("valid JSON line");
        match v.get("batch") {
            Some(Value::Array(items)) => all.extend(items.iter().cloned()),
            Some(_) => panic!("batch is not an array"),
            None => all.push(v),
        }
    }
    all
}

#[test]
fn deterministic_for_a_seed() {
    let (a, sa) = run(&small(300, 7));
    let (b, sb) = run(&small(300, 7));
    assert_eq!(sa, sb);
    assert!(a == b, "same seed must give the same bytes");
}

#[test]
fn different_seeds_differ() {
    let (a, _) = run(&small(200, 1));
    let (b, _) = run(&small(200, 2));
    assert_ne!(a, b);
}

#[test]
fn lines_are_messages_or_batches() {
    let (buf, stats) = run(&small(400, 42));
    let mut lines = 0;
    let mut batches = 0;
    let mut in_batches = 0;
    for line in buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        lines += 1;
        let v: Value = serde_json::from_slice(line).expect("valid JSON");
        if let Some(items) = v.get("batch") {
            batches += 1;
            let items = items.as_array().expect("batch array");
            assert!((2..=20).contains(&items.len()), "{} items", items.len());
            in_batches += items.len();
            assert!(v.get("sentAt").and_then(Value::as_str).is_some());
        } else {
            assert!(v.get("type").is_some(), "not a message: {v}");
        }
    }
    assert_eq!(lines, stats.lines);
    assert_eq!(buf.len() as u64, stats.bytes);
    assert!(batches > 0, "some batch envelopes");
    let msgs = messages(&buf);
    assert_eq!(msgs.len() as u64, stats.messages);
    assert!(in_batches > 0 && in_batches < msgs.len() / 2);
}

#[test]
fn messages_are_well_formed_and_in_window() {
    let config = small(500, 3);
    let (buf, _) = run(&config);
    let end = config.end;
    let start = end - jiff::SignedDuration::from_hours(24 * i64::from(config.days));
    let mut types: HashMap<String, usize> = HashMap::new();
    let mut events: HashMap<String, usize> = HashMap::new();
    for m in messages(&buf) {
        let ty = m["type"].as_str().expect("type");
        assert!(["identify", "track", "page", "screen", "group", "alias"].contains(&ty), "{ty}");
        *types.entry(ty.to_string()).or_default() += 1;
        assert!(m["messageId"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(
            m.get("userId").and_then(Value::as_str).is_some() || m.get("anonymousId").and_then(Value::as_str).is_some(),
            "no identity: {m}"
        );
        let time = m.get("timestamp").or_else(|| m.get("originalTimestamp")).and_then(Value::as_str).expect("a time");
        let t: jiff::Timestamp = time.parse().expect("RFC 3339");
        assert!(t >= start && t < end, "{time} outside the window");
        assert!(time.ends_with('Z') && time.len() == 24, "{time}");
        if ty == "alias" {
            assert!(m["previousId"].as_str().is_some());
        }
        if ty == "page" || ty == "screen" {
            // properties.path, else context.page.path, else the url's path
            let path = m["properties"]["path"]
                .as_str()
                .or_else(|| m["context"]["page"]["path"].as_str())
                .or_else(|| m["properties"]["url"].as_str().and_then(|u| u.strip_prefix("https://www.aurelle.example")))
                .expect("a page path");
            assert!(path.starts_with('/'), "{path}");
        }
        if ty == "track" {
            *events.entry(m["event"].as_str().expect("event").to_string()).or_default() += 1;
        }
    }
    for ty in ["identify", "track", "page", "screen", "alias"] {
        assert!(types.get(ty).copied().unwrap_or(0) > 0, "no {ty}: {types:?}");
    }
    for event in [
        "Catalog Downloaded",
        "Inquiry Submitted",
        "Product Added to Wishlist",
        "Newsletter Subscribed",
        "Unsubscribed",
    ] {
        assert!(events.contains_key(event), "no {event}: {events:?}");
    }
}

#[test]
fn requested_number_of_leads() {
    for leads in [0, 1, 7, 250] {
        let (buf, stats) = run(&small(leads, 11));
        let users: HashSet<String> =
            messages(&buf).iter().filter_map(|m| m.get("userId").and_then(Value::as_str).map(str::to_string)).collect();
        assert_eq!(users.len(), leads);
        assert_eq!(stats.leads, leads as u64);
    }
}

#[test]
fn duplicates_are_present_and_verbatim() {
    let (buf, stats) = run(&small(500, 5));
    assert!(stats.duplicates > 0);
    let mut seen: HashMap<String, Value> = HashMap::new();
    let mut dups = 0;
    for m in messages(&buf) {
        let id = m["messageId"].as_str().unwrap().to_string();
        if let Some(first) = seen.get(&id) {
            assert_eq!(first, &m, "a duplicate is the same message");
            dups += 1;
        } else {
            seen.insert(id, m);
        }
    }
    assert_eq!(dups, stats.duplicates);
}

#[test]
fn short_window_and_odd_end() {
    let config = GeneratorConfig { leads: 100, seed: 9, end: "2026-03-01T12:34:56.789123Z".parse().unwrap(), days: 1 };
    let (buf, stats) = run(&config);
    assert!(stats.lines > 0);
    let start = config.end - jiff::SignedDuration::from_hours(24);
    for m in messages(&buf) {
        let time = m.get("timestamp").or_else(|| m.get("originalTimestamp")).unwrap();
        let t: jiff::Timestamp = time.as_str().unwrap().parse().unwrap();
        assert!(t >= start && t < config.end);
    }
}

#[test]
fn model_parses_as_toml() {
    let model: toml::Table = toml::from_str(JEWELRY_MODEL).expect("valid TOML");
    assert_eq!(model["mql"]["engagement_threshold"].as_integer(), Some(60));
    assert_eq!(model["mql"]["min_grade"].as_str(), Some("B"));
    let rules = model["engagement"].as_array().unwrap();
    let personas = model["persona"].as_array().unwrap();
    let mut ids = HashSet::new();
    for r in rules {
        assert!(ids.insert(r["id"].as_str().unwrap().to_string()));
    }
    for p in personas {
        for f in p["fit"].as_array().unwrap() {
            assert!(ids.insert(f["id"].as_str().unwrap().to_string()));
        }
    }
    for id in ["repeat-visits", "product-page", "catalog-download", "detailed-inquiry", "unsubscribed"] {
        assert!(ids.contains(id), "{id}");
    }
    let persona_ids: Vec<_> = personas.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(persona_ids, ["affluent-socialite", "bridal-couple"]);
}

fn event_time(m: &Value) -> jiff::Timestamp {
    m.get("timestamp")
        .or_else(|| m.get("originalTimestamp"))
        .and_then(Value::as_str)
        .expect("a time")
        .parse()
        .expect("RFC 3339")
}

#[test]
fn some_gaps_are_exactly_thirty_minutes_and_some_just_over() {
    let (buf, _) = run(&small(500, 8));
    let mut times: HashMap<String, Vec<i64>> = HashMap::new();
    for m in messages(&buf) {
        if let Some(anon) = m.get("anonymousId").and_then(Value::as_str) {
            times.entry(anon.to_string()).or_default().push(event_time(&m).as_millisecond());
        }
    }
    let (mut exact, mut just_over) = (0, 0);
    for list in times.values_mut() {
        list.sort_unstable();
        list.dedup();
        for pair in list.windows(2) {
            match pair[1] - pair[0] {
                1_800_000 => exact += 1,
                1_800_001..=1_805_000 => just_over += 1,
                _ => {}
            }
        }
    }
    assert!(exact > 0, "no gap of exactly 30 minutes");
    assert!(just_over > 0, "no gap just over 30 minutes");
}

#[test]
fn messages_come_in_the_formats_of_several_sdks() {
    let (buf, _) = run(&small(500, 4));
    let mut libraries = HashSet::new();
    let (mut original_only, mut context_traits_only, mut both_traits, mut string_age, mut nulls) = (0, 0, 0, 0, 0);
    for m in messages(&buf) {
        libraries.insert(m["context"]["library"]["name"].as_str().expect("library").to_string());
        if m.get("timestamp").is_none() {
            assert!(m.get("originalTimestamp").is_some());
            original_only += 1;
        }
        if m["type"] == "identify" {
            let traits = m.get("traits");
            let context_traits = m["context"].get("traits");
            match (traits, context_traits) {
                (None, Some(_)) => context_traits_only += 1,
                (Some(_), Some(_)) => both_traits += 1,
                (Some(_), None) => {}
                (None, None) => panic!("identify without traits: {m}"),
            }
            let traits = traits.or(context_traits).expect("traits");
            string_age += usize::from(traits.get("age").is_some_and(Value::is_string));
            nulls += traits.as_object().unwrap().values().filter(|v| v.is_null()).count();
        }
    }
    for library in [
        "analytics.js",
        "analytics-python",
        "@segment/analytics-node",
        "@rudderstack/rudder-sdk-node",
        "rudder-sdk-python",
        "analytics-ios",
        "analytics-kotlin",
    ] {
        assert!(libraries.contains(library), "no {library}: {libraries:?}");
    }
    assert!(original_only > 0 && context_traits_only > 0 && both_traits > 0);
    assert!(string_age > 0 && nulls > 0);
}

#[test]
fn delivery_is_roughly_time_ordered_with_some_late_messages() {
    let (buf, stats) = run(&small(600, 6));
    let mut latest = i64::MIN;
    let (mut behind, mut an_hour_behind) = (0u64, 0u64);
    for m in messages(&buf) {
        let t = event_time(&m).as_millisecond();
        if t < latest {
            behind += 1;
            // a message is at most a day late, and its retry at most 6 hours later
            assert!(latest - t <= 30 * 3_600_000, "{} h late", (latest - t) / 3_600_000);
            an_hour_behind += u64::from(latest - t > 3_600_000);
        }
        latest = latest.max(t);
    }
    assert!(behind > 0 && an_hour_behind > 0);
    assert!(behind < stats.messages / 10, "{behind} of {} out of order", stats.messages);
}

#[test]
fn anonymous_visitors_are_about_thirty_percent_of_anonymous_ids() {
    let (buf, stats) = run(&small(600, 12));
    let mut linked = HashSet::new();
    let mut all = HashSet::new();
    for m in messages(&buf) {
        let anon = match m["type"].as_str() {
            Some("alias") => m.get("previousId"),
            _ => m.get("anonymousId"),
        }
        .and_then(Value::as_str);
        if let Some(anon) = anon {
            all.insert(anon.to_string());
            if m.get("userId").and_then(Value::as_str).is_some() {
                linked.insert(anon.to_string());
            }
        }
    }
    let never = all.len() - linked.len();
    assert_eq!(never as u64, stats.anonymous_visitors);
    let share = never as f64 / all.len() as f64;
    assert!((0.2..0.4).contains(&share), "{share}");
}
