//! How results are printed: CSV and JSON lines for scripts, tables and text
//! for people.

use qualify_engine::backtest::{Backtest, backtest_json, compare, comparison_json};
use qualify_engine::criteria::{CRITERIA_COLUMNS, CriteriaReport, criteria_cells, criteria_json};
use qualify_engine::explain::Explanation;
use qualify_engine::kpis::{Grouping, KPI_COLUMNS, KpiRow, Period, kpi_cells, kpi_row_json};
use qualify_engine::score::LeadScore;
use qualify_store::LeadRecord;
use serde_json::json;
use std::fmt::Write as _;
use std::io::{self, Write};

/// `engagement` with two decimals, never `-0.00`.
pub fn two_decimals(value: f64) -> String {
    let text = format!("{value:.2}");
    if text == "-0.00" { "0.00".to_owned() } else { text }
}

pub fn write_scores_csv(scores: &[LeadScore], out: impl Write) -> io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(["lead_id", "engagement", "fit", "grade", "mql", "mql_at"])?;
    for score in scores {
        writer.write_record([
            score.lead_id.as_str(),
            &two_decimals(score.engagement),
            &score.fit.to_string(),
            score.grade.as_str(),
            if score.mql { "true" } else { "false" },
            &score.mql_at.map(|time| time.to_string()).unwrap_or_default(),
        ])?;
    }
    writer.flush()
}

pub fn write_scores_json(scores: &[LeadScore], mut out: impl Write) -> io::Result<()> {
    for score in scores {
        let row = json!({
            "lead_id": score.lead_id,
            "engagement": two_decimals(score.engagement).parse::<f64>().unwrap_or(score.engagement),
            "fit": score.fit,
            "grade": score.grade.as_str(),
            "mql": score.mql,
            "mql_at": score.mql_at.map(|time| time.to_string()),
            "persona": score.persona,
        });
        writeln!(out, "{row}")?;
    }
    out.flush()
}

const LEAD_COLUMNS: [&str; 11] = [
    "lead_id",
    "stage",
    "engagement",
    "fit",
    "grade",
    "persona",
    "mql",
    "mql_at",
    "channel",
    "first_seen",
    "last_seen",
];

fn lead_cells(lead: &LeadRecord) -> [String; 11] {
    [
        lead.lead_id.clone(),
        lead.stage.clone(),
        two_decimals(lead.engagement),
        lead.fit.to_string(),
        lead.grade.clone(),
        lead.persona.clone().unwrap_or_default(),
        lead.mql.to_string(),
        lead.mql_at.map(|time| time.to_string()).unwrap_or_default(),
        lead.channel.clone().unwrap_or_default(),
        lead.first_seen.to_string(),
        lead.last_seen.to_string(),
    ]
}

pub fn write_leads_table(leads: &[LeadRecord], mut out: impl Write) -> io::Result<()> {
    let mut table = comfy_table::Table::new();
    table.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(LEAD_COLUMNS);
    for lead in leads {
        table.add_row(lead_cells(lead));
    }
    writeln!(out, "{table}")?;
    writeln!(out, "{} lead(s)", leads.len())
}

pub fn write_leads_csv(leads: &[LeadRecord], out: impl Write) -> io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(LEAD_COLUMNS)?;
    for lead in leads {
        writer.write_record(lead_cells(lead))?;
    }
    writer.flush()
}

pub fn write_leads_json(leads: &[LeadRecord], mut out: impl Write) -> io::Result<()> {
    for lead in leads {
        let row = json!({
            "lead_id": lead.lead_id,
            "stage": lead.stage,
            "engagement": two_decimals(lead.engagement).parse::<f64>().unwrap_or(lead.engagement),
            "fit": lead.fit,
            "grade": lead.grade,
            "persona": lead.persona,
            "mql": lead.mql,
            "mql_at": lead.mql_at.map(|time| time.to_string()),
            "channel": lead.channel,
            "first_seen": lead.first_seen.to_string(),
            "last_seen": lead.last_seen.to_string(),
            "traits": lead.traits,
            "anonymous_ids": lead.anonymous_ids,
            "scored_at": lead.scored_at.to_string(),
            "model_version": lead.model_version,
        });
        writeln!(out, "{row}")?;
    }
    out.flush()
}

