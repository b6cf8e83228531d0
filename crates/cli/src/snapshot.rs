//! `qualify backtest --snapshot`: a model tried on data without event times
//! (a CRM export), from the store or from files; the figures are the
//! engine's (`qualify_engine::backtest::snapshot_backtest`).

use crate::commands::period_bound;
use crate::history::History;
use crate::{BacktestArgs, BacktestFormat};
use anyhow::{Result, anyhow};
use qualify_engine::backtest::{SnapshotBacktest, snapshot_backtest_log, snapshot_comparison_json, snapshot_json};
use qualify_engine::log::{EventLog, Keep};
use qualify_engine::outcome::Outcome;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;

pub fn backtest_snapshot(args: BacktestArgs) -> Result<ExitCode> {
    let as_of = args.as_of.as_deref().map(|text| period_bound(text, "--as-of")).transpose()?;
    let empty = || anyhow!("there are no events to score: import leads first");
    let run = |log: &EventLog, outcomes: &[Outcome]| -> Result<(String, SnapshotBacktest)> {
        let result = snapshot_backtest_log(log, outcomes, as_of).ok_or_else(empty)?;
        Ok((log.model().name.clone(), result))
    };
    let history = History::open(&args.history)?;
    let (_, first) = history.model(args.model.as_deref())?;
    let second = args.against.as_deref().map(|against| history.against(against)).transpose()?;
    let outcomes = history.outcomes()?;
    let model = run(&history.log(first, Keep::ScoringFacts)?, &outcomes)?;
    let against = second.map(|(_, model)| run(&history.log(model, Keep::ScoringFacts)?, &outcomes)).transpose()?;
    let format =
        args.format.unwrap_or(if io::stdout().is_terminal() { BacktestFormat::Table } else { BacktestFormat::Json });
    let mut out = BufWriter::new(io::stdout().lock());
    match format {
        BacktestFormat::Json => {
            let json = match &against {
                None => snapshot_json(&model.0, &model.1),
                Some(against) => snapshot_comparison_json((&model.0, &model.1), (&against.0, &against.1)),
            };
            writeln!(out, "{json}")?;
        }
        BacktestFormat::Table => {
            let mut table = comfy_table::Table::new();
            table.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
            let mut header = vec!["".to_owned(), model.0.clone()];
            header.extend(against.iter().map(|(name, _)| name.clone()));
            table.set_header(header);
            let results: Vec<&SnapshotBacktest> =
                std::iter::once(&model.1).chain(against.iter().map(|(_, result)| result)).collect();
            let rows: [Row; 8] = [
                ("leads", |result| result.leads.to_string()),
                ("MQLs", |result| result.mqls.to_string()),
                ("won / lost", |result| format!("{} / {}", result.won, result.lost)),
                ("MQLs won / lost", |result| format!("{} / {}", result.mqls_won, result.mqls_lost)),
                ("precision (MQLs won / MQLs with an outcome)", |result| percent(result.precision)),
                ("recall (MQLs won / won)", |result| percent(result.recall)),
                ("base rate (won / leads with an outcome)", |result| percent(result.base_rate)),
                ("as of", |result| result.as_of.to_string()),
            ];
            for (label, cell) in rows {
                let mut row = vec![label.to_owned()];
                row.extend(results.iter().map(|result| cell(result)));
                table.add_row(row);
            }
            writeln!(out, "{table}")?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// A row of the table: its label and how to show one result in it.
type Row = (&'static str, fn(&SnapshotBacktest) -> String);

fn percent(value: Option<f64>) -> String {
    value.map_or("-".to_owned(), |value| format!("{:.1}%", value * 100.0))
}
