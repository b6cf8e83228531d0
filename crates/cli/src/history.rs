//! Where `qualify backtest` (with or without `--snapshot`) and `qualify
//! suggest` read history, an events file with an outcomes file or the
//! store, and the models they try on it.

use crate::commands::{load_events_file, open_existing_store, read_model_text, read_outcomes_file};
use anyhow::{Result, anyhow, bail};
use clap::Args;
use qualify_engine::Model;
use qualify_engine::log::{EventLog, Keep};
use qualify_engine::outcome::Outcome;
use qualify_store::{SqliteStore, Store, ops};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where `backtest` and `suggest` read history: an events file and an
/// outcomes file, or the store.
#[derive(Args)]
pub struct HistoryArgs {
    /// An NDJSON file of Segment messages (with --outcomes); without both,
    /// the stored events and outcomes are used.
    #[arg(long, requires = "outcomes")]
    pub events: Option<PathBuf>,
    /// A CSV file of outcomes (header `lead_id,stage,at,reason,revenue`).
    #[arg(long, requires = "events")]
    pub outcomes: Option<PathBuf>,
    /// The database file (when no --events and --outcomes are given).
    #[arg(long, env = "QUALIFY_DB", default_value = "qualify.db")]
    pub db: PathBuf,
}

pub(crate) enum History {
    Files { events: PathBuf, outcomes: PathBuf },
    Store { store: SqliteStore, db: PathBuf },
}

impl History {
    /// Files when both `--events` and `--outcomes` are given, the store at
    /// `--db` when neither is.
    pub(crate) fn open(args: &HistoryArgs) -> Result<History> {
        match (&args.events, &args.outcomes) {
            (Some(events), Some(outcomes)) => Ok(History::Files { events: events.clone(), outcomes: outcomes.clone() }),
            (None, None) => Ok(History::Store { store: open_existing_store(&args.db)?, db: args.db.clone() }),
            _ => bail!("give both --events and --outcomes, or neither to use the store"),
        }
    }

    /// The model to try (`--model`), with its text: the file given, else
    /// the store's active model.
    pub(crate) fn model(&self, path: Option<&Path>) -> Result<(String, Model)> {
        match (path, self) {
            (Some(path), _) => read_model_text(path),
            (None, History::Files { .. }) => bail!("--model is required with --events"),
            (None, History::Store { .. }) => self.active(),
        }
    }

    /// The model to compare with (`--against`): a file, or `active`.
    pub(crate) fn against(&self, against: &str) -> Result<(String, Model)> {
        match (against, self) {
            ("active", History::Files { .. }) => {
                bail!("--against active compares with the store's model: leave out --events and --outcomes")
            }
            ("active", History::Store { .. }) => self.active(),
            (path, _) => read_model_text(Path::new(path)),
        }
    }

    fn active(&self) -> Result<(String, Model)> {
        let History::Store { store, db } = self else {
            bail!("only a store has an active model");
        };
        let stored = store.active_model()?.ok_or_else(|| {
            anyhow!("{} has no active model: give --model or run `qualify model activate`", db.display())
        })?;
        let model = Model::parse(&stored.toml).map_err(|errors| anyhow!("the active model: {errors}"))?;
        Ok((stored.toml, model))
    }

    /// Every outcome: the file's good lines (bad ones reported on standard
    /// error), or the store's.
    pub(crate) fn outcomes(&self) -> Result<Vec<Outcome>> {
        match self {
            History::Files { outcomes, .. } => read_outcomes_file(outcomes),
            History::Store { store, .. } => Ok(store.all_outcomes()?),
        }
    }

    /// The events scored with `model`.
    pub(crate) fn log(&self, model: Model, keep: Keep) -> Result<EventLog> {
        match self {
            History::Files { events, .. } => load_events_file(events, Arc::new(model), keep),
            History::Store { store, .. } => Ok(ops::load_log(store, Arc::new(model), keep)?),
        }
    }
}
