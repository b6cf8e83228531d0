//! `qualify import leads`: leads (and their outcomes) from a CRM export CSV,
//! through a mapping file (`qualify_engine::crm`), stored the way `qualify
//! ingest` and `qualify outcomes import` store theirs; and `--infer-map`,
//! which writes a starting mapping from a file. See docs/import.md.

use crate::commands::{open_store, ops_error, progress_bar, read_model};
use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use qualify_engine::crm::{Binding, Inference, Mapping};
use qualify_engine::outcome::{LineError, Numbered, Outcome};
use qualify_engine::time::EventTime;
use qualify_store::Store;
use qualify_store::ops::{self, OpsError, Touched};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ImportCommand {
    /// Import leads from a CRM export CSV through a mapping file (or write
    /// a starting mapping with --infer-map). Bad rows are reported with
    /// their line numbers and the others imported; importing the same file
    /// twice changes nothing.
    Leads(ImportLeadsArgs),
}

#[derive(Args)]
pub struct ImportLeadsArgs {
    /// The CSV file (a header row; UTF-8, a byte order mark is skipped).
    pub file: PathBuf,
    /// The mapping file (TOML: see docs/import.md).
    #[arg(long, required_unless_present = "infer_map", conflicts_with = "infer_map")]
    pub map: Option<PathBuf>,
    /// Write a starting mapping for the file instead of importing it.
    #[arg(long)]
    pub infer_map: bool,
    /// With --infer-map: write the mapping to this file (default: standard output).
    #[arg(long, requires = "infer_map")]
    pub out: Option<PathBuf>,
    /// The time of leads without a creation time (RFC 3339 or YYYY-MM-DD);
    /// replaces the mapping's `at`. With --infer-map, the `at` it writes
    /// (default: today, midnight UTC).
    #[arg(long)]
    pub at: Option<String>,
    /// Activate this model file before importing (outcomes need scored
    /// leads: without it, the store must have an active model).
    #[arg(long, conflicts_with = "infer_map")]
    pub model: Option<PathBuf>,
    /// The database file.
    #[arg(long, env = "QUALIFY_DB", default_value = "qualify.db")]
    pub db: PathBuf,
}

pub fn import(command: ImportCommand) -> Result<ExitCode> {
    match command {
        ImportCommand::Leads(args) if args.infer_map => infer_map(&args),
        ImportCommand::Leads(args) => import_leads(&args),
    }
}

/// Rows converted and stored per batch: one transaction each.
const BATCH_ROWS: usize = 2_000;

fn at_flag(args: &ImportLeadsArgs) -> Result<Option<EventTime>> {
    args.at
        .as_deref()
        .map(|text| {
            qualify_engine::crm::parse_csv_time(text)
                .ok_or_else(|| anyhow!("--at {text:?} is not an RFC 3339 time or a YYYY-MM-DD date"))
        })
        .transpose()
}

/// A CSV reader over the file, its progress bar fed by the bytes read.
fn open_csv(path: &Path) -> Result<(csv::Reader<indicatif::ProgressBarIter<File>>, indicatif::ProgressBar)> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let bar = progress_bar(file.metadata().ok().map(|metadata| metadata.len()));
    bar.set_message(path.display().to_string());
    // Flexible: a row with too few or too many cells is reported as a bad
    // row rather than stopping the file.
    let reader = csv::ReaderBuilder::new().flexible(true).from_reader(bar.wrap_read(file));
    Ok((reader, bar))
}

fn header(reader: &mut csv::Reader<impl io::Read>, path: &Path) -> Result<Vec<String>> {
    let header = reader.headers().with_context(|| format!("{}: cannot read the header row", path.display()))?;
    if header.is_empty() || header.iter().all(|name| name.trim().is_empty()) {
        bail!("{}: the file is empty or its first row is not a header", path.display());
    }
    Ok(header.iter().map(str::to_owned).collect())
}