fn optional(value: Option<f64>, suffix: &str) -> Option<String> {
    value.map(|value| format!("{value}{suffix}"))
}

/// A readable, rule-by-rule account of a lead's scores.
pub fn explanation_text(explanation: &Explanation) -> String {
    let mut text = String::new();
    let e = explanation;
    let _ = writeln!(text, "Lead {} as of {}", e.lead_id, e.as_of);
    if !e.anonymous_ids.is_empty() {
        let _ = writeln!(text, "  anonymous ids: {}", e.anonymous_ids.join(", "));
    }
    if !e.merged_user_ids.is_empty() {
        let _ = writeln!(text, "  merged user ids: {}", e.merged_user_ids.join(", "));
    }
    let _ = writeln!(
        text,
        "  engagement {}  fit {}  grade {}  persona {}",
        two_decimals(e.engagement),
        e.fit,
        e.grade,
        e.persona.as_deref().unwrap_or("-")
    );
    let verdict = match (e.mql, e.mql_at) {
        (true, Some(at)) => format!("MQL (since {at})"),
        (false, Some(at)) => {
            format!("not an MQL now (was one at {at}; engagement has decayed or fit changed)")
        }
        (_, None) => "not an MQL".to_owned(),
    };
    let _ = writeln!(
        text,
        "  {verdict}; the model needs engagement >= {} and grade {} or better\n",
        e.engagement_threshold, e.min_grade
    );

    let _ = writeln!(text, "Engagement rules");
    for rule in &e.engagement_rules {
        let settings: Vec<String> = [
            Some(format!("{} points", rule.points)),
            optional(rule.max_points, " max"),
            optional(rule.within_days, " days window"),
            optional(rule.half_life_days, " days half-life"),
        ]
        .into_iter()
        .flatten()
        .collect();
        let cap =
            if rule.capped { format!(" (capped from {})", two_decimals(rule.uncapped_total)) } else { String::new() };
        let _ = writeln!(text, "  {:<28} {:>8}{cap}   [{}]", rule.id, two_decimals(rule.total), settings.join(", "));
        for event in &rule.events {
            let value = match event.value {
                Some(value) => two_decimals(value),
                None => "outside window".to_owned(),
            };
            let _ = writeln!(text, "      {}  {:<40} {value}", event.time, event.description);
        }
    }

    let _ = writeln!(text, "\nFit");
    for persona in &e.personas {
        let _ = writeln!(text, "  persona {} : {}", persona.id, persona.fit);
        for rule in &persona.rules {
            let value = rule.value.as_ref().map_or("missing".to_owned(), |value| value.to_string());
            let mark = if rule.held { "held  " } else { "missed" };
            let _ = writeln!(text, "      {mark} {:<24} {:>4}  {} = {value}", rule.id, rule.points, rule.trait_name);
        }
    }

    if let Some(crossing) = &e.mql_crossing {
        let _ = writeln!(
            text,
            "\nBecame an MQL at {} with engagement {} and fit {} (grade {})",
            crossing.at,
            two_decimals(crossing.engagement),
            crossing.fit,
            crossing.grade
        );
        for (rule, total) in &crossing.rule_totals {
            let _ = writeln!(text, "  {rule:<28} {:>8}", two_decimals(*total));
        }
        if !crossing.fit_rules_held.is_empty() {
            let _ = writeln!(text, "  fit rules held: {}", crossing.fit_rules_held.join(", "));
        }
    }
    text
}

/// KPIs as a table, one column per group (the figures are many, the groups
/// few, so they read better down the page).
pub fn write_kpis_table(rows: &[KpiRow], mut out: impl Write) -> io::Result<()> {
    let mut table = comfy_table::Table::new();
    table.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    let cells: Vec<Vec<String>> = rows.iter().map(kpi_cells).collect();
    let mut header = vec!["kpi".to_owned()];
    header.extend(cells.iter().map(|row| row[0].clone()));
    table.set_header(header);
    for (index, name) in KPI_COLUMNS.iter().enumerate().skip(1) {
        let mut line = vec![(*name).to_owned()];
        line.extend(cells.iter().map(|row| row[index].clone()));
        table.add_row(line);
    }
    writeln!(out, "{table}")
}

pub fn write_kpis_csv(rows: &[KpiRow], out: impl Write) -> io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(KPI_COLUMNS)?;
    for row in rows {
        writer.write_record(kpi_cells(row))?;
    }
    writer.flush()
}

