//! One function per subcommand: read the inputs, call the libraries, print.

use crate::history::History;
use crate::input::Source;
use crate::output;
use crate::{
    BacktestArgs, BacktestFormat, CriteriaArgs, DemoArgs, EventSourceArgs, ExplainArgs, ExplainFormat, IngestArgs,
    KeyRole, KeysCommand, KpiGrouping, KpisArgs, LeadSortArg, LeadsArgs, LogFormat, ModelCommand, ScoreArgs,
    ScoreFormat, ServeArgs, TableFormat,
};
use anyhow::{Context, Result, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use qualify_engine::Model;
use qualify_engine::backtest::{Backtest, backtest_log};
use qualify_engine::explain::explain as explain_lead;
use qualify_engine::kpis::{Grouping, Period};
use qualify_engine::log::{AppendSummary, EventLog, Keep, PreparedChunk};
use qualify_engine::outcome::{
    LineError, Outcome, OutcomeStage, Parsed, Spend, parse_outcomes_csv, parse_spend_csv, parse_time,
};
use qualify_engine::score::score_log;
use qualify_engine::time::EventTime;
use qualify_store::ops::{self, OpsError, Touched};
use qualify_store::{LeadQuery, LeadSort, Role, SqliteStore, Store};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

fn as_of(text: Option<&str>) -> Result<EventTime> {
    match text {
        None => Ok(EventTime::now()),
        Some(text) => EventTime::parse(text)
            .ok_or_else(|| anyhow!("--as-of {text:?} is not an RFC 3339 time (e.g. 2026-12-01T00:00:00Z)")),
    }
}

/// Reads and checks a model file; every problem is reported at once.
pub(crate) fn read_model(path: &Path) -> Result<Model> {
    Ok(read_model_text(path)?.1)
}

/// A model file's text with the model it holds.
pub(crate) fn read_model_text(path: &Path) -> Result<(String, Model)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read model file {}", path.display()))?;
    let model = Model::parse(&text)
        .map_err(|errors| anyhow!("{} has {} problem(s):\n{errors}", path.display(), errors.0.len()))?;
    Ok((text, model))
}

/// Reads an events file into a log, reporting each rejected message on
/// standard error and keeping the valid ones around it. While one chunk is
/// appended (in order, on one core), the next is read and parsed.
pub(crate) fn load_events_file(path: &Path, model: Arc<Model>, keep: Keep) -> Result<EventLog> {
    let mut log = EventLog::new(Arc::clone(&model), keep);
    let mut source = Source::open(path)?;
    let name = source.name.clone();
    let received = EventTime::now();
    let report = |summary: AppendSummary| -> Result<()> {
        let mut stderr = io::stderr().lock();
        for rejection in &summary.rejections {
            writeln!(stderr, "{name}: rejected {rejection}")?;
        }
        Ok(())
    };
    let mut current: Option<PreparedChunk> = None;
    loop {
        let (appended, next) = rayon::join(
            || current.take().map(|chunk| log.append_chunk(chunk)),
            || -> Result<Option<PreparedChunk>> {
                Ok(source
                    .next_chunk()?
                    .map(|(bytes, first_line)| PreparedChunk::prepare(bytes, first_line, &model, keep, received)))
            },
        );
        if let Some(summary) = appended {
            report(summary)?;
        }
        match next? {
            Some(chunk) => current = Some(chunk),
            None => return Ok(log),
        }
    }
}

pub(crate) fn open_existing_store(path: &Path) -> Result<SqliteStore> {
    if !path.exists() {
        bail!("no database at {} (create one with `qualify ingest` or `qualify demo`)", path.display());
    }
    SqliteStore::open(path).with_context(|| format!("cannot open database {}", path.display()))
}

pub(crate) fn open_store(path: &Path) -> Result<SqliteStore> {
    SqliteStore::open(path).with_context(|| format!("cannot open database {}", path.display()))
}

/// The stored log, prepared for the given model file or the active model.
fn load_stored_log(db: &Path, model_path: Option<&Path>, keep: Keep) -> Result<EventLog> {
    let store = open_existing_store(db)?;
    let model = match model_path {
        Some(path) => Arc::new(read_model(path)?),
        None => ops::active_model(&store).map_err(ops_error)?.map(|(_, model)| model).ok_or_else(|| {
            anyhow!("{} has no active model: give --model or run `qualify model activate`", db.display())
        })?,
    };
    Ok(ops::load_log(&store, model, keep)?)
}