/// Reads the next record; a row that is not UTF-8 or has the wrong number
/// of cells is a bad row (`Err` with its line), the end of the file `None`.
fn next_record(
    reader: &mut csv::Reader<impl io::Read>,
    record: &mut csv::StringRecord,
    columns: usize,
) -> Result<Option<Result<u64, LineError>>> {
    match reader.read_record(record) {
        Ok(false) => Ok(None),
        Ok(true) => {
            let line = record.position().map_or(0, |position| position.line());
            if record.len() != columns {
                let reason = format!("has {} cells, the header has {columns}", record.len());
                return Ok(Some(Err(LineError { line, field: None, reason })));
            }
            Ok(Some(Ok(line)))
        }
        Err(error) => match error.kind() {
            csv::ErrorKind::Utf8 { pos, .. } => {
                let line = pos.as_ref().map_or(0, |position| position.line());
                let reason = "is not valid UTF-8".to_owned();
                Ok(Some(Err(LineError { line, field: None, reason })))
            }
            _ => Err(anyhow!(error)),
        },
    }
}

/// What an import did, printed at the end.
#[derive(Default)]
struct ImportSummary {
    rows: u64,
    leads_new: u64,
    leads_unchanged: u64,
    bad_rows: u64,
}

fn import_leads(args: &ImportLeadsArgs) -> Result<ExitCode> {
    let map_path = args.map.as_deref().ok_or_else(|| anyhow!("--map MAPPING.toml is required"))?;
    let text = std::fs::read_to_string(map_path)
        .with_context(|| format!("cannot read mapping file {}", map_path.display()))?;
    let mut mapping = Mapping::parse(&text)
        .map_err(|errors| anyhow!("{} has {} problem(s):\n{errors}", map_path.display(), errors.0.len()))?;
    if let Some(at) = at_flag(args)? {
        mapping.at = Some(at);
    }
    let now = EventTime::now();
    let mut store = open_store(&args.db)?;
    if let Some(model_path) = &args.model {
        let model_text = std::fs::read_to_string(model_path)
            .with_context(|| format!("cannot read model file {}", model_path.display()))?;
        read_model(model_path)?;
        let (stored, _) = ops::activate_model_text(&mut store, &model_text, now).map_err(ops_error)?;
        println!("activated model {:?} as version {}", stored.name, stored.version);
    }
    let scored = store.active_model()?.is_some();
    if mapping.outcome.is_some() && !scored {
        bail!(
            "{} has no active model, and outcomes can only be recorded for scored leads: \
             give --model MODEL.toml or run `qualify model activate` first",
            args.db.display()
        );
    }

    let (mut reader, bar) = open_csv(&args.file)?;
    let header = header(&mut reader, &args.file)?;
    let mut binding = mapping.bind(&header).map_err(|errors| {
        anyhow!(
            "{} does not fit {} ({} problem(s)):\n{errors}",
            map_path.display(),
            args.file.display(),
            errors.0.len()
        )
    })?;
    let name = args.file.display().to_string();
    let mut summary = ImportSummary::default();
    let mut outcomes: Vec<Numbered<Outcome>> = Vec::new();
    let mut touched = Touched::default();
    let mut record = csv::StringRecord::new();
    let mut batch: Vec<String> = Vec::with_capacity(BATCH_ROWS);
    let report = |errors: &[LineError]| -> Result<()> {
        let mut stderr = io::stderr().lock();
        for error in errors {
            bar.suspend(|| writeln!(stderr, "{name}: rejected {error}"))?;
        }
        Ok(())
    };
    loop {
        let next = next_record(&mut reader, &mut record, header.len())?;
        let at_end = next.is_none();
        match next.map(|line| line.map_err(|error| vec![error]).and_then(|line| convert(&mut binding, &record, line))) {
            None => {}
            Some(Ok((message, outcome))) => {
                summary.rows += 1;
                batch.push(message);
                outcomes.extend(outcome);
            }
            Some(Err(errors)) => {
                summary.rows += 1;
                summary.bad_rows += 1;
                report(&errors)?;
            }
        }
        if batch.len() >= BATCH_ROWS || (at_end && !batch.is_empty()) {
            store_batch(&mut store, &batch, now, &mut touched, &mut summary)?;
            batch.clear();
        }
        if at_end {
            break;
        }
    }
    // The file is read; the bar stays up (full) while the leads are scored
    // and the outcomes recorded, which takes as long again.
    bar.set_message(format!("{}: scoring leads, recording outcomes", args.file.display()));
    let leads_scored = ops::rescore_touched(&mut store, &touched, now).map_err(ops_error)?;
    let outcome_import = ops::import_outcomes(&mut store, &outcomes)?;
    bar.finish_and_clear();
    report(&outcome_import.rejected)?;

    println!(
        "rows {}: leads imported {}, unchanged {} (already imported), rejected {}",
        summary.rows, summary.leads_new, summary.leads_unchanged, summary.bad_rows
    );
    if mapping.outcome.is_some() {
        println!(
            "outcomes: accepted {}, duplicates {} (already recorded, unchanged), rejected {}",
            outcome_import.accepted,
            outcome_import.duplicates,
            outcome_import.rejected.len()
        );
    }
    if !binding.unmapped.is_empty() {
        println!("unmapped columns (not imported; map them or list them in `ignore`): {}", binding.unmapped.join(", "));
    }
    if !binding.ignored.is_empty() {
        println!("ignored columns: {}", binding.ignored.join(", "));
    }
    if !binding.unnamed.is_empty() {
        let positions: Vec<String> = binding.unnamed.iter().map(ToString::to_string).collect();
        println!("columns without a name (not imported): {}", positions.join(", "));
    }
    if scored {
        println!("scored {leads_scored} lead(s)");
    } else {
        println!("no active model yet: run `qualify model activate MODEL.toml` to score the leads");
    }
    Ok(ExitCode::SUCCESS)
}

