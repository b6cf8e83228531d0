//! `qualify`: the command line of the Qualify lead-scoring engine. It parses
//! arguments, reads files and prints results; the work is done by the engine
//! (`qualify-engine`), the store (`qualify-store`) and the generator.

mod commands;
mod history;
mod import;
mod input;
mod output;
mod snapshot;
mod suggest;

use crate::history::HistoryArgs;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

// Parsing allocates many small, short-lived values on two threads at once;
// mimalloc's per-thread free lists make that markedly faster than glibc's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "qualify", version, about = "Lead scoring you can read, test and explain.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Score every lead: from an events file (no database) or from the store.
    Score(ScoreArgs),
    /// Explain one lead's scores rule by rule.
    Explain(ExplainArgs),
    /// Check, activate and inspect scoring models.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Store NDJSON events (`-` for standard input) and update the leads they touch.
    Ingest(IngestArgs),
    /// List leads from the store.
    Leads(LeadsArgs),
    /// Build a demo database from generated fine-jewelry data and show its top MQLs.
    Demo(DemoArgs),
    /// Run the HTTP server: Segment/RudderStack ingestion and the JSON API.
    Serve(ServeArgs),
    /// Create, list and revoke API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Record what sales did with leads (accepted, rejected, sql, opportunity, won, lost).
    #[command(subcommand)]
    Outcomes(OutcomesCommand),
    /// Record marketing spend per channel.
    #[command(subcommand)]
    Spend(SpendCommand),
    /// Reports over the store: KPIs for a period, the criteria report.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Try a model on history: its MQLs of a period `[from, to)`, their
    /// precision, the recall of the period's customers, the lead time and
    /// MQLs per week; with --against, side by side with another model.
    Backtest(BacktestArgs),
    /// Fit rule weights on sales' won/lost outcomes (regularised logistic
    /// regression), compare cross-validated AUC with the current model's,
    /// and write the result as a candidate model file. Only `won` and
    /// `lost` outcomes label a lead; its first outcome dates it.
    Suggest(suggest::SuggestArgs),
    /// Import leads and their outcomes from a CRM export (CSV and a mapping file).
    #[command(subcommand)]
    Import(import::ImportCommand),
}