pub(crate) fn ops_error(error: OpsError) -> anyhow::Error {
    match error {
        OpsError::InvalidModel(errors) => anyhow!("the model is not valid ({} problem(s)):\n{errors}", errors.0.len()),
        OpsError::Store(error) => anyhow!(error),
    }
}

/// The events of a file or of the store, and the as-of time.
fn load_for(source: &EventSourceArgs, keep: Keep) -> Result<(EventLog, EventTime)> {
    let as_of = as_of(source.as_of.as_deref())?;
    let log = match &source.events {
        Some(events) => {
            let model = source.model.as_deref().ok_or_else(|| anyhow!("--model is required with --events"))?;
            load_events_file(events, Arc::new(read_model(model)?), keep)?
        }
        None => load_stored_log(&source.db, source.model.as_deref(), keep)?,
    };
    Ok((log, as_of))
}

pub fn score(args: ScoreArgs) -> Result<ExitCode> {
    let (log, as_of) = load_for(&args.source, Keep::ScoringFacts)?;
    let scores = score_log(&log, as_of);
    let out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    match args.format {
        ScoreFormat::Csv => output::write_scores_csv(&scores, out)?,
        ScoreFormat::Json => output::write_scores_json(&scores, out)?,
    }
    Ok(ExitCode::SUCCESS)
}

pub fn explain(args: ExplainArgs) -> Result<ExitCode> {
    let (log, as_of) = load_for(&args.source, Keep::Everything)?;
    let explanation = explain_lead(&log, &args.lead_id, as_of)
        .ok_or_else(|| anyhow!("no lead {:?} with events at or before {as_of}", args.lead_id))?;
    let mut out = io::stdout().lock();
    match args.format {
        ExplainFormat::Text => write!(out, "{}", output::explanation_text(&explanation))?,
        ExplainFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&explanation)?)?,
    }
    Ok(ExitCode::SUCCESS)
}