/// One record through the mapping: the message line and its outcome.
fn convert(
    binding: &mut Binding,
    record: &csv::StringRecord,
    line: u64,
) -> Result<(String, Option<Numbered<Outcome>>), Vec<LineError>> {
    let row = binding.convert(record, line)?;
    Ok((row.message, row.outcome.map(|value| Numbered { line: row.line, value })))
}

/// Stores a batch of messages the way `qualify ingest` does. Identities are
/// only noted for re-scoring when something new was stored, so importing a
/// file again re-scores nothing.
fn store_batch(
    store: &mut qualify_store::SqliteStore,
    batch: &[String],
    now: EventTime,
    touched: &mut Touched,
    summary: &mut ImportSummary,
) -> Result<()> {
    let lines: Vec<&[u8]> = batch.iter().map(|line| line.as_bytes()).collect();
    let (events, rejections) = ops::parse_lines(&lines, 1, now);
    if let Some(rejection) = rejections.first() {
        // The messages are built by the mapping; one the parser refuses is a bug.
        return Err(anyhow!("an imported row made an invalid message: {rejection}"));
    }
    let mut batch_touched = Touched::default();
    let appended = ops::append(store, &events, &mut batch_touched).map_err(|error| ops_error(OpsError::from(error)))?;
    summary.leads_new += appended.accepted;
    summary.leads_unchanged += appended.duplicates;
    if appended.accepted > 0 {
        touched.user_ids.extend(batch_touched.user_ids);
    }
    Ok(())
}

fn infer_map(args: &ImportLeadsArgs) -> Result<ExitCode> {
    let at = at_flag(args)?.unwrap_or_else(|| {
        let today = EventTime::now().as_micros() / qualify_engine::time::MICROS_PER_DAY;
        EventTime::from_micros(today * qualify_engine::time::MICROS_PER_DAY)
    });
    let (mut reader, bar) = open_csv(&args.file)?;
    let header = header(&mut reader, &args.file)?;
    let mut inference = Inference::new(&header);
    let mut record = csv::StringRecord::new();
    let mut skipped = 0;
    while let Some(row) = next_record(&mut reader, &mut record, header.len())? {
        match row {
            Ok(_) => inference.add(&record),
            Err(_) => skipped += 1,
        }
    }
    bar.finish_and_clear();
    let file_name = args
        .file
        .file_name()
        .map_or_else(|| args.file.display().to_string(), |name| name.to_string_lossy().into_owned());
    let text = inference.mapping_text(&file_name, at);
    if skipped > 0 {
        eprintln!(
            "{}: {skipped} row(s) with the wrong number of cells or bad UTF-8 were not looked at",
            args.file.display()
        );
    }
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "wrote a starting mapping to {}: check it, then `qualify import leads {} --map {}`",
                path.display(),
                args.file.display(),
                path.display()
            );
        }
        None => io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}