#[derive(Args)]
pub struct BacktestArgs {
    #[command(flatten)]
    pub history: HistoryArgs,
    /// The model file to try (required with --events; default: the store's active model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// A second model file to compare with, or `active` for the store's active model.
    #[arg(long)]
    pub against: Option<String>,
    /// The start of the period, included (RFC 3339 or YYYY-MM-DD, midnight UTC).
    #[arg(long, required_unless_present = "snapshot")]
    pub from: Option<String>,
    /// The end of the period, excluded; scores are computed as of it.
    #[arg(long, required_unless_present = "snapshot")]
    pub to: Option<String>,
    /// For data without event times (a CRM export): every lead scored as of
    /// one time, MQLs and their precision and recall against the outcome
    /// each lead ended with.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub snapshot: bool,
    /// With --snapshot: score as of this time (RFC 3339 or YYYY-MM-DD;
    /// default: the latest event).
    #[arg(long, requires = "snapshot")]
    pub as_of: Option<String>,
    /// Output format (default: table on a terminal, JSON otherwise).
    #[arg(long, value_enum)]
    pub format: Option<BacktestFormat>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum BacktestFormat {
    Table,
    Json,
}

#[derive(Subcommand)]
pub enum ReportCommand {
    /// Leads, MQLs, rates, customers, costs and medians for a period
    /// `[from, to)`, overall, by channel or by week.
    Kpis(KpisArgs),
    /// Per rule: leads it fired for, their conversion against the others',
    /// lift and share of the points that made MQLs; conversion by score
    /// band; sales' rejection reasons (with the active model).
    Criteria(CriteriaArgs),
}

#[derive(Args)]
pub struct CriteriaArgs {
    /// Score and count outcomes as of this time (RFC 3339 or YYYY-MM-DD,
    /// midnight UTC; default: now).
    #[arg(long)]
    pub as_of: Option<String>,
    /// Output format (default: table on a terminal, CSV otherwise).
    #[arg(long, value_enum)]
    pub format: Option<TableFormat>,
    #[command(flatten)]
    pub db: DbArg,
}

#[derive(Args)]
pub struct KpisArgs {
    /// The start of the period, included (RFC 3339 or YYYY-MM-DD, midnight UTC).
    #[arg(long)]
    pub from: String,
    /// The end of the period, excluded (RFC 3339 or YYYY-MM-DD, midnight UTC).
    #[arg(long)]
    pub to: String,
    /// Group the figures by channel or by ISO week (default: one row overall).
    #[arg(long, value_enum)]
    pub by: Option<KpiGrouping>,
    /// Output format (default: table on a terminal, CSV otherwise).
    #[arg(long, value_enum)]
    pub format: Option<TableFormat>,
    #[command(flatten)]
    pub db: DbArg,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum KpiGrouping {
    Channel,
    Week,
}

#[derive(Subcommand)]
pub enum OutcomesCommand {
    /// Import a CSV file with the header `lead_id,stage,at,reason,revenue`;
    /// bad lines are reported on standard error with their numbers, the
    /// others are stored, and the same outcome twice changes nothing.
    Import {
        file: PathBuf,
        #[command(flatten)]
        db: DbArg,
    },
}

#[derive(Subcommand)]
pub enum SpendCommand {
    /// Import a CSV file with the header `channel,from,to,amount` (dates
    /// `YYYY-MM-DD` or RFC 3339); a row for a channel and days already
    /// stored replaces its amount.
    Import {
        file: PathBuf,
        #[command(flatten)]
        db: DbArg,
    },
}

#[derive(Args)]
pub struct ServeArgs {
    /// The database file.
    #[arg(long, env = "QUALIFY_DB")]
    pub db: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "QUALIFY_ADDR")]
    pub addr: Option<String>,
    /// A TOML file with any of: addr, db, log_format, write_queue,
    /// max_message_bytes, max_request_bytes, max_batch_messages.
    #[arg(long, env = "QUALIFY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format: one line per request as text, or JSON.
    #[arg(long, env = "QUALIFY_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}

#[derive(Clone, Copy, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key; it is printed once, alone on the last line of output.
    Create {
        #[arg(long, value_enum)]
        role: KeyRole,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        db: DbArg,
    },
    /// List keys (never the keys themselves: their first characters).
    List {
        #[command(flatten)]
        db: DbArg,
    },
    /// Revoke a key by its id (see `keys list`).
    Revoke {
        id: i64,
        #[command(flatten)]
        db: DbArg,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum KeyRole {
    Write,
    Read,
    Sales,
    Admin,
}

#[derive(Args, Clone)]
pub struct DbArg {
    /// The database file.
    #[arg(long, env = "QUALIFY_DB", default_value = "qualify.db")]
    pub db: PathBuf,
}

/// Where events come from and as of when to score them.
#[derive(Args)]
pub struct EventSourceArgs {
    /// An NDJSON file of Segment messages; without it, the stored log is used.
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// The model file (required with --events; default: the store's active model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The database file (when no --events is given).
    #[arg(long, env = "QUALIFY_DB", default_value = "qualify.db")]
    pub db: PathBuf,
    /// Evaluate as of this time (RFC 3339); default now.
    #[arg(long)]
    pub as_of: Option<String>,
}

#[derive(Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    pub source: EventSourceArgs,
    #[arg(long, value_enum, default_value_t = ScoreFormat::Csv)]
    pub format: ScoreFormat,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ScoreFormat {
    Csv,
    Json,
}

#[derive(Args)]
pub struct ExplainArgs {
    /// The lead id (a userId, or `anon:<anonymousId>`).
    pub lead_id: String,
    #[command(flatten)]
    pub source: EventSourceArgs,
    #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
    pub format: ExplainFormat,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ExplainFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Check a model file and print a summary of its rules.
    Check { file: PathBuf },
    /// Store a model file as a new version, make it active and re-score every lead.
    Activate {
        file: PathBuf,
        #[command(flatten)]
        db: DbArg,
    },
    /// List the stored model versions.
    List {
        #[command(flatten)]
        db: DbArg,
    },
    /// Print a stored model (default: the active one).
    Show {
        version: Option<i64>,
        #[command(flatten)]
        db: DbArg,
    },
}

#[derive(Args)]
pub struct IngestArgs {
    /// NDJSON files (messages or batch envelopes); `-` reads standard input.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub db: DbArg,
}

#[derive(Args)]
pub struct LeadsArgs {
    #[command(flatten)]
    pub db: DbArg,
    /// Only leads at this lifecycle stage.
    #[arg(long, value_enum)]
    pub status: Option<LeadStatus>,
    /// Only leads of this grade (repeatable).
    #[arg(long)]
    pub grade: Vec<String>,
    #[arg(long, value_enum, default_value_t = LeadSortArg::Engagement)]
    pub sort: LeadSortArg,
    #[arg(long)]
    pub limit: Option<u64>,
    /// Include anonymous visitors.
    #[arg(long)]
    pub anonymous: bool,
    /// Output format (default: a table on a terminal, CSV otherwise).
    #[arg(long, value_enum)]
    pub format: Option<TableFormat>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LeadStatus {
    Lead,
    Mql,
    Accepted,
    Rejected,
    Sql,
    Opportunity,
    Won,
    Lost,
}

impl LeadStatus {
    /// The stage's name, as the store keeps it.
    pub fn stage(self) -> &'static str {
        match self {
            LeadStatus::Lead => "lead",
            LeadStatus::Mql => "mql",
            LeadStatus::Accepted => "accepted",
            LeadStatus::Rejected => "rejected",
            LeadStatus::Sql => "sql",
            LeadStatus::Opportunity => "opportunity",
            LeadStatus::Won => "won",
            LeadStatus::Lost => "lost",
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LeadSortArg {
    Engagement,
    Fit,
    MqlAt,
    LastSeen,
    LeadId,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum TableFormat {
    Table,
    Csv,
    Json,
}

#[derive(Args)]
pub struct DemoArgs {
    /// Where to create the demo database (replaced if it is a previous demo).
    #[arg(long, default_value = "qualify-demo.db")]
    pub db: PathBuf,
    /// Write the generated events to this NDJSON file instead of building a database.
    #[arg(long)]
    pub generate: Option<PathBuf>,
    /// How many leads to generate.
    #[arg(long, default_value_t = 3_000)]
    pub leads: usize,
    /// The generator's seed: the same seed gives the same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Also write the demo model to this file.
    #[arg(long)]
    pub write_model: Option<PathBuf>,
    /// Then serve the dashboard on the demo database, with a new admin key
    /// printed with the URL (Ctrl-C stops it).
    #[arg(long)]
    pub serve: bool,
    /// The address of `--serve`.
    #[arg(long, default_value = "127.0.0.1:8080", requires = "serve")]
    pub addr: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Score(args) => commands::score(args),
        Command::Explain(args) => commands::explain(args),
        Command::Model(command) => commands::model(command),
        Command::Ingest(args) => commands::ingest(args),
        Command::Leads(args) => commands::leads(args),
        Command::Demo(args) => commands::demo(args),
        Command::Serve(args) => commands::serve(args),
        Command::Keys(command) => commands::keys(command),
        Command::Outcomes(OutcomesCommand::Import { file, db }) => commands::import_outcomes(&file, &db.db),
        Command::Spend(SpendCommand::Import { file, db }) => commands::import_spend(&file, &db.db),
        Command::Report(ReportCommand::Kpis(args)) => commands::report_kpis(args),
        Command::Report(ReportCommand::Criteria(args)) => commands::report_criteria(args),
        Command::Backtest(args) => commands::backtest(args),
        Command::Suggest(args) => suggest::run(args),
        Command::Import(command) => import::import(command),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            // A closed pipe (`qualify score ... | head`) is not an error.
            if error.chain().any(|cause| {
                cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
