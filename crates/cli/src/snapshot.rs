//! `qualify backtest --snapshot`: a model tried on data without event times
//! (a CRM export), from the store or from files; the figures are the
//! engine's (`qualify_engine::backtest::snapshot_backtest`).

use crate::commands::{load_events_file, open_existing_store, ops_error, period_bound, read_model, read_outcomes_file};
use crate::{BacktestArgs, BacktestFormat};
use anyhow::{Result, anyhow, bail};
use qualify_engine::Model;
use qualify_engine::backtest::{SnapshotBacktest, snapshot_backtest_log, snapshot_comparison_json, snapshot_json};
use qualify_engine::log::{EventLog, Keep};
use qualify_engine::outcome::Outcome;
use qualify_store::Store;
use qualify_store::ops;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

pub fn backtest_snapshot(args: BacktestArgs) -> Result<ExitCode> {
    let as_of = args.as_of.as_deref().map(|text| period_bound(text, "--as-of")).transpose()?;
    let empty = || anyhow!("there are no events to score: import leads first");
    let run = |log: &EventLog, outcomes: &[Outcome]| -> Result<(String, SnapshotBacktest)> {
        let result = snapshot_backtest_log(log, outcomes, as_of).ok_or_else(empty)?;
        Ok((log.model().name.clone(), result))
    };
    let (model, against) = match (&args.events, &args.outcomes) {
        (Some(events), Some(outcomes)) => {
            let model_path = args.model.as_deref().ok_or_else(|| anyhow!("--model is required with --events"))?;
            let outcomes = read_outcomes_file(outcomes)?;
            let load = |model: Model| load_events_file(events, Arc::new(model), Keep::ScoringFacts);
            let first = run(&load(read_model(model_path)?)?, &outcomes)?;
            let second = match args.against.as_deref() {
                None => None,
                Some("active") => {
                    bail!("--against active compares with the store's model: leave out --events and --outcomes")
                }
                Some(path) => Some(run(&load(read_model(Path::new(path))?)?, &outcomes)?),
            };
            (first, second)
        }
        (None, None) => {
            let store = open_existing_store(&args.db)?;
            let outcomes = store.all_outcomes()?;
            let active = || -> Result<Arc<Model>> {
                ops::active_model(&store).map_err(ops_error)?.map(|(_, model)| model).ok_or_else(|| {
                    anyhow!("{} has no active model: give --model or run `qualify model activate`", args.db.display())
                })
            };
            let load = |model: Arc<Model>| ops::load_log(&store, model, Keep::ScoringFacts);
            let first = match &args.model {
                Some(path) => run(&load(Arc::new(read_model(path)?))?, &outcomes)?,
                None => run(&load(active()?)?, &outcomes)?,
            };
            let second = match args.against.as_deref() {
                None => None,
                Some("active") => Some(run(&load(active()?)?, &outcomes)?),
                Some(path) => Some(run(&load(Arc::new(read_model(Path::new(path))?))?, &outcomes)?),
            };
            (first, second)
        }
        _ => bail!("give both --events and --outcomes, or neither to use the store"),
    };
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
