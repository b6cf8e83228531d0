//! `qualify suggest`: weights fitted on sales' won/lost outcomes, printed
//! next to the current model's and written as a candidate model file.

use crate::history::{History, HistoryArgs};
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use qualify_engine::log::Keep;
use qualify_engine::suggest::{FeatureSource, SuggestOptions, Suggestion, mean, suggest, suggestion_json};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args)]
pub struct SuggestArgs {
    #[command(flatten)]
    pub history: HistoryArgs,
    /// The model whose rules are weighed (required with --events; default:
    /// the store's active model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Sales' capacity, as MQLs per week (`200` or `200/week`); the
    /// threshold is set so that about that many leads qualify per week of
    /// the history. Default: as many MQLs as the current model makes.
    #[arg(long, value_parser = parse_capacity)]
    pub capacity: Option<f64>,
    /// Also weigh rules generated from the leads' traits (one per category
    /// value and per numeric bucket, and one for a missing value).
    #[arg(long)]
    pub generate_rules: bool,
    /// The fewest leads with an outcome a generated rule must hold for
    /// (default: 1% of them, at least 10).
    #[arg(long)]
    pub min_support: Option<usize>,
    /// Folds of the stratified cross-validation.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(2..=20))]
    pub folds: u16,
    /// Seed of the fold assignment.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Strength of the L2 penalty (on standardised features).
    #[arg(long, default_value_t = 1.0)]
    pub alpha: f64,
    /// Where to write the suggested model.
    #[arg(long, default_value = "suggested.toml")]
    pub out: PathBuf,
    /// Output format of the report (default: table on a terminal, JSON otherwise).
    #[arg(long, value_enum)]
    pub format: Option<SuggestFormat>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SuggestFormat {
    Table,
    Json,
}

fn parse_capacity(text: &str) -> Result<f64, String> {
    let number = text.strip_suffix("/week").or_else(|| text.strip_suffix("/w")).unwrap_or(text).trim();
    match number.parse::<f64>() {
        Ok(capacity) if capacity.is_finite() && capacity > 0.0 => Ok(capacity),
        _ => Err(format!("{text:?} is not a capacity: give MQLs per week, like 200 or 200/week")),
    }
}

pub fn run(args: SuggestArgs) -> Result<ExitCode> {
    let options = SuggestOptions {
        folds: usize::from(args.folds),
        seed: args.seed,
        alpha: args.alpha,
        capacity_per_week: args.capacity,
        generate_rules: args.generate_rules,
        min_support: args.min_support,
    };
    if !(args.alpha.is_finite() && args.alpha >= 0.0) {
        bail!("--alpha must be a number 0 or above, found {}", args.alpha);
    }
    let history = History::open(&args.history)?;
    let (text, model) = history.model(args.model.as_deref())?;
    let outcomes = history.outcomes()?;
    let log = history.log(model, Keep::Profile)?;
    let suggestion = suggest(&log, &text, &outcomes, &options)?;
    std::fs::write(&args.out, &suggestion.model_text)
        .with_context(|| format!("cannot write the suggested model to {}", args.out.display()))?;
    let mut stderr = io::stderr().lock();
    for warning in &suggestion.warnings {
        writeln!(stderr, "warning: {warning}")?;
    }
    let format =
        args.format.unwrap_or(if io::stdout().is_terminal() { SuggestFormat::Table } else { SuggestFormat::Json });
    let mut out = BufWriter::new(io::stdout().lock());
    match format {
        SuggestFormat::Json => {
            let mut document = suggestion_json(&suggestion);
            document["model_file"] = args.out.display().to_string().into();
            writeln!(out, "{document}")?;
        }
        SuggestFormat::Table => write_table(&suggestion, &args.out, &mut out)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn write_table(suggestion: &Suggestion, path: &Path, out: &mut impl Write) -> io::Result<()> {
    let cv = &suggestion.cross_validation;
    let threshold = &suggestion.threshold;
    writeln!(
        out,
        "{} leads with an outcome: {} won, {} lost ({} leads in all)",
        suggestion.won + suggestion.lost,
        suggestion.won,
        suggestion.lost,
        suggestion.leads
    )?;
    writeln!(out, "Cross-validated AUC ({}-fold, stratified, seed {}):", cv.folds, cv.seed)?;
    writeln!(out, "  current model         {:.3}", mean(&cv.current))?;
    writeln!(out, "  suggested points      {:.3}", mean(&cv.suggested))?;
    writeln!(out, "  logistic regression   {:.3}  (before rounding to points)", mean(&cv.regression))?;
    let mut table = comfy_table::Table::new();
    table.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(["rule", "kind", "leads", "won", "weight", "points now", "suggested"]);
    for rule in &suggestion.rules {
        let kind = match rule.source {
            FeatureSource::Engagement(_) => "engagement",
            FeatureSource::Fit(_) => "fit",
            FeatureSource::Generated(_) => "generated",
        };
        table.add_row([
            rule.id.clone(),
            kind.to_owned(),
            rule.support.to_string(),
            rule.won.to_string(),
            format!("{:.3}", rule.weight),
            rule.old_points.map_or_else(|| "-".to_owned(), crate::output::two_decimals),
            if rule.points == 0 { "left out".to_owned() } else { rule.points.to_string() },
        ]);
    }
    writeln!(out, "{table}")?;
    let capacity = match threshold.capacity_per_week {
        Some(capacity) => format!("{capacity}/week over {:.1} weeks", threshold.weeks),
        None => "as many as the current model".to_owned(),
    };
    writeln!(
        out,
        "MQL: engagement >= {} and grade {} (fit >= {}): {} leads on this history, {} of them won \
         (current model: {}, {} won); target {} ({capacity})",
        threshold.engagement_threshold,
        threshold.min_grade.as_str(),
        threshold.fit_bound,
        threshold.mqls,
        threshold.mqls_won,
        threshold.current_mqls,
        threshold.current_mqls_won,
        threshold.target,
    )?;
    writeln!(
        out,
        "Wrote {}: backtest it (`qualify backtest --model {0} --against active ...`), then `qualify model activate {0}`.",
        path.display()
    )
}