pub fn model(command: ModelCommand) -> Result<ExitCode> {
    match command {
        ModelCommand::Check { file } => {
            let model = read_model(&file)?;
            print!("{}", model.summary());
            println!("{} is valid.", file.display());
        }
        ModelCommand::Activate { file, db } => {
            let text =
                std::fs::read_to_string(&file).with_context(|| format!("cannot read model file {}", file.display()))?;
            let mut store = open_store(&db.db)?;
            let (stored, leads) =
                ops::activate_model_text(&mut store, &text, EventTime::now()).map_err(|error| match error {
                    OpsError::InvalidModel(errors) => anyhow!(
                        "{} was not activated, it has {} problem(s) (the active model stays):\n{errors}",
                        file.display(),
                        errors.0.len()
                    ),
                    other => ops_error(other),
                })?;
            println!("Activated model {:?} as version {}; re-scored {leads} lead(s).", stored.name, stored.version);
        }
        ModelCommand::List { db } => {
            let store = open_existing_store(&db.db)?;
            let mut table = comfy_table::Table::new();
            table.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
            table.set_header(["version", "name", "created_at", "active"]);
            for model in store.models()? {
                table.add_row([
                    model.version.to_string(),
                    model.name,
                    model.created_at.to_string(),
                    if model.active { "active".into() } else { String::new() },
                ]);
            }
            println!("{table}");
        }
        ModelCommand::Show { version, db } => {
            let store = open_existing_store(&db.db)?;
            let model = match version {
                Some(version) => store.model(version)?.ok_or_else(|| anyhow!("no model version {version}"))?,
                None => store.active_model()?.ok_or_else(|| anyhow!("no active model"))?,
            };
            print!("{}", model.toml);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn progress_bar(size: Option<u64>) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(size.unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// Reads NDJSON sources into the store, then re-scores what they touched.
fn ingest_sources(store: &mut SqliteStore, paths: &[&Path], now: EventTime) -> Result<ops::IngestSummary> {
    let mut summary = ops::IngestSummary::default();
    let mut touched = Touched::default();
    let stderr = io::stderr();
    for path in paths {
        let source = Source::open(path)?;
        let name = source.name.clone();
        let bar = progress_bar(source.size);
        bar.set_message(name.clone());
        source.for_each_chunk(|lines, first_line, read| {
            let (events, rejections) = ops::parse_lines(lines, first_line, now);
            let appended = ops::append(store, &events, &mut touched)?;
            summary.accepted += appended.accepted;
            summary.duplicates += appended.duplicates;
            let mut stderr = stderr.lock();
            for rejection in &rejections {
                bar.suspend(|| writeln!(stderr, "{name}: rejected {rejection}"))?;
            }
            summary.rejections.extend(rejections);
            bar.set_position(read);
            Ok(())
        })?;
        bar.finish_and_clear();
    }
    summary.scored = store.active_model()?.is_some();
    summary.leads_scored = ops::rescore_touched(store, &touched, now).map_err(ops_error)?;
    Ok(summary)
}

pub fn ingest(args: IngestArgs) -> Result<ExitCode> {
    let mut store = open_store(&args.db.db)?;
    let paths: Vec<&Path> = args.files.iter().map(|path| path.as_path()).collect();
    let summary = ingest_sources(&mut store, &paths, EventTime::now())?;
    println!("accepted {}, duplicates {}, rejected {}", summary.accepted, summary.duplicates, summary.rejections.len());
    let mut reasons: std::collections::BTreeMap<String, u64> = Default::default();
    for rejection in &summary.rejections {
        let key = match &rejection.field {
            Some(field) => format!("{field}: {}", rejection.reason.split(':').next().unwrap_or_default()),
            None => rejection.reason.split(':').next().unwrap_or_default().to_owned(),
        };
        *reasons.entry(key).or_default() += 1;
    }
    for (reason, count) in reasons {
        println!("  rejected {count}: {reason}");
    }
    if summary.scored {
        println!("scored {} lead(s)", summary.leads_scored);
    } else {
        println!("no active model yet: run `qualify model activate MODEL.toml` to score the leads");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn leads(args: LeadsArgs) -> Result<ExitCode> {
    let store = open_existing_store(&args.db.db)?;
    let query = LeadQuery {
        stages: args.status.iter().map(|status| status.stage().to_owned()).collect(),
        grades: args.grade.iter().map(|grade| grade.to_uppercase()).collect(),
        sort: match args.sort {
            LeadSortArg::Engagement => LeadSort::Engagement,
            LeadSortArg::Fit => LeadSort::Fit,
            LeadSortArg::MqlAt => LeadSort::MqlAt,
            LeadSortArg::LastSeen => LeadSort::LastSeen,
            LeadSortArg::LeadId => LeadSort::LeadId,
        },
        limit: args.limit,
        include_anonymous: args.anonymous,
        ..LeadQuery::default()
    };
    let leads = store.leads(&query)?;
    let format = args.format.unwrap_or(if io::stdout().is_terminal() { TableFormat::Table } else { TableFormat::Csv });
    let out = BufWriter::new(io::stdout().lock());
    match format {
        TableFormat::Table => output::write_leads_table(&leads, out)?,
        TableFormat::Csv => output::write_leads_csv(&leads, out)?,
        TableFormat::Json => output::write_leads_json(&leads, out)?,
    }
    Ok(ExitCode::SUCCESS)
}

pub fn demo(args: DemoArgs) -> Result<ExitCode> {
    let config = qualify_generator::GeneratorConfig { leads: args.leads, seed: args.seed, ..Default::default() };
    if let Some(path) = &args.write_model {
        std::fs::write(path, qualify_generator::JEWELRY_MODEL)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.generate {
        let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let stats = qualify_generator::generate(&config, &mut out)?;
        out.flush()?;
        eprintln!(
            "wrote {} lines ({} messages, {} leads, {:.1} MB) to {}",
            stats.lines,
            stats.messages,
            stats.leads,
            stats.bytes as f64 / 1e6,
            path.display()
        );
        return Ok(ExitCode::SUCCESS);
    }

    for suffix in ["", "-wal", "-shm"] {
        let mut name = args.db.clone().into_os_string();
        name.push(suffix);
        match std::fs::remove_file(&name) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => {
                return Err(error).with_context(|| format!("cannot replace {}", args.db.display()));
            }
            _ => {}
        }
    }
    let directory = tempfile::tempdir()?;
    let events_path = directory.path().join("demo-events.ndjson");
    {
        let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&events_path)?);
        qualify_generator::generate(&config, &mut out)?;
        out.flush()?;
    }
    // The demo is scored as of the end of its generated data, so it shows the
    // same thing whatever the day.
    let now = EventTime::from_timestamp(config.end);
    let mut store = open_store(&args.db)?;
    store.add_model("fine-jewelry", qualify_generator::JEWELRY_MODEL, now)?;
    let summary = ingest_sources(&mut store, &[events_path.as_path()], now)?;
    let leads = summary.leads_scored;
    println!(
        "Demo database {}: {} events ({} duplicates skipped, {} rejected), {leads} leads and visitors scored as of {now}.",
        args.db.display(),
        summary.accepted,
        summary.duplicates,
        summary.rejections.len()
    );
    let top = store.leads(&LeadQuery {
        mql: Some(true),
        sort: LeadSort::Engagement,
        limit: Some(10),
        ..Default::default()
    })?;
    let all_mqls = store.leads(&LeadQuery { mql: Some(true), ..Default::default() })?.len();
    println!("{all_mqls} MQLs now. The top {}:\n", top.len());
    let (_, model) =
        ops::active_model(&store).map_err(ops_error)?.ok_or_else(|| anyhow!("the demo model is missing"))?;
    let log = ops::load_log(&store, model, Keep::Everything)?;
    for lead in &top {
        let Some(explanation) = explain_lead(&log, &lead.lead_id, now) else {
            continue;
        };
        let reasons: Vec<String> = explanation
            .mql_crossing
            .iter()
            .flat_map(|crossing| {
                crossing
                    .rule_totals
                    .iter()
                    .take(3)
                    .map(|(rule, total)| format!("{rule} {}", output::two_decimals(*total)))
            })
            .collect();
        let fit_rules: Vec<String> = explanation.mql_crossing.iter().flat_map(|c| c.fit_rules_held.clone()).collect();
        println!(
            "  {:<10} engagement {:>6}  fit {:>3} ({}, {})  MQL since {}\n      carried by: {}; fit: {}",
            lead.lead_id,
            output::two_decimals(lead.engagement),
            lead.fit,
            lead.grade,
            lead.persona.as_deref().unwrap_or("-"),
            lead.mql_at.map(|time| time.to_string()).unwrap_or_default(),
            reasons.join(", "),
            fit_rules.join(", ")
        );
    }
    println!("\nTry: qualify leads --db {} --status mql --limit 20", args.db.display());
    if let Some(first) = top.first() {
        println!("     qualify explain {} --db {} --as-of {now}", first.lead_id, args.db.display());
    }
    if !args.serve {
        return Ok(ExitCode::SUCCESS);
    }
    let (outcomes, channels) = add_demo_sales_history(&mut store, now, config.days)?;
    println!(
        "\nFor the dashboard, a made-up sales history: {outcomes} outcomes (MQLs more than {DEMO_QUEUE_DAYS} days old \
         accepted or rejected, some won or lost) and weekly spend for {channels} channels."
    );
    let key = qualify_server::auth::generate_key();
    store.add_api_key(Some("demo"), Role::Admin, &key.prefix, &key.hash, EventTime::now())?;
    drop(store);
    let serve_args = ServeArgs { db: Some(args.db.clone()), addr: Some(args.addr), config: None, log_format: None };
    serve_then_say(serve_args, Some(key.key))
}

/// MQLs of the last days of the demo are left in the queue, untouched by
/// its made-up sales history.
const DEMO_QUEUE_DAYS: i64 = 10;

/// A stable pseudo-random number from a text (FNV-1a), so that the demo's
/// made-up history is the same on every run.
fn demo_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

/// Gives the demo database what sales and marketing would have added by
/// its end, so that the dashboard's KPIs and criteria have something to
/// show: outcomes for the MQLs older than [`DEMO_QUEUE_DAYS`] (two thirds
/// accepted, the others rejected with a reason; of the accepted, grade A
/// leads are won more often than the others), a few wins of leads that
/// never were MQLs, and weekly spend per channel but `direct`. Every time
/// is before `end`. Returns the number of outcomes and of channels.
fn add_demo_sales_history(store: &mut SqliteStore, end: EventTime, days: u32) -> Result<(usize, usize)> {
    const DAY: i64 = qualify_engine::time::MICROS_PER_DAY;
    const REASONS: [&str; 5] = ["bad fit", "no budget", "no interest", "wrong contact", "duplicate"];
    let after = |time: EventTime, days: i64| EventTime::from_micros(time.as_micros() + days * DAY);
    let queue_start = after(end, -DEMO_QUEUE_DAYS);
    let mut outcomes = Vec::new();
    let mut outcome =
        |lead_id: &str, stage: OutcomeStage, at: EventTime, reason: Option<&str>, revenue: Option<f64>| {
            if at < end {
                outcomes.push(Outcome {
                    lead_id: lead_id.to_owned(),
                    stage,
                    at,
                    reason: reason.map(str::to_owned),
                    revenue,
                });
            }
        };
    for lead in store.leads(&LeadQuery { sort: LeadSort::LeadId, ..LeadQuery::default() })? {
        let hash = demo_hash(&lead.lead_id);
        let Some(mql_at) = lead.mql_at.filter(|at| *at < queue_start) else {
            // One lead in fifty is won without ever being an MQL.
            if hash.is_multiple_of(50) {
                outcome(&lead.lead_id, OutcomeStage::Won, after(lead.last_seen, 3), None, Some(900.0));
            }
            continue;
        };
        let reviewed = after(mql_at, 1 + (hash % 3) as i64);
        if hash.is_multiple_of(3) {
            let reason = REASONS[(hash / 3 % REASONS.len() as u64) as usize];
            outcome(&lead.lead_id, OutcomeStage::Rejected, reviewed, Some(reason), None);
            continue;
        }
        outcome(&lead.lead_id, OutcomeStage::Accepted, reviewed, None, None);
        let closed = after(reviewed, 5 + (hash / 7 % 30) as i64);
        let wins_in_100 = if lead.grade == "A" { 45 } else { 20 };
        if hash / 11 % 100 < wins_in_100 {
            let revenue = 800.0 + (hash / 13 % 5_000) as f64;
            outcome(&lead.lead_id, OutcomeStage::Won, closed, None, Some(revenue));
        } else if hash / 11 % 100 < wins_in_100 + 30 {
            outcome(&lead.lead_id, OutcomeStage::Lost, closed, Some("chose a competitor"), None);
        }
    }
    store.add_outcomes(&outcomes)?;
    let start = after(end, -i64::from(days));
    let mut spend = Vec::new();
    let channels: Vec<String> = store.lead_channels()?.into_iter().filter(|channel| channel != "direct").collect();
    for channel in &channels {
        let weekly = 300.0 + (demo_hash(channel) % 1_200) as f64;
        let mut week = start;
        while week < end {
            spend.push(Spend { channel: channel.clone(), from: week, to: after(week, 6), amount: weekly });
            week = after(week, 7);
        }
    }
    store.add_spend(&spend)?;
    Ok((outcomes.len(), channels.len()))
}

/// The `[serve]` settings a config file may hold.
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ServeFile {
    addr: Option<String>,
    db: Option<std::path::PathBuf>,
    log_format: Option<LogFormat>,
    write_queue: Option<usize>,
    max_message_bytes: Option<usize>,
    max_request_bytes: Option<usize>,
    max_batch_messages: Option<usize>,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

pub fn serve(args: ServeArgs) -> Result<ExitCode> {
    serve_then_say(args, None)
}

/// Serves; once listening, says where, and with `admin_key` (the demo's)
/// where the dashboard is and the key to sign in with.
fn serve_then_say(args: ServeArgs, admin_key: Option<String>) -> Result<ExitCode> {
    let file: ServeFile = match &args.config {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
            toml::from_str(&text).map_err(|error| anyhow!("{}: {error}", path.display()))?
        }
        None => ServeFile::default(),
    };
    let db = args.db.or(file.db).unwrap_or_else(|| "qualify.db".into());
    let addr = args.addr.or(file.addr).unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    init_logging(args.log_format.or(file.log_format).unwrap_or(LogFormat::Text));
    let mut config = qualify_server::ServerConfig::new(db.clone());
    if let Some(queue) = file.write_queue {
        config.write_queue = queue;
    }
    if let Some(bytes) = file.max_message_bytes {
        config.limits.max_message_bytes = bytes;
    }
    if let Some(bytes) = file.max_request_bytes {
        config.limits.max_request_bytes = bytes;
    }
    if let Some(count) = file.max_batch_messages {
        config.limits.max_batch_messages = count;
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let shutdown = shutdown_signal()?;
        let listener =
            tokio::net::TcpListener::bind(&addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        tracing::info!(address = %local, db = %db.display(), "qualify serve listening");
        eprintln!("Qualify listening on http://{local} (database {})", db.display());
        if let Some(key) = &admin_key {
            println!("\nThe dashboard: http://{local}/\nSign in with this admin key (made for the demo; only its hash is stored):\n{key}");
            io::stdout().flush()?;
        }
        qualify_server::serve(listener, config, shutdown).await?;
        tracing::info!("stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// A future that completes on Ctrl-C or SIGTERM. The handlers are installed
/// here, before the server says it is listening, so that a signal sent as
/// soon as it answers is never met by the default action (dying at once).
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
            tracing::info!("shutting down: finishing the requests in flight");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down: finishing the requests in flight");
        })
    }
}

pub fn keys(command: KeysCommand) -> Result<ExitCode> {
    match command {
        KeysCommand::Create { role, name, db } => {
            let mut store = open_store(&db.db)?;
            let role = match role {
                KeyRole::Write => Role::Write,
                KeyRole::Read => Role::Read,
                KeyRole::Sales => Role::Sales,
                KeyRole::Admin => Role::Admin,
            };
            let key = qualify_server::auth::generate_key();
            let stored = store.add_api_key(name.as_deref(), role, &key.prefix, &key.hash, EventTime::now())?;
            eprintln!(
                "Created {} key #{}{}. It is shown once; only its hash is stored:",
                role.as_str(),
                stored.id,
                name.map(|name| format!(" ({name})")).unwrap_or_default()
            );
            println!("{}", key.key);
        }
        KeysCommand::List { db } => {
            let store = open_existing_store(&db.db)?;
            let mut table = comfy_table::Table::new();
            table.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
            table.set_header(["id", "role", "name", "starts with", "created_at", "revoked_at"]);
            for key in store.api_keys()? {
                table.add_row([
                    key.id.to_string(),
                    key.role.as_str().to_owned(),
                    key.name.unwrap_or_default(),
                    format!("{}…", key.prefix),
                    key.created_at.to_string(),
                    key.revoked_at.map(|time| time.to_string()).unwrap_or_default(),
                ]);
            }
            println!("{table}");
        }
        KeysCommand::Revoke { id, db } => {
            let mut store = open_existing_store(&db.db)?;
            store.revoke_api_key(id, EventTime::now())?;
            println!("Revoked key #{id}.");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads a CSV file whole; a bad header refuses the file.
fn read_csv_file<T>(path: &Path, parse: fn(&[u8]) -> Result<Parsed<T>, LineError>) -> Result<Parsed<T>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(&bytes).map_err(|error| anyhow!("{}: {error}", path.display()))
}

pub fn import_outcomes(path: &Path, db: &Path) -> Result<ExitCode> {
    let parsed = read_csv_file(path, parse_outcomes_csv)?;
    let mut store = open_existing_store(db)?;
    let import = ops::import_outcomes(&mut store, &parsed.rows)?;
    let mut rejected: Vec<&LineError> = parsed.errors.iter().chain(&import.rejected).collect();
    rejected.sort_by_key(|error| error.line);
    let name = path.display();
    let mut stderr = io::stderr().lock();
    for error in &rejected {
        writeln!(stderr, "{name}: rejected {error}")?;
    }
    println!("accepted {} outcome(s)", import.accepted);
    println!("duplicates {} (already recorded, unchanged)", import.duplicates);
    println!("rejected {}", rejected.len());
    Ok(ExitCode::SUCCESS)
}

pub fn import_spend(path: &Path, db: &Path) -> Result<ExitCode> {
    let parsed = read_csv_file(path, parse_spend_csv)?;
    let mut store = open_store(db)?;
    let spend: Vec<_> = parsed.rows.into_iter().map(|row| row.value).collect();
    let added = store.add_spend(&spend)?;
    let name = path.display();
    let mut stderr = io::stderr().lock();
    for error in &parsed.errors {
        writeln!(stderr, "{name}: rejected {error}")?;
    }
    println!("added {} spend row(s)", added.added);
    println!("replaced {} (same channel and days: the new amount replaces the stored one)", added.replaced);
    println!("rejected {}", parsed.errors.len());
    Ok(ExitCode::SUCCESS)
}

/// A period bound: an RFC 3339 time or a `YYYY-MM-DD` date (midnight UTC).
pub(crate) fn period_bound(text: &str, flag: &str) -> Result<EventTime> {
    parse_time(text).ok_or_else(|| anyhow!("{flag} {text:?} is not an RFC 3339 time or a YYYY-MM-DD date"))
}

pub fn report_kpis(args: KpisArgs) -> Result<ExitCode> {
    let from = period_bound(&args.from, "--from")?;
    let to = period_bound(&args.to, "--to")?;
    let period =
        Period::new(from, to).ok_or_else(|| anyhow!("--to ({}) must be after --from ({})", args.to, args.from))?;
    let grouping = match args.by {
        None => Grouping::Overall,
        Some(KpiGrouping::Channel) => Grouping::Channel,
        Some(KpiGrouping::Week) => Grouping::Week,
    };
    let store = open_existing_store(&args.db.db)?;
    let rows = ops::kpis(&store, period, grouping)?;
    let format = args.format.unwrap_or(if io::stdout().is_terminal() { TableFormat::Table } else { TableFormat::Csv });
    let out = BufWriter::new(io::stdout().lock());
    match format {
        TableFormat::Table => output::write_kpis_table(&rows, out)?,
        TableFormat::Csv => output::write_kpis_csv(&rows, out)?,
        TableFormat::Json => output::write_kpis_json(&rows, grouping, period, out)?,
    }
    Ok(ExitCode::SUCCESS)
}

pub fn report_criteria(args: CriteriaArgs) -> Result<ExitCode> {
    let as_of = match &args.as_of {
        Some(text) => period_bound(text, "--as-of")?,
        None => EventTime::now(),
    };
    let store = open_existing_store(&args.db.db)?;
    let report = ops::criteria(&store, as_of)?
        .ok_or_else(|| anyhow!("no model is active: activate one with `qualify model activate MODEL.toml`"))?;
    let format = args.format.unwrap_or(if io::stdout().is_terminal() { TableFormat::Table } else { TableFormat::Csv });
    let out = BufWriter::new(io::stdout().lock());
    match format {
        TableFormat::Table => output::write_criteria_table(&report, out)?,
        TableFormat::Csv => output::write_criteria_csv(&report, out)?,
        TableFormat::Json => output::write_criteria_json(&report, out)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads an outcomes file for a backtest: bad lines are reported on
/// standard error with their numbers and the good ones are kept.
pub(crate) fn read_outcomes_file(path: &Path) -> Result<Vec<Outcome>> {
    let parsed = read_csv_file(path, parse_outcomes_csv)?;
    let mut stderr = io::stderr().lock();
    for error in &parsed.errors {
        writeln!(stderr, "{}: rejected {error}", path.display())?;
    }
    Ok(parsed.rows.into_iter().map(|row| row.value).collect())
}

pub fn backtest(args: BacktestArgs) -> Result<ExitCode> {
    if args.snapshot {
        return crate::snapshot::backtest_snapshot(args);
    }
    let (Some(from_text), Some(to_text)) = (args.from.as_deref(), args.to.as_deref()) else {
        bail!("give --from and --to, or --snapshot");
    };
    let from = period_bound(from_text, "--from")?;
    let to = period_bound(to_text, "--to")?;
    let period = Period::new(from, to).ok_or_else(|| anyhow!("--to ({to_text}) must be after --from ({from_text})"))?;
    let history = History::open(&args.history)?;
    let (_, first) = history.model(args.model.as_deref())?;
    let second = args.against.as_deref().map(|against| history.against(against)).transpose()?;
    let outcomes = history.outcomes()?;
    let run = |model: Model| -> Result<(String, Backtest)> {
        let name = model.name.clone();
        let log = history.log(model, Keep::ScoringFacts)?;
        Ok((name, backtest_log(&log, &outcomes, period)))
    };
    let model = run(first)?;
    let against = second.map(|(_, model)| run(model)).transpose()?;
    let format =
        args.format.unwrap_or(if io::stdout().is_terminal() { BacktestFormat::Table } else { BacktestFormat::Json });
    let model = (model.0.as_str(), &model.1);
    let against = against.as_ref().map(|(name, result)| (name.as_str(), result));
    let out = BufWriter::new(io::stdout().lock());
    match format {
        BacktestFormat::Table => output::write_backtest_table(model, against, out)?,
        BacktestFormat::Json => output::write_backtest_json(model, against, out)?,
    }
    Ok(ExitCode::SUCCESS)
}