/// KPIs as one JSON document, the same as `GET /api/kpis` answers.
pub fn write_kpis_json(rows: &[KpiRow], grouping: Grouping, period: Period, mut out: impl Write) -> io::Result<()> {
    let document = json!({
        "from": period.from().to_string(),
        "to": period.to().to_string(),
        "by": grouping.as_str(),
        "rows": rows.iter().map(kpi_row_json).collect::<Vec<_>>(),
    });
    writeln!(out, "{document}")?;
    out.flush()
}

/// The criteria report as one table: a line of totals, then a row per rule,
/// score band and rejection reason.
pub fn write_criteria_table(report: &CriteriaReport, mut out: impl Write) -> io::Result<()> {
    let rate = report.conversion_rate.map(|rate| format!("{}", (rate * 10_000.0).round() / 10_000.0));
    writeln!(
        out,
        "as of {}: {} leads, {} MQLs, {} won (conversion {})",
        report.as_of,
        report.leads,
        report.mqls,
        report.won,
        rate.as_deref().unwrap_or("-")
    )?;
    let mut table = comfy_table::Table::new();
    table.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(CRITERIA_COLUMNS);
    for row in criteria_cells(report) {
        table.add_row(row);
    }
    writeln!(out, "{table}")
}

pub fn write_criteria_csv(report: &CriteriaReport, out: impl Write) -> io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(CRITERIA_COLUMNS)?;
    for row in criteria_cells(report) {
        writer.write_record(row)?;
    }
    writer.flush()
}

/// The criteria report as one JSON document, the same as
/// `GET /api/reports/criteria` answers.
pub fn write_criteria_json(report: &CriteriaReport, mut out: impl Write) -> io::Result<()> {
    writeln!(out, "{}", criteria_json(report))?;
    out.flush()
}

/// A backtest (and the one it is compared with) as one JSON document: the
/// result's object alone, or `{"model", "against", "only_model",
/// "only_against"}`.
pub fn write_backtest_json(
    model: (&str, &Backtest),
    against: Option<(&str, &Backtest)>,
    mut out: impl Write,
) -> io::Result<()> {
    let document = match against {
        None => backtest_json(model.0, model.1),
        Some(against) => comparison_json(model, against),
    };
    writeln!(out, "{document}")?;
    out.flush()
}

/// A backtest for people: one column per model, a row per figure and per
/// week, then the leads only one of the models qualifies.
pub fn write_backtest_table(
    model: (&str, &Backtest),
    against: Option<(&str, &Backtest)>,
    mut out: impl Write,
) -> io::Result<()> {
    let results: Vec<(&str, &Backtest)> = std::iter::once(model).chain(against).collect();
    let documents: Vec<serde_json::Value> = results.iter().map(|(name, result)| backtest_json(name, result)).collect();
    let mut table = comfy_table::Table::new();
    table.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    let mut header = vec!["figure".to_owned()];
    header.extend(results.iter().map(|(name, _)| (*name).to_owned()));
    table.set_header(header);
    let fields = ["mqls", "won_after_mql", "precision", "won", "won_mql_first", "recall", "median_lead_time_days"];
    for field in fields {
        let mut line = vec![field.to_owned()];
        line.extend(documents.iter().map(|document| match &document[field] {
            serde_json::Value::Null => String::new(),
            value => value.to_string(),
        }));
        table.add_row(line);
    }
    for (index, week) in model.1.mqls_per_week.iter().enumerate() {
        let mut line = vec![format!("mqls {}", week.week)];
        line.extend(results.iter().map(|(_, result)| result.mqls_per_week[index].mqls.to_string()));
        table.add_row(line);
    }
    writeln!(out, "Backtest from {} to {}", model.1.period.from(), model.1.period.to())?;
    writeln!(out, "{table}")?;
    if let Some((name, other)) = against {
        let comparison = compare(model.1, other);
        let list = |ids: &[String]| if ids.is_empty() { "-".to_owned() } else { ids.join(", ") };
        writeln!(out, "MQLs only under {}: {}", model.0, list(&comparison.only_model))?;
        writeln!(out, "MQLs only under {name}: {}", list(&comparison.only_against))?;
    }
    out.flush()
}
