//! The SQLite implementation of [`Store`](crate::Store).
//!
//! One file, one connection, WAL journal with `synchronous=FULL`: every write
//! call is one transaction that is on disk when it returns. Times are stored
//! as integer microseconds ([`EventTime::as_micros`]); lead traits and
//! anonymous ids as JSON text.
//!
//! Lists of ids of any length are passed to SQL as one JSON array parameter
//! and read with `json_each`, so no query has to be split to stay under
//! SQLite's limit on bound parameters and no temporary table is needed.

use crate::cursor::{KeyValue, SortKey, parse_lead_cursor};
use crate::{
    ApiKey, Appended, LeadQuery, LeadRecord, NewEvent, NewReject, RejectRecord, Role, SpendAdded, StageTransition,
    Store, StoreError, StoredEvent, StoredModel, reject_excerpt,
};
use qualify_engine::outcome::{Outcome, OutcomeStage, Spend};
use qualify_engine::time::EventTime;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, ffi, params, params_from_iter};
use rustc_hash::FxHashSet;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

/// The schema, as migrations applied in order. `PRAGMA user_version` holds
/// how many are applied. A released migration is never edited: a change to
/// the schema is a new entry at the end.
const MIGRATIONS: &[&str] = &[
    r#"
    -- The append-only event log. `seq` is the acceptance order: rows are
    -- never deleted, so SQLite's max(rowid) + 1 keeps it increasing without
    -- the cost of AUTOINCREMENT.
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        dedup_key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        user_id TEXT,
        anonymous_id TEXT,
        previous_id TEXT,
        time INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        json TEXT NOT NULL
    );
    -- Partial indexes: most events lack some of the ids (previousId is only
    -- on aliases), and a lookup `x IN (...)` implies `x IS NOT NULL`.
    CREATE INDEX events_by_user_id ON events (user_id) WHERE user_id IS NOT NULL;
    CREATE INDEX events_by_anonymous_id ON events (anonymous_id) WHERE anonymous_id IS NOT NULL;
    CREATE INDEX events_by_previous_id ON events (previous_id) WHERE previous_id IS NOT NULL;

    -- Every distinct pair of ids an accepted event links: (anonymousId,
    -- userId) of any message carrying both, kind 'anonymous', and
    -- (previousId, userId) of an alias, kind 'alias'. A pair is stored once,
    -- with its earliest linking event (by time, then acceptance), because
    -- most events of an identified visitor carry the same pair again.
    CREATE TABLE identity_links (
        other_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('anonymous', 'alias')),
        time INTEGER NOT NULL,
        seq INTEGER NOT NULL REFERENCES events (seq),
        PRIMARY KEY (other_id, user_id, kind)
    ) WITHOUT ROWID;
    CREATE INDEX identity_links_by_user_id ON identity_links (user_id, other_id);

    CREATE TABLE models (
        version INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        toml TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        active INTEGER NOT NULL CHECK (active IN (0, 1))
    );
    -- At most one active version.
    CREATE UNIQUE INDEX models_one_active ON models (active) WHERE active = 1;

    CREATE TABLE leads (
        lead_id TEXT PRIMARY KEY,
        engagement REAL NOT NULL,
        fit INTEGER NOT NULL,
        grade TEXT NOT NULL,
        persona TEXT,
        mql INTEGER NOT NULL CHECK (mql IN (0, 1)),
        mql_at INTEGER,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        traits TEXT NOT NULL,
        anonymous_ids TEXT NOT NULL,
        channel TEXT,
        scored_at INTEGER NOT NULL,
        model_version INTEGER NOT NULL
    );
    -- One index per sort of `LeadQuery`, in the order of its ORDER BY.
    CREATE INDEX leads_by_engagement ON leads (engagement DESC, lead_id);
    CREATE INDEX leads_by_fit ON leads (fit DESC, engagement DESC, lead_id);
    CREATE INDEX leads_by_mql_at ON leads (mql_at, lead_id);
    CREATE INDEX leads_by_last_seen ON leads (last_seen DESC, lead_id);
"#,
    r#"
    -- The lifecycle stage of each lead. Existing leads start at 'lead'; the
    -- stage is free text, so that a new stage needs no migration.
    ALTER TABLE leads ADD COLUMN stage TEXT NOT NULL DEFAULT 'lead';
    CREATE INDEX leads_by_stage ON leads (stage);
    -- The sales queue (LeadSort::Priority). SQLite sorts NULL lowest, so
    -- `mql_at DESC` puts the leads without one last.
    CREATE INDEX leads_by_priority ON leads (grade, engagement DESC, mql_at DESC, lead_id);

    -- Every stage change, kept when the lead's row is replaced or removed
    -- (a visitor merged into a lead keeps its history under its old id), so
    -- no foreign key to leads. `id` orders transitions recorded at one time.
    CREATE TABLE stage_transitions (
        id INTEGER PRIMARY KEY,
        lead_id TEXT NOT NULL,
        from_stage TEXT,
        to_stage TEXT NOT NULL,
        at INTEGER NOT NULL,
        cause TEXT NOT NULL
    );
    CREATE INDEX stage_transitions_by_lead_id ON stage_transitions (lead_id, at, id);

    -- API keys, by the hash of the key only. Keys are revoked, never
    -- deleted, so `id` (max(rowid) + 1) is never reused. No CHECK on the
    -- role: a role added later would need the table rebuilt; reading an
    -- unknown role reports the row as corrupt instead.
    CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY,
        name TEXT,
        role TEXT NOT NULL,
        prefix TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
    );

    -- Rejected messages, for an admin to inspect; paged newest first by id.
    CREATE TABLE rejects (
        id INTEGER PRIMARY KEY,
        received_at INTEGER NOT NULL,
        endpoint TEXT NOT NULL,
        batch_index INTEGER,
        field TEXT,
        reason TEXT NOT NULL,
        excerpt TEXT NOT NULL
    );
"#,
    r#"
    -- What sales reported for each lead. The same outcome (lead, stage,
    -- time) given twice is stored once, so importing a file again changes
    -- nothing. `id` orders outcomes of one lead at one time.
    CREATE TABLE outcomes (
        id INTEGER PRIMARY KEY,
        lead_id TEXT NOT NULL,
        stage TEXT NOT NULL,
        at INTEGER NOT NULL,
        reason TEXT,
        revenue REAL,
        UNIQUE (lead_id, stage, at)
    );
    CREATE INDEX outcomes_by_lead_id ON outcomes (lead_id, at, id);
    CREATE INDEX outcomes_by_at ON outcomes (at);

    -- Marketing spend per channel over the days [from_at, to_at]. A row for
    -- the same channel and days replaces the stored one (a correction).
    CREATE TABLE spend (
        channel TEXT NOT NULL,
        from_at INTEGER NOT NULL,
        to_at INTEGER NOT NULL,
        amount REAL NOT NULL,
        PRIMARY KEY (channel, from_at, to_at)
    ) WITHOUT ROWID;
"#,
    r#"
    -- The event log without indexes on its ids. Messages arrive in random
    -- order of messageId, userId and anonymousId, so each such index had
    -- about one page changed per appended event, written whole to the
    -- write-ahead log and copied back: most of the cost of ingestion
    -- (bench/load.sh 20000: 24k events/s with them, 42k without).
    -- Duplicates are now found in memory (see `DedupKeys`), a server finds a
    -- lead's events through its in-memory log, and other readers scan.
    -- Rebuilt, as SQLite cannot drop a UNIQUE constraint; `migrate` turns
    -- foreign keys off around migrations and checks them after.
    CREATE TABLE events_rebuilt (
        seq INTEGER PRIMARY KEY,
        dedup_key TEXT NOT NULL,
        kind TEXT NOT NULL,
        user_id TEXT,
        anonymous_id TEXT,
        previous_id TEXT,
        time INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        json TEXT NOT NULL
    );
    INSERT INTO events_rebuilt (seq, dedup_key, kind, user_id, anonymous_id, previous_id, time, received_at, json)
        SELECT seq, dedup_key, kind, user_id, anonymous_id, previous_id, time, received_at, json FROM events;
    DROP TABLE events;
    ALTER TABLE events_rebuilt RENAME TO events;
"#,
    r#"
    -- Fewer indexes on leads. A group of events re-scores a few hundred
    -- leads, each changing its engagement and last-seen time, so every
    -- index on those changes at that many places per group: each index cost
    -- about a seventh of ingestion (bench/load.sh 20000: 42.5k events/s with
    -- them, 52.1k without these three). Kept: engagement (the default
    -- list), stage (the sales queue reads its MQLs by stage, then sorts
    -- those few by priority) and mql_at (rarely changes). Lists sorted by
    -- fit, last seen or priority without a stage filter sort the leads they
    -- select instead of reading an index in order.
    DROP INDEX leads_by_fit;
    DROP INDEX leads_by_last_seen;
    DROP INDEX leads_by_priority;
"#,
];

const INSERT_EVENT: &str = "
    INSERT INTO events (dedup_key, kind, user_id, anonymous_id, previous_id, time, received_at, json)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/// Keeps the earliest linking event of a pair: a later event replaces the
/// stored one only when it happened strictly earlier.
const INSERT_IDENTITY_LINK: &str = "
    INSERT INTO identity_links (other_id, user_id, kind, time, seq)
    VALUES (?1, ?2, ?3, ?4, ?5)
    ON CONFLICT (other_id, user_id, kind) DO UPDATE SET time = excluded.time, seq = excluded.seq
    WHERE excluded.time < identity_links.time";

/// The events carrying the ids in `?1` (userIds) or `?2` (anonymousIds), each
/// a JSON array: one pass over the log, as the ids have no index (see the
/// fourth migration).
const SELECT_EVENTS_FOR_IDENTITIES: &str = "
    SELECT seq, json FROM events
    WHERE user_id IN (SELECT value FROM json_each(?1))
        OR anonymous_id IN (SELECT value FROM json_each(?2))
        OR previous_id IN (SELECT value FROM json_each(?1) UNION SELECT value FROM json_each(?2))
    ORDER BY seq";

/// The events whose sequence numbers are in `?1`, a JSON array.
const SELECT_EVENTS_BY_SEQ: &str =
    "SELECT seq, json FROM events WHERE seq IN (SELECT value FROM json_each(?1)) ORDER BY seq";

/// The ids linked to the userIds in `?1` (a JSON array), and whether each
/// link is an alias.
const SELECT_LINKS_OF_USERS: &str =
    "SELECT other_id, kind = 'alias' FROM identity_links WHERE user_id IN (SELECT value FROM json_each(?1))";

/// The userIds that the ids in `?1` (a JSON array) were aliased to.
const SELECT_USERS_ALIASED_FROM: &str =
    "SELECT user_id FROM identity_links WHERE kind = 'alias' AND other_id IN (SELECT value FROM json_each(?1))";

/// The userIds linked to the anonymousIds (or alias previousIds) in `?1`.
const SELECT_USERS_LINKED_FROM: &str =
    "SELECT user_id FROM identity_links WHERE other_id IN (SELECT value FROM json_each(?1))";

const MODEL_COLUMNS: &str = "version, name, toml, created_at, active";

const LEAD_COLUMNS: &str = "lead_id, engagement, fit, grade, persona, mql, mql_at, first_seen, last_seen, \
     traits, anonymous_ids, channel, scored_at, model_version, stage";

const API_KEY_COLUMNS: &str = "id, name, role, prefix, hash, created_at, revoked_at";

const REJECT_COLUMNS: &str = "id, received_at, endpoint, batch_index, field, reason, excerpt";

const TRANSITION_COLUMNS: &str = "lead_id, from_stage, to_stage, at, cause";

/// A [`Store`] in one SQLite database file.
#[derive(Debug)]
pub struct SqliteStore {
    connection: Connection,
    /// The stored events' dedup keys, read on the first append; `None`
    /// until then, and again after a failed write (what it added may not be
    /// stored), so that the next append reads them afresh.
    dedup: Option<DedupKeys>,
}

/// The dedup keys of the stored events, hashed, and the last sequence
/// number they cover. Another connection (the command line next to a
/// server) may append too: each append first reads the keys stored after
/// `through_seq`, under the write lock, so no duplicate slips between two
/// writers.
#[derive(Debug)]
struct DedupKeys {
    keys: FxHashSet<u128>,
    through_seq: i64,
}

impl Default for DedupKeys {
    fn default() -> DedupKeys {
        DedupKeys { keys: FxHashSet::default(), through_seq: i64::MIN }
    }
}

impl DedupKeys {
    /// Adds the keys of the events stored after `through_seq`.
    fn catch_up(&mut self, connection: &Connection) -> rusqlite::Result<()> {
        let mut statement =
            connection.prepare_cached("SELECT seq, dedup_key FROM events WHERE seq > ?1 ORDER BY seq")?;
        let mut rows = statement.query([self.through_seq])?;
        while let Some(row) = rows.next()? {
            self.through_seq = row.get(0)?;
            self.keys.insert(hash_dedup_key(row.get_ref(1)?.as_str()?));
        }
        Ok(())
    }
}

/// A 128-bit hash of a dedup key: a collision between two real keys is far
/// less likely than a disk error (as in the engine's own log).
fn hash_dedup_key(key: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128(key.as_bytes())
}

impl SqliteStore {
    /// Opens the database at `path`, creating the file (not its directory)
    /// and bringing its schema up to date. A database written by a newer
    /// version of Qualify is refused rather than misread.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let mut connection = Connection::open(path)?;
        // Another process (a second server, the command line) may hold the
        // write lock for a moment; waiting beats failing the request.
        connection.busy_timeout(Duration::from_secs(5))?;
        // 8 KiB pages: the log is appended in order, and each page costs
        // two writes to the write-ahead log (its header, then the page), so
        // larger pages write the same bytes with fewer calls; lead rows and
        // their indexes change at random places, where a larger page writes
        // more bytes for one row. `bench/load.sh 20000` (with the log's id
        // indexes gone): 41.1k events/s with 2 KiB pages, 43.8k with 4 KiB,
        // 46.0k with 8 KiB, 42.3k with 16 KiB. Only takes effect when the
        // file is created.
        connection.pragma_update(None, "page_size", 8192)?;
        let journal_mode: String = connection.pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))?;
        if !journal_mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Invalid(format!(
                "the database at {} cannot use a write-ahead log (journal mode stays {journal_mode})",
                path.display()
            )));
        }
        // FULL syncs the log on every commit, so a write that returned
        // survives a power cut, not only a crash of the process.
        connection.pragma_update(None, "synchronous", "FULL")?;
        // Foreign keys on after the migrations (checked at their end): a
        // table rebuild must not check them midway. (The bundled SQLite
        // turns them on by default.)
        connection.pragma_update(None, "foreign_keys", false)?;
        migrate(&mut connection)?;
        connection.pragma_update(None, "foreign_keys", true)?;
        // Up to 64 MiB of pages (the default is 2 MiB), so that the lead
        // rows and indexes a group of events updates at random places stay
        // in memory for a few hundred thousand leads.
        connection.pragma_update(None, "cache_size", -65_536)?;
        // Lead updates set only the columns that changed: a statement per
        // set of columns, a few dozen at most.
        connection.set_prepared_statement_cache_capacity(128);
        Ok(SqliteStore { connection, dedup: None })
    }

    /// Starts a write transaction that takes the write lock at once. A
    /// deferred transaction that reads first and then writes can fail with
    /// SQLITE_BUSY without waiting when another connection wrote meanwhile.
    ///
    /// Inside a group (see [`SqliteStore::begin_group`]) it is the group's
    /// transaction: its writes become durable with the group, and a failure
    /// must roll the whole group back. (A savepoint per write would let a
    /// group keep what succeeded, but makes SQLite journal every page it
    /// changes: a quarter of the throughput of `bench/load.sh`.)
    fn write_transaction(&mut self) -> Result<WriteTransaction<'_>, StoreError> {
        if self.connection.is_autocommit() {
            Ok(WriteTransaction::Alone(self.connection.transaction_with_behavior(TransactionBehavior::Immediate)?))
        } else {
            Ok(WriteTransaction::InGroup(&self.connection))
        }
    }

    /// Reads the stored events' dedup keys now rather than on the first
    /// append (a server does it at start, so that its first request does
    /// not wait for a read of the whole log).
    pub fn load_dedup_keys(&mut self) -> Result<(), StoreError> {
        let mut dedup = self.dedup.take().unwrap_or_default();
        dedup.catch_up(&self.connection)?;
        self.dedup = Some(dedup);
        Ok(())
    }

    /// Starts a group: the writes until [`SqliteStore::commit_group`] are
    /// one transaction, made durable by one commit (one sync of the log).
    /// When one of them fails, call [`SqliteStore::rollback_group`]: what
    /// it wrote before failing is not undone on its own.
    pub fn begin_group(&mut self) -> Result<(), StoreError> {
        Ok(self.connection.execute_batch("BEGIN IMMEDIATE")?)
    }

    /// Makes a group's writes durable.
    pub fn commit_group(&mut self) -> Result<(), StoreError> {
        Ok(self.connection.execute_batch("COMMIT")?)
    }

    /// Undoes a group's writes (nothing when no group is open).
    pub fn rollback_group(&mut self) {
        // The keys of the group's events are no longer stored.
        self.dedup = None;
        if !self.connection.is_autocommit() {
            let _ = self.connection.execute_batch("ROLLBACK");
        }
    }
}

/// A write transaction of its own, or the open group's.
enum WriteTransaction<'c> {
    Alone(rusqlite::Transaction<'c>),
    InGroup(&'c Connection),
}

impl WriteTransaction<'_> {
    fn commit(self) -> rusqlite::Result<()> {
        match self {
            WriteTransaction::Alone(transaction) => transaction.commit(),
            WriteTransaction::InGroup(_) => Ok(()),
        }
    }
}

impl std::ops::Deref for WriteTransaction<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        match self {
            WriteTransaction::Alone(transaction) => transaction,
            WriteTransaction::InGroup(connection) => connection,
        }
    }
}

fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    // Immediate, so that two processes opening a new file do not both apply
    // the same migration: the second waits, then finds it applied.
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = transaction.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let Some(applied) = usize::try_from(version).ok().filter(|applied| *applied <= MIGRATIONS.len()) else {
        return Err(StoreError::Corrupt(format!(
            "the database schema is version {version}, not one of the versions 0 to {} this build of Qualify \
             reads; a newer Qualify may read it",
            MIGRATIONS.len()
        )));
    };
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        transaction.execute_batch(migration)?;
        transaction.pragma_update(None, "user_version", index as i64 + 1)?;
    }
    // Foreign keys are off while migrations run (a rebuilt table is dropped
    // and renamed); the rows must still satisfy them afterwards.
    if applied < MIGRATIONS.len() {
        let violations: i64 =
            transaction.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |row| row.get(0))?;
        if violations > 0 {
            return Err(StoreError::Corrupt(format!(
                "after bringing the schema up to date, {violations} rows refer to rows that do not exist"
            )));
        }
    }
    transaction.commit()?;
    Ok(())
}

/// A list of ids as the JSON array that `json_each` reads.
fn json_array(ids: &[String]) -> String {
    serde_json::Value::from(ids).to_string()
}

fn model_from_row(row: &Row<'_>) -> rusqlite::Result<StoredModel> {
    Ok(StoredModel {
        version: row.get(0)?,
        name: row.get(1)?,
        toml: row.get(2)?,
        created_at: EventTime::from_micros(row.get(3)?),
        active: row.get(4)?,
    })
}

/// Reads a row selected with [`LEAD_COLUMNS`].
fn lead_from_row(row: &Row<'_>) -> Result<LeadRecord, StoreError> {
    let lead_id: String = row.get(0)?;
    let traits_text: String = row.get(9)?;
    let traits = serde_json::from_str(&traits_text)
        .map_err(|error| StoreError::Corrupt(format!("lead {lead_id}: its traits are not a JSON object: {error}")))?;
    let anonymous_ids_text: String = row.get(10)?;
    let anonymous_ids = serde_json::from_str(&anonymous_ids_text).map_err(|error| {
        StoreError::Corrupt(format!("lead {lead_id}: its anonymous ids are not a JSON array of strings: {error}"))
    })?;
    Ok(LeadRecord {
        engagement: row.get(1)?,
        fit: row.get(2)?,
        grade: row.get(3)?,
        persona: row.get(4)?,
        mql: row.get(5)?,
        mql_at: row.get::<_, Option<i64>>(6)?.map(EventTime::from_micros),
        first_seen: EventTime::from_micros(row.get(7)?),
        last_seen: EventTime::from_micros(row.get(8)?),
        traits,
        anonymous_ids,
        channel: row.get(11)?,
        scored_at: EventTime::from_micros(row.get(12)?),
        model_version: row.get(13)?,
        stage: row.get(14)?,
        lead_id,
    })
}

/// Reads a row selected with [`API_KEY_COLUMNS`].
fn api_key_from_row(row: &Row<'_>) -> Result<ApiKey, StoreError> {
    let id: i64 = row.get(0)?;
    let role_name: String = row.get(2)?;
    let role = Role::parse(&role_name)
        .ok_or_else(|| StoreError::Corrupt(format!("API key {id}: its role {role_name:?} is not one Qualify knows")))?;
    Ok(ApiKey {
        id,
        name: row.get(1)?,
        role,
        prefix: row.get(3)?,
        hash: row.get(4)?,
        created_at: EventTime::from_micros(row.get(5)?),
        revoked_at: row.get::<_, Option<i64>>(6)?.map(EventTime::from_micros),
    })
}

fn reject_from_row(row: &Row<'_>) -> rusqlite::Result<RejectRecord> {
    Ok(RejectRecord {
        id: row.get(0)?,
        received_at: EventTime::from_micros(row.get(1)?),
        endpoint: row.get(2)?,
        batch_index: row.get(3)?,
        field: row.get(4)?,
        reason: row.get(5)?,
        excerpt: row.get(6)?,
    })
}

/// Reads a row selected with [`TRANSITION_COLUMNS`].
fn transition_from_row(row: &Row<'_>) -> Result<StageTransition, StoreError> {
    let lead_id: String = row.get(0)?;
    let cause_text: String = row.get(4)?;
    let cause = serde_json::from_str(&cause_text).map_err(|error| {
        StoreError::Corrupt(format!("lead {lead_id}: the cause of a stage transition is not JSON: {error}"))
    })?;
    Ok(StageTransition {
        from_stage: row.get(1)?,
        to_stage: row.get(2)?,
        at: EventTime::from_micros(row.get(3)?),
        cause,
        lead_id,
    })
}

fn insert_transitions(transaction: &Connection, transitions: &[StageTransition]) -> Result<(), StoreError> {
    let mut insert = transaction
        .prepare_cached(&format!("INSERT INTO stage_transitions ({TRANSITION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"))?;
    for transition in transitions {
        insert.execute(params![
            transition.lead_id,
            transition.from_stage,
            transition.to_stage,
            transition.at.as_micros(),
            transition.cause.to_string(),
        ])?;
    }
    Ok(())
}

/// The column a sort key compares and its ORDER BY term.
fn sort_key_sql(key: SortKey) -> (&'static str, &'static str) {
    match key {
        SortKey::EngagementDescending => ("engagement", "engagement DESC"),
        SortKey::FitDescending => ("fit", "fit DESC"),
        SortKey::GradeAscending => ("grade", "grade"),
        SortKey::MqlAtAscending => ("mql_at", "mql_at NULLS LAST"),
        // NULL sorts lowest, so a descending order already puts it last
        // (and this is the form of the index `leads_by_priority`).
        SortKey::MqlAtDescending => ("mql_at", "mql_at DESC"),
        SortKey::LastSeenDescending => ("last_seen", "last_seen DESC"),
        SortKey::LeadIdAscending => ("lead_id", "lead_id"),
    }
}

fn key_value_sql(value: &KeyValue) -> Value {
    match value {
        KeyValue::Real(real) => Value::Real(*real),
        KeyValue::Integer(integer) => Value::Integer(*integer),
        KeyValue::Text(text) => Value::Text(text.clone()),
        KeyValue::Missing => Value::Null,
    }
}

/// The condition that a lead comes strictly after the position `values` in
/// the order of `keys`: for some key, every earlier key is equal and this one
/// comes after. Pushes the condition's parameters, in order.
fn after_condition(keys: &[SortKey], values: &[KeyValue], parameters: &mut Vec<Value>) -> String {
    let mut alternatives: Vec<String> = Vec::new();
    for (index, (key, value)) in keys.iter().zip(values).enumerate() {
        let (column, _) = sort_key_sql(*key);
        let descending = matches!(
            key,
            SortKey::EngagementDescending
                | SortKey::FitDescending
                | SortKey::MqlAtDescending
                | SortKey::LastSeenDescending
        );
        let nullable = matches!(key, SortKey::MqlAtAscending | SortKey::MqlAtDescending);
        let comparison = if descending { "<" } else { ">" };
        let after_this_key = match value {
            // A missing value sorts last: no value comes after it.
            KeyValue::Missing => continue,
            _ if nullable => format!("({column} {comparison} ? OR {column} IS NULL)"),
            _ => format!("{column} {comparison} ?"),
        };
        // `IS` rather than `=`, so that two missing values are equal.
        let mut conjuncts: Vec<String> =
            keys[..index].iter().map(|earlier| format!("{} IS ?", sort_key_sql(*earlier).0)).collect();
        conjuncts.push(after_this_key);
        parameters.extend(values[..=index].iter().map(key_value_sql));
        alternatives.push(conjuncts.join(" AND "));
    }
    let mut condition = format!("({})", alternatives.join(" OR "));
    // Implied by the alternatives, but in a form that lets SQLite start
    // reading the sort's index at the cursor instead of at its beginning.
    if let (Some(first_key), Some(first_value @ (KeyValue::Real(_) | KeyValue::Integer(_) | KeyValue::Text(_)))) =
        (keys.first(), values.first())
        && !matches!(first_key, SortKey::MqlAtAscending | SortKey::MqlAtDescending)
    {
        let (column, order) = sort_key_sql(*first_key);
        let comparison = if order.ends_with("DESC") { "<=" } else { ">=" };
        condition.push_str(&format!(" AND {column} {comparison} ?"));
        parameters.push(key_value_sql(first_value));
    }
    condition
}

/// The columns of [`LEAD_COLUMNS`], one by one, for updates of some of them.
const LEAD_COLUMN_NAMES: [&str; 15] = [
    "lead_id",
    "engagement",
    "fit",
    "grade",
    "persona",
    "mql",
    "mql_at",
    "first_seen",
    "last_seen",
    "traits",
    "anonymous_ids",
    "channel",
    "scored_at",
    "model_version",
    "stage",
];

/// A lead's row, as the values of [`LEAD_COLUMNS`] in order.
fn lead_values(lead: &LeadRecord) -> Result<[Value; 15], StoreError> {
    let traits = serde_json::to_string(&lead.traits)
        .map_err(|error| StoreError::Invalid(format!("lead {}: its traits cannot be stored: {error}", lead.lead_id)))?;
    Ok([
        Value::Text(lead.lead_id.clone()),
        Value::Real(lead.engagement),
        Value::Integer(lead.fit),
        Value::Text(lead.grade.clone()),
        lead.persona.clone().map_or(Value::Null, Value::Text),
        Value::Integer(i64::from(lead.mql)),
        lead.mql_at.map_or(Value::Null, |at| Value::Integer(at.as_micros())),
        Value::Integer(lead.first_seen.as_micros()),
        Value::Integer(lead.last_seen.as_micros()),
        Value::Text(traits),
        Value::Text(json_array(&lead.anonymous_ids)),
        lead.channel.clone().map_or(Value::Null, Value::Text),
        Value::Integer(lead.scored_at.as_micros()),
        Value::Integer(lead.model_version),
        Value::Text(lead.stage.clone()),
    ])
}

fn given_twice(lead: &LeadRecord) -> StoreError {
    StoreError::Invalid(format!("lead {} is given more than once in one replacement", lead.lead_id))
}

/// Inserts leads whose rows were deleted beforehand. A lead given twice
/// breaks the primary key and so fails the whole transaction: two records
/// for one lead are a mistake of the caller, and keeping either one would
/// hide it.
fn insert_leads(transaction: &Connection, leads: &[LeadRecord]) -> Result<(), StoreError> {
    let mut insert = transaction.prepare_cached(&format!(
        "INSERT INTO leads ({LEAD_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
    ))?;
    for lead in leads {
        insert.execute(params_from_iter(lead_values(lead)?)).map_err(|error| match error {
            rusqlite::Error::SqliteFailure(failure, _)
                if failure.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                given_twice(lead)
            }
            other => StoreError::Database(other),
        })?;
    }
    Ok(())
}

/// Writes leads over their stored rows (or as new rows), changing only the
/// columns whose values changed. SQLite updates an index only when the
/// statement sets one of its columns, and a re-scored lead usually changes
/// its engagement and times only: its stage, `mql_at` and id index entries
/// stay where they are, rather than each being deleted and inserted again
/// (a third of the pages a group of events changed, in `bench/load.sh`).
fn upsert_leads(transaction: &Connection, leads: &[LeadRecord]) -> Result<(), StoreError> {
    let mut given = std::collections::HashSet::with_capacity(leads.len());
    if let Some(twice) = leads.iter().find(|lead| !given.insert(lead.lead_id.as_str())) {
        return Err(given_twice(twice));
    }
    let mut select = transaction.prepare_cached(&format!("SELECT {LEAD_COLUMNS} FROM leads WHERE lead_id = ?1"))?;
    for lead in leads {
        let values = lead_values(lead)?;
        let stored: Option<Vec<Value>> = select
            .query_row([&lead.lead_id], |row| (0..LEAD_COLUMN_NAMES.len()).map(|index| row.get(index)).collect())
            .optional()?;
        let Some(stored) = stored else {
            insert_leads(transaction, std::slice::from_ref(lead))?;
            continue;
        };
        let changed: Vec<usize> =
            (1..LEAD_COLUMN_NAMES.len()).filter(|&index| stored[index] != values[index]).collect();
        if changed.is_empty() {
            continue;
        }
        let assignments: Vec<String> = changed
            .iter()
            .enumerate()
            .map(|(position, &index)| format!("{} = ?{}", LEAD_COLUMN_NAMES[index], position + 2))
            .collect();
        let mut update =
            transaction.prepare_cached(&format!("UPDATE leads SET {} WHERE lead_id = ?1", assignments.join(", ")))?;
        let parameters = std::iter::once(&values[0]).chain(changed.iter().map(|&index| &values[index]));
        update.execute(params_from_iter(parameters))?;
    }
    Ok(())
}

/// The SELECT that lists the leads `query` asks for, and its parameters (for
/// its anonymous `?`s, in order).
fn leads_sql(query: &LeadQuery) -> Result<(String, Vec<Value>), StoreError> {
    let mut conditions: Vec<String> = Vec::new();
    let mut parameters: Vec<Value> = Vec::new();
    if let Some(mql) = query.mql {
        conditions.push("mql = ?".to_owned());
        parameters.push(Value::Integer(i64::from(mql)));
    }
    if !query.grades.is_empty() {
        conditions.push("grade IN (SELECT value FROM json_each(?))".to_owned());
        parameters.push(Value::Text(json_array(&query.grades)));
    }
    if !query.stages.is_empty() {
        conditions.push("stage IN (SELECT value FROM json_each(?))".to_owned());
        parameters.push(Value::Text(json_array(&query.stages)));
    }
    if !query.channels.is_empty() {
        conditions.push("coalesce(channel, 'direct') IN (SELECT value FROM json_each(?))".to_owned());
        parameters.push(Value::Text(json_array(&query.channels)));
    }
    if let Some(search) = &query.search {
        // instr, not LIKE, so that `%` and `_` in the text match only
        // themselves; lower() folds ASCII letters only, hence the same
        // folding of the text.
        conditions
            .push("(instr(lower(lead_id), ?) > 0 OR instr(lower(json_extract(traits, '$.email')), ?) > 0)".to_owned());
        let needle = search.to_ascii_lowercase();
        parameters.extend([Value::Text(needle.clone()), Value::Text(needle)]);
    }
    if !query.include_anonymous {
        // GLOB, not LIKE: LIKE ignores case, and a userId `Anon:x` is a person.
        conditions.push("lead_id NOT GLOB 'anon:*'".to_owned());
    }
    let keys = query.sort.keys();
    if let Some(cursor) = &query.after {
        let values = parse_lead_cursor(cursor, query.sort)?;
        conditions.push(after_condition(keys, &values, &mut parameters));
    }
    let mut sql = format!("SELECT {LEAD_COLUMNS} FROM leads");
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    let order: Vec<&str> = keys.iter().map(|key| sort_key_sql(*key).1).collect();
    sql.push_str(" ORDER BY ");
    sql.push_str(&order.join(", "));
    if let Some(limit) = query.limit {
        sql.push_str(" LIMIT ?");
        parameters.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
    }
    Ok((sql, parameters))
}

impl SqliteStore {
    /// Stops this connection from checkpointing the write-ahead log at the
    /// end of its commits. The server's writer does this and leaves
    /// checkpoints to [`SqliteStore::checkpoint`] on another connection, so
    /// that copying pages back into the database never delays an answer.
    pub fn disable_auto_checkpoint(&self) -> Result<(), StoreError> {
        self.connection.pragma_update(None, "wal_autocheckpoint", 0)?;
        Ok(())
    }

    /// Copies what it can of the write-ahead log back into the database
    /// file without waiting for readers or writers (a passive checkpoint).
    /// Returns the frames in the log and how many of them are now copied.
    pub fn checkpoint(&self) -> Result<(i64, i64), StoreError> {
        Ok(self.connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| Ok((row.get(1)?, row.get(2)?)))?)
    }
}

impl Store for SqliteStore {
    fn append_event_groups_with_seqs(
        &mut self,
        groups: &[&[NewEvent]],
    ) -> Result<(Vec<Appended>, Vec<Option<i64>>), StoreError> {
        let mut counts = vec![Appended::default(); groups.len()];
        if groups.iter().all(|events| events.is_empty()) {
            return Ok((counts, Vec::new()));
        }
        let mut dedup = self.dedup.take().unwrap_or_default();
        let transaction = self.write_transaction()?;
        let mut seqs = Vec::with_capacity(groups.iter().map(|events| events.len()).sum());
        let written = (|| -> rusqlite::Result<()> {
            // Under the write lock: what another connection appended is seen.
            dedup.catch_up(&transaction)?;
            let mut insert_event = transaction.prepare_cached(INSERT_EVENT)?;
            let mut insert_link = transaction.prepare_cached(INSERT_IDENTITY_LINK)?;
            // The key set grows as events are inserted, so a key repeated
            // within this call, in any group, is a duplicate too.
            for (events, appended) in groups.iter().zip(&mut counts) {
                for event in *events {
                    if !dedup.keys.insert(hash_dedup_key(&event.dedup_key)) {
                        appended.duplicates += 1;
                        seqs.push(None);
                        continue;
                    }
                    insert_event.execute(params![
                        event.dedup_key,
                        event.kind,
                        event.user_id,
                        event.anonymous_id,
                        event.previous_id,
                        event.time.as_micros(),
                        event.received_at.as_micros(),
                        event.json,
                    ])?;
                    appended.accepted += 1;
                    let seq = transaction.last_insert_rowid();
                    dedup.through_seq = seq;
                    seqs.push(Some(seq));
                    let time = event.time.as_micros();
                    let Some(user_id) = &event.user_id else {
                        continue;
                    };
                    if let Some(anonymous_id) = &event.anonymous_id {
                        insert_link.execute(params![anonymous_id, user_id, "anonymous", time, seq])?;
                    }
                    if let (Some(previous_id), "alias") = (&event.previous_id, event.kind.as_str()) {
                        insert_link.execute(params![previous_id, user_id, "alias", time, seq])?;
                    }
                }
            }
            Ok(())
        })();
        // On failure the keys stay unread (`None`): some were added for
        // events that are not stored.
        written.and_then(|()| transaction.commit())?;
        self.dedup = Some(dedup);
        Ok((counts, seqs))
    }

    fn for_each_event_page(
        &self,
        page_size: usize,
        visit: &mut dyn FnMut(&[StoredEvent]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // A page of nothing would never advance; one event is the least.
        let page_size = page_size.max(1);
        let limit = i64::try_from(page_size).unwrap_or(i64::MAX);
        let mut statement =
            self.connection.prepare_cached("SELECT seq, json FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
        let mut page: Vec<StoredEvent> = Vec::new();
        let mut after = i64::MIN;
        loop {
            page.clear();
            let rows = statement
                .query_map(params![after, limit], |row| Ok(StoredEvent { seq: row.get(0)?, json: row.get(1)? }))?;
            for event in rows {
                page.push(event?);
            }
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = last.seq;
            visit(&page)?;
            if page.len() < page_size {
                return Ok(());
            }
        }
    }

    fn events_for_identities(
        &self,
        user_ids: &[String],
        anonymous_ids: &[String],
    ) -> Result<Vec<StoredEvent>, StoreError> {
        if user_ids.is_empty() && anonymous_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut statement = self.connection.prepare_cached(SELECT_EVENTS_FOR_IDENTITIES)?;
        let rows = statement.query_map(params![json_array(user_ids), json_array(anonymous_ids)], |row| {
            Ok(StoredEvent { seq: row.get(0)?, json: row.get(1)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn events_after(&self, after: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let mut statement =
            self.connection.prepare_cached("SELECT seq, json FROM events WHERE seq > ?1 ORDER BY seq")?;
        let rows = statement.query_map([after], |row| Ok(StoredEvent { seq: row.get(0)?, json: row.get(1)? }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn events_by_seq(&self, seqs: &[i64]) -> Result<Vec<StoredEvent>, StoreError> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let mut statement = self.connection.prepare_cached(SELECT_EVENTS_BY_SEQ)?;
        let rows = statement.query_map([serde_json::Value::from(seqs).to_string()], |row| {
            Ok(StoredEvent { seq: row.get(0)?, json: row.get(1)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// An alias's previousId may name an anonymous visitor or another user,
    /// and which one can change as events arrive, so a previousId found by
    /// following an alias is returned in both lists: the caller then finds
    /// the events that carry it in either role.
    fn linked_identities(
        &self,
        user_ids: &[String],
        anonymous_ids: &[String],
    ) -> Result<(Vec<String>, Vec<String>), StoreError> {
        let mut linked_user_ids: BTreeSet<String> = user_ids.iter().cloned().collect();
        let mut linked_anonymous_ids: BTreeSet<String> = anonymous_ids.iter().cloned().collect();
        if !user_ids.is_empty() {
            let users = json_array(user_ids);
            let mut from_users = self.connection.prepare_cached(SELECT_LINKS_OF_USERS)?;
            let mut rows = from_users.query([&users])?;
            while let Some(row) = rows.next()? {
                let other_id: String = row.get(0)?;
                let is_alias: bool = row.get(1)?;
                if is_alias {
                    linked_user_ids.insert(other_id.clone());
                }
                linked_anonymous_ids.insert(other_id);
            }
            // The other direction: a user aliased to another userId.
            let mut aliased_from_users = self.connection.prepare_cached(SELECT_USERS_ALIASED_FROM)?;
            for user_id in aliased_from_users.query_map([&users], |row| row.get::<_, String>(0))? {
                linked_user_ids.insert(user_id?);
            }
        }
        if !anonymous_ids.is_empty() {
            let mut from_anonymous = self.connection.prepare_cached(SELECT_USERS_LINKED_FROM)?;
            for user_id in from_anonymous.query_map([json_array(anonymous_ids)], |row| row.get::<_, String>(0))? {
                linked_user_ids.insert(user_id?);
            }
        }
        Ok((linked_user_ids.into_iter().collect(), linked_anonymous_ids.into_iter().collect()))
    }

    fn event_count(&self) -> Result<u64, StoreError> {
        let count: i64 = self.connection.query_row("SELECT count(*) FROM events", [], |row| row.get(0))?;
        Ok(count as u64)
    }

    fn add_model(&mut self, name: &str, toml: &str, created_at: EventTime) -> Result<StoredModel, StoreError> {
        let transaction = self.write_transaction()?;
        transaction.execute("UPDATE models SET active = 0 WHERE active = 1", [])?;
        let model = transaction.query_row(
            &format!(
                "INSERT INTO models (version, name, toml, created_at, active)
                 VALUES ((SELECT coalesce(max(version), 0) + 1 FROM models), ?1, ?2, ?3, 1)
                 RETURNING {MODEL_COLUMNS}"
            ),
            params![name, toml, created_at.as_micros()],
            model_from_row,
        )?;
        transaction.commit()?;
        Ok(model)
    }

    fn activate_model(&mut self, version: i64) -> Result<(), StoreError> {
        let transaction = self.write_transaction()?;
        let exists: bool =
            transaction
                .query_row("SELECT EXISTS (SELECT 1 FROM models WHERE version = ?1)", [version], |row| row.get(0))?;
        if !exists {
            return Err(StoreError::NotFound(format!("there is no model version {version}")));
        }
        transaction.execute("UPDATE models SET active = 0 WHERE active = 1 AND version <> ?1", [version])?;
        transaction.execute("UPDATE models SET active = 1 WHERE version = ?1", [version])?;
        transaction.commit()?;
        Ok(())
    }

    fn active_model(&self) -> Result<Option<StoredModel>, StoreError> {
        let mut statement =
            self.connection.prepare_cached(&format!("SELECT {MODEL_COLUMNS} FROM models WHERE active = 1"))?;
        Ok(statement.query_row([], model_from_row).optional()?)
    }

    fn model(&self, version: i64) -> Result<Option<StoredModel>, StoreError> {
        let mut statement =
            self.connection.prepare_cached(&format!("SELECT {MODEL_COLUMNS} FROM models WHERE version = ?1"))?;
        Ok(statement.query_row([version], model_from_row).optional()?)
    }

    fn models(&self) -> Result<Vec<StoredModel>, StoreError> {
        let mut statement =
            self.connection.prepare_cached(&format!("SELECT {MODEL_COLUMNS} FROM models ORDER BY version DESC"))?;
        Ok(statement.query_map([], model_from_row)?.collect::<Result<_, _>>()?)
    }

    fn replace_leads(
        &mut self,
        remove: &[String],
        leads: &[LeadRecord],
        transitions: &[StageTransition],
    ) -> Result<(), StoreError> {
        let transaction = self.write_transaction()?;
        {
            // The rows that go (merged identities); the given ones are
            // written over, not deleted and inserted again.
            let given: std::collections::HashSet<&str> = leads.iter().map(|lead| lead.lead_id.as_str()).collect();
            let going: Vec<String> = remove.iter().filter(|id| !given.contains(id.as_str())).cloned().collect();
            let mut delete =
                transaction.prepare_cached("DELETE FROM leads WHERE lead_id IN (SELECT value FROM json_each(?1))")?;
            delete.execute([json_array(&going)])?;
        }
        upsert_leads(&transaction, leads)?;
        insert_transitions(&transaction, transitions)?;
        transaction.commit()?;
        Ok(())
    }

    fn replace_all_leads(&mut self, leads: &[LeadRecord], transitions: &[StageTransition]) -> Result<(), StoreError> {
        let transaction = self.write_transaction()?;
        transaction.execute("DELETE FROM leads", [])?;
        insert_leads(&transaction, leads)?;
        insert_transitions(&transaction, transitions)?;
        transaction.commit()?;
        Ok(())
    }

    fn lead(&self, lead_id: &str) -> Result<Option<LeadRecord>, StoreError> {
        let mut statement =
            self.connection.prepare_cached(&format!("SELECT {LEAD_COLUMNS} FROM leads WHERE lead_id = ?1"))?;
        let mut rows = statement.query([lead_id])?;
        match rows.next()? {
            Some(row) => Ok(Some(lead_from_row(row)?)),
            None => Ok(None),
        }
    }

    fn leads(&self, query: &LeadQuery) -> Result<Vec<LeadRecord>, StoreError> {
        let (sql, parameters) = leads_sql(query)?;
        let mut statement = self.connection.prepare_cached(&sql)?;
        let mut rows = statement.query(params_from_iter(parameters))?;
        let mut leads = Vec::new();
        while let Some(row) = rows.next()? {
            leads.push(lead_from_row(row)?);
        }
        Ok(leads)
    }

    fn stages(&self, lead_ids: &[String]) -> Result<HashMap<String, String>, StoreError> {
        if lead_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut statement = self
            .connection
            .prepare_cached("SELECT lead_id, stage FROM leads WHERE lead_id IN (SELECT value FROM json_each(?1))")?;
        let rows = statement.query_map([json_array(lead_ids)], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn lead_channels(&self) -> Result<Vec<String>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT DISTINCT coalesce(channel, 'direct') AS name FROM leads WHERE lead_id NOT GLOB 'anon:*' ORDER BY name",
        )?;
        let rows = statement.query_map([], |row| row.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn lead_counts_by_stage(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT stage, count(*) FROM leads WHERE lead_id NOT GLOB 'anon:*' GROUP BY stage ORDER BY stage",
        )?;
        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn add_transitions(&mut self, transitions: &[StageTransition]) -> Result<(), StoreError> {
        if transitions.is_empty() {
            return Ok(());
        }
        let transaction = self.write_transaction()?;
        insert_transitions(&transaction, transitions)?;
        transaction.commit()?;
        Ok(())
    }

    fn transitions(&self, lead_id: &str) -> Result<Vec<StageTransition>, StoreError> {
        let mut statement = self.connection.prepare_cached(&format!(
            "SELECT {TRANSITION_COLUMNS} FROM stage_transitions WHERE lead_id = ?1 ORDER BY at, id"
        ))?;
        let mut rows = statement.query([lead_id])?;
        let mut transitions = Vec::new();
        while let Some(row) = rows.next()? {
            transitions.push(transition_from_row(row)?);
        }
        Ok(transitions)
    }

    fn add_outcomes(&mut self, outcomes: &[Outcome]) -> Result<Appended, StoreError> {
        let mut counts = Appended::default();
        if outcomes.is_empty() {
            return Ok(counts);
        }
        let transaction = self.write_transaction()?;
        {
            let mut stage_of = transaction.prepare_cached("SELECT stage FROM leads WHERE lead_id = ?1")?;
            let mut insert = transaction.prepare_cached(
                "INSERT INTO outcomes (lead_id, stage, at, reason, revenue) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (lead_id, stage, at) DO NOTHING",
            )?;
            let mut latest = transaction
                .prepare_cached("SELECT id FROM outcomes WHERE lead_id = ?1 ORDER BY at DESC, id DESC LIMIT 1")?;
            let mut set_stage = transaction.prepare_cached("UPDATE leads SET stage = ?2 WHERE lead_id = ?1")?;
            for outcome in outcomes {
                let current: Option<String> = stage_of.query_row([&outcome.lead_id], |row| row.get(0)).optional()?;
                let Some(current) = current else {
                    return Err(StoreError::NotFound(format!(
                        "no lead {:?} to record an outcome for",
                        outcome.lead_id
                    )));
                };
                let stage = outcome.stage.as_str();
                let added = insert.execute(params![
                    outcome.lead_id,
                    stage,
                    outcome.at.as_micros(),
                    outcome.reason,
                    outcome.revenue
                ])?;
                if added == 0 {
                    counts.duplicates += 1;
                    continue;
                }
                counts.accepted += 1;
                let id = transaction.last_insert_rowid();
                let latest_id: i64 = latest.query_row([&outcome.lead_id], |row| row.get(0))?;
                // An outcome older than one already recorded is kept for the
                // reports but does not move the lead back.
                if latest_id != id || current == stage {
                    continue;
                }
                set_stage.execute(params![outcome.lead_id, stage])?;
                let transition = StageTransition {
                    lead_id: outcome.lead_id.clone(),
                    from_stage: Some(current),
                    to_stage: stage.to_owned(),
                    at: outcome.at,
                    cause: serde_json::json!({ "outcome": {
                        "stage": stage,
                        "at": outcome.at.to_string(),
                        "reason": outcome.reason,
                        "revenue": outcome.revenue,
                    }}),
                };
                insert_transitions(&transaction, std::slice::from_ref(&transition))?;
            }
        }
        transaction.commit()?;
        Ok(counts)
    }

    fn outcomes(&self, lead_id: &str) -> Result<Vec<Outcome>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT lead_id, stage, at, reason, revenue FROM outcomes WHERE lead_id = ?1 ORDER BY at, id",
        )?;
        let mut rows = statement.query([lead_id])?;
        let mut outcomes = Vec::new();
        while let Some(row) = rows.next()? {
            let stage_text: String = row.get(1)?;
            let stage = OutcomeStage::parse(&stage_text).ok_or_else(|| {
                StoreError::Corrupt(format!("lead {lead_id}: an outcome has the unknown stage {stage_text:?}"))
            })?;
            outcomes.push(Outcome {
                lead_id: row.get(0)?,
                stage,
                at: EventTime::from_micros(row.get(2)?),
                reason: row.get(3)?,
                revenue: row.get(4)?,
            });
        }
        Ok(outcomes)
    }

    fn all_outcomes(&self) -> Result<Vec<Outcome>, StoreError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT lead_id, stage, at, reason, revenue FROM outcomes ORDER BY lead_id, at, id")?;
        let mut rows = statement.query([])?;
        let mut outcomes = Vec::new();
        while let Some(row) = rows.next()? {
            let lead_id: String = row.get(0)?;
            let stage_text: String = row.get(1)?;
            let stage = OutcomeStage::parse(&stage_text).ok_or_else(|| {
                StoreError::Corrupt(format!("lead {lead_id}: an outcome has the unknown stage {stage_text:?}"))
            })?;
            outcomes.push(Outcome {
                lead_id,
                stage,
                at: EventTime::from_micros(row.get(2)?),
                reason: row.get(3)?,
                revenue: row.get(4)?,
            });
        }
        Ok(outcomes)
    }

    fn add_spend(&mut self, spend: &[Spend]) -> Result<SpendAdded, StoreError> {
        let mut counts = SpendAdded::default();
        if spend.is_empty() {
            return Ok(counts);
        }
        let transaction = self.write_transaction()?;
        {
            let mut exists =
                transaction.prepare_cached("SELECT 1 FROM spend WHERE channel = ?1 AND from_at = ?2 AND to_at = ?3")?;
            let mut upsert = transaction.prepare_cached(
                "INSERT INTO spend (channel, from_at, to_at, amount) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (channel, from_at, to_at) DO UPDATE SET amount = excluded.amount",
            )?;
            for row in spend {
                let key = params![row.channel, row.from.as_micros(), row.to.as_micros()];
                if exists.exists(key)? {
                    counts.replaced += 1;
                } else {
                    counts.added += 1;
                }
                upsert.execute(params![row.channel, row.from.as_micros(), row.to.as_micros(), row.amount])?;
            }
        }
        transaction.commit()?;
        Ok(counts)
    }

    fn spend(&self) -> Result<Vec<Spend>, StoreError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT channel, from_at, to_at, amount FROM spend ORDER BY from_at, channel, to_at")?;
        let rows = statement.query_map([], |row| {
            Ok(Spend {
                channel: row.get(0)?,
                from: EventTime::from_micros(row.get(1)?),
                to: EventTime::from_micros(row.get(2)?),
                amount: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn add_api_key(
        &mut self,
        name: Option<&str>,
        role: Role,
        prefix: &str,
        hash: &str,
        created_at: EventTime,
    ) -> Result<ApiKey, StoreError> {
        let transaction = self.write_transaction()?;
        let id = transaction
            .query_row(
                "INSERT INTO api_keys (name, role, prefix, hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                params![name, role.as_str(), prefix, hash, created_at.as_micros()],
                |row| row.get(0),
            )
            .map_err(|error| match error {
                rusqlite::Error::SqliteFailure(failure, _)
                    if failure.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE =>
                {
                    StoreError::Invalid(format!("an API key with the hash {hash} is already stored"))
                }
                other => StoreError::Database(other),
            })?;
        transaction.commit()?;
        Ok(ApiKey {
            id,
            name: name.map(str::to_owned),
            role,
            prefix: prefix.to_owned(),
            hash: hash.to_owned(),
            created_at,
            revoked_at: None,
        })
    }

    fn api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let mut statement =
            self.connection.prepare_cached(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY id"))?;
        let mut rows = statement.query([])?;
        let mut keys = Vec::new();
        while let Some(row) = rows.next()? {
            keys.push(api_key_from_row(row)?);
        }
        Ok(keys)
    }

    fn revoke_api_key(&mut self, id: i64, at: EventTime) -> Result<(), StoreError> {
        let transaction = self.write_transaction()?;
        // A row matched counts as changed even when coalesce keeps its time.
        let changed = transaction.execute(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1",
            params![id, at.as_micros()],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("there is no API key {id}")));
        }
        transaction.commit()?;
        Ok(())
    }

    fn add_rejects(&mut self, rejects: &[NewReject]) -> Result<(), StoreError> {
        if rejects.is_empty() {
            return Ok(());
        }
        let transaction = self.write_transaction()?;
        {
            let mut insert = transaction.prepare_cached(
                "INSERT INTO rejects (received_at, endpoint, batch_index, field, reason, excerpt)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for reject in rejects {
                insert.execute(params![
                    reject.received_at.as_micros(),
                    reject.endpoint,
                    reject.batch_index,
                    reject.field,
                    reject.reason,
                    reject_excerpt(&reject.excerpt),
                ])?;
            }
        }
        transaction.commit()?;
        Ok(())
    }

    fn rejects(&self, limit: u64, before_id: Option<i64>) -> Result<Vec<RejectRecord>, StoreError> {
        let mut statement = self
            .connection
            .prepare_cached(&format!("SELECT {REJECT_COLUMNS} FROM rejects WHERE id < ?1 ORDER BY id DESC LIMIT ?2"))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = statement.query_map(params![before_id.unwrap_or(i64::MAX), limit], reject_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn reject_count(&self) -> Result<u64, StoreError> {
        let count: i64 = self.connection.query_row("SELECT count(*) FROM rejects", [], |row| row.get(0))?;
        Ok(count as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LeadSort;
    use crate::conformance::{self, FreshStore, conformance_tests};
    use serde_json::json;
    use tempfile::TempDir;

    /// Runs a conformance case on stores that each get a new file in one
    /// temporary directory, removed when the case ends.
    fn with_fresh_sqlite_stores(case: fn(FreshStore<'_>)) {
        let directory = tempfile::tempdir().unwrap();
        let mut opened = 0;
        let mut fresh_store = || -> Box<dyn Store> {
            opened += 1;
            let path = directory.path().join(format!("store-{opened}.sqlite"));
            Box::new(SqliteStore::open(&path).unwrap())
        };
        case(&mut fresh_store);
    }

    conformance_tests!(with_fresh_sqlite_stores);

    fn open_in(directory: &TempDir) -> SqliteStore {
        SqliteStore::open(&directory.path().join("qualify.sqlite")).unwrap()
    }

    fn event(dedup_key: &str, user_id: Option<&str>, anonymous_id: Option<&str>, seconds: i64) -> NewEvent {
        NewEvent {
            dedup_key: dedup_key.to_owned(),
            kind: "track".to_owned(),
            user_id: user_id.map(str::to_owned),
            anonymous_id: anonymous_id.map(str::to_owned),
            previous_id: None,
            time: EventTime::from_micros(seconds * 1_000_000),
            received_at: EventTime::from_micros(seconds * 1_000_000),
            json: json!({ "messageId": dedup_key }).to_string(),
        }
    }

    fn lead(lead_id: &str) -> LeadRecord {
        LeadRecord {
            lead_id: lead_id.to_owned(),
            engagement: 1.5,
            fit: 2,
            grade: "C".to_owned(),
            persona: None,
            mql: false,
            mql_at: None,
            first_seen: EventTime::from_micros(1),
            last_seen: EventTime::from_micros(2),
            traits: serde_json::Map::new(),
            anonymous_ids: vec!["a1".to_owned()],
            channel: None,
            scored_at: EventTime::from_micros(3),
            model_version: 1,
            stage: "lead".to_owned(),
        }
    }

    fn all_events(store: &SqliteStore) -> Vec<StoredEvent> {
        let mut events = Vec::new();
        store
            .for_each_event_page(100, &mut |page| {
                events.extend_from_slice(page);
                Ok(())
            })
            .unwrap();
        events
    }

    #[test]
    fn reopening_the_database_file_keeps_events_links_models_and_leads() {
        let directory = tempfile::tempdir().unwrap();
        let mut store = open_in(&directory);
        store.append_events(&[event("k1", Some("u1"), Some("a1"), 10), event("k2", None, Some("a2"), 20)]).unwrap();
        store.add_model("first", "name = \"first\"\n", EventTime::from_micros(5)).unwrap();
        store.add_model("second", "name = \"second\"\n", EventTime::from_micros(6)).unwrap();
        store.activate_model(1).unwrap();
        store.replace_all_leads(&[lead("u1"), lead("anon:a2")], &[]).unwrap();
        let events = all_events(&store);
        let models = store.models().unwrap();
        let leads = store.leads(&LeadQuery { include_anonymous: true, ..LeadQuery::default() }).unwrap();
        drop(store);

        let mut store = open_in(&directory);
        assert_eq!(all_events(&store), events);
        assert_eq!(
            store.linked_identities(&["u1".to_owned()], &[]).unwrap(),
            (vec!["u1".to_owned()], vec!["a1".to_owned()])
        );
        assert_eq!(store.models().unwrap(), models);
        assert_eq!(store.active_model().unwrap().map(|model| model.version), Some(1));
        assert_eq!(store.leads(&LeadQuery { include_anonymous: true, ..LeadQuery::default() }).unwrap(), leads);
        // The log goes on where it stopped, and still knows what it holds.
        let appended = store.append_events(&[event("k2", None, None, 30), event("k3", None, None, 30)]).unwrap();
        assert_eq!(appended, Appended { accepted: 1, duplicates: 1 });
        let events = all_events(&store);
        assert_eq!(events.len(), 3);
        assert!(events[2].seq > events[1].seq);
        assert_eq!(store.add_model("third", "", EventTime::from_micros(7)).unwrap().version, 3);
    }

    #[test]
    fn a_lead_with_unreadable_json_is_reported_as_corrupt_with_its_id() {
        let directory = tempfile::tempdir().unwrap();
        let mut store = open_in(&directory);
        store.replace_all_leads(&[lead("bad-traits"), lead("bad-anonymous-ids"), lead("good")], &[]).unwrap();
        store.connection.execute("UPDATE leads SET traits = '[1, 2]' WHERE lead_id = 'bad-traits'", []).unwrap();
        store
            .connection
            .execute("UPDATE leads SET anonymous_ids = '{' WHERE lead_id = 'bad-anonymous-ids'", [])
            .unwrap();
        for lead_id in ["bad-traits", "bad-anonymous-ids"] {
            let result = store.lead(lead_id);
            assert!(matches!(&result, Err(StoreError::Corrupt(message)) if message.contains(lead_id)), "{result:?}");
        }
        assert!(store.lead("good").unwrap().is_some());
        let result = store.leads(&LeadQuery::default());
        assert!(matches!(&result, Err(StoreError::Corrupt(_))), "{result:?}");
    }

    #[test]
    fn a_database_from_a_newer_schema_version_is_refused() {
        let directory = tempfile::tempdir().unwrap();
        let store = open_in(&directory);
        let newer = MIGRATIONS.len() as i64 + 1;
        store.connection.pragma_update(None, "user_version", newer).unwrap();
        drop(store);
        let result = SqliteStore::open(&directory.path().join("qualify.sqlite"));
        assert!(
            matches!(&result, Err(StoreError::Corrupt(message)) if message.contains(&newer.to_string())),
            "{result:?}"
        );
    }

    #[test]
    fn a_new_database_is_durable_and_checks_foreign_keys() {
        let directory = tempfile::tempdir().unwrap();
        let store = open_in(&directory);
        let pragma = |name: &str| -> String {
            store
                .connection
                .pragma_query_value(None, name, |row| row.get::<_, rusqlite::types::Value>(0))
                .map(|value| format!("{value:?}"))
                .unwrap()
        };
        assert_eq!(pragma("journal_mode"), "Text(\"wal\")");
        // 2 is FULL.
        assert_eq!(pragma("synchronous"), "Integer(2)");
        assert_eq!(pragma("foreign_keys"), "Integer(1)");
        assert_eq!(pragma("busy_timeout"), "Integer(5000)");
        assert_eq!(pragma("user_version"), format!("Integer({})", MIGRATIONS.len()));
    }

    #[test]
    fn an_append_that_fails_midway_stores_no_event_and_no_link() {
        let directory = tempfile::tempdir().unwrap();
        let mut store = open_in(&directory);
        store
            .connection
            .execute_batch(
                "CREATE TRIGGER poison AFTER INSERT ON events WHEN NEW.dedup_key = 'poison'
                 BEGIN SELECT RAISE(ABORT, 'poisoned event'); END;",
            )
            .unwrap();
        let result = store.append_events(&[
            event("k1", Some("u1"), Some("a1"), 1),
            event("k2", Some("u2"), None, 2),
            event("poison", None, None, 3),
        ]);
        assert!(matches!(&result, Err(StoreError::Database(_))), "{result:?}");
        assert_eq!(store.event_count().unwrap(), 0);
        assert_eq!(store.linked_identities(&["u1".to_owned()], &[]).unwrap(), (vec!["u1".to_owned()], vec![]));
        // The same events, without the poison, are all new.
        let appended =
            store.append_events(&[event("k1", Some("u1"), Some("a1"), 1), event("k2", Some("u2"), None, 2)]).unwrap();
        assert_eq!(appended, Appended { accepted: 2, duplicates: 0 });
    }

    #[test]
    fn a_group_append_that_fails_in_a_later_group_stores_nothing_of_any_group() {
        let directory = tempfile::tempdir().unwrap();
        let mut store = open_in(&directory);
        store
            .connection
            .execute_batch(
                "CREATE TRIGGER poison AFTER INSERT ON events WHEN NEW.dedup_key = 'poison'
                 BEGIN SELECT RAISE(ABORT, 'poisoned event'); END;",
            )
            .unwrap();
        let first_group = [event("k1", Some("u1"), Some("a1"), 1)];
        let second_group = [event("k2", None, None, 2), event("poison", None, None, 3)];
        let result = store.append_event_groups(&[&first_group, &second_group]);
        assert!(matches!(&result, Err(StoreError::Database(_))), "{result:?}");
        assert_eq!(store.event_count().unwrap(), 0);
        assert_eq!(store.linked_identities(&["u1".to_owned()], &[]).unwrap(), (vec!["u1".to_owned()], vec![]));
    }

    #[test]
    fn a_group_is_durable_when_it_commits_and_gone_when_it_rolls_back() {
        let directory = tempfile::tempdir().unwrap();
        let mut store = open_in(&directory);
        let reader = open_in(&directory);
        store.begin_group().unwrap();
        store.append_events(&[event("k1", Some("u1"), None, 1)]).unwrap();
        store.append_events(&[event("k2", Some("u2"), None, 2), event("k1", Some("u1"), None, 1)]).unwrap();
        // Another connection sees nothing before the commit.
        assert_eq!(reader.event_count().unwrap(), 0);
        store.commit_group().unwrap();
        assert_eq!(reader.event_count().unwrap(), 2);

        // A group rolled back leaves nothing, and writes go on alone after it.
        store.begin_group().unwrap();
        store.append_events(&[event("k3", None, None, 5)]).unwrap();
        store.rollback_group();
        assert_eq!(store.event_count().unwrap(), 2);
        store.append_events(&[event("k4", None, None, 6)]).unwrap();
        assert_eq!(reader.event_count().unwrap(), 3);
        store.rollback_group(); // no group open: nothing to undo
        assert_eq!(store.event_count().unwrap(), 3);
        // The rolled-back event's key is not kept as seen.
        let appended = store.append_events(&[event("k3", None, None, 5), event("k1", None, None, 1)]).unwrap();
        assert_eq!(appended, Appended { accepted: 1, duplicates: 1 });
    }

    /// Duplicates are found in memory, so each connection must learn what
    /// the others appended (the command line next to a server).
    #[test]
    fn an_event_another_connection_stored_is_a_duplicate_here_too() {
        let directory = tempfile::tempdir().unwrap();
        let mut server = open_in(&directory);
        let mut command_line = open_in(&directory);
        assert_eq!(
            server.append_events(&[event("k1", None, None, 1)]).unwrap(),
            Appended { accepted: 1, duplicates: 0 }
        );
        assert_eq!(
            command_line.append_events(&[event("k1", None, None, 1), event("k2", None, None, 2)]).unwrap(),
            Appended { accepted: 1, duplicates: 1 }
        );
        assert_eq!(
            server.append_events(&[event("k2", None, None, 2), event("k3", None, None, 3)]).unwrap(),
            Appended { accepted: 1, duplicates: 1 }
        );
        assert_eq!(
            command_line.append_events(&[event("k3", None, None, 3)]).unwrap(),
            Appended { accepted: 0, duplicates: 1 }
        );
        let keys: Vec<String> = all_events(&server)
            .iter()
            .map(|stored| serde_json::from_str::<serde_json::Value>(&stored.json).unwrap()["messageId"].to_string())
            .collect();
        assert_eq!(keys, ["\"k1\"", "\"k2\"", "\"k3\""]);
    }

    /// A database of schema version 3 (ids indexed, dedup keys unique) keeps
    /// its events, their sequence numbers and identity links when the log is
    /// rebuilt without those indexes, and still knows its duplicates.
    #[test]
    fn a_database_of_schema_version_3_keeps_its_log_when_the_id_indexes_go() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("qualify.sqlite");
        {
            let connection = Connection::open(&path).unwrap();
            for migration in &MIGRATIONS[..3] {
                connection.execute_batch(migration).unwrap();
            }
            connection.pragma_update(None, "user_version", 3).unwrap();
            connection
                .execute_batch(
                    r#"INSERT INTO events (seq, dedup_key, kind, user_id, anonymous_id, previous_id, time, received_at, json)
                       VALUES (7, 'k1', 'identify', 'u1', 'a1', NULL, 1, 1, '{"messageId":"k1"}'),
                              (9, 'k2', 'track', NULL, 'a2', NULL, 2, 2, '{"messageId":"k2"}');
                       INSERT INTO identity_links (other_id, user_id, kind, time, seq) VALUES ('a1', 'u1', 'anonymous', 1, 7);"#,
                )
                .unwrap();
        }
        let mut store = SqliteStore::open(&path).unwrap();
        let seqs: Vec<i64> = all_events(&store).iter().map(|stored| stored.seq).collect();
        assert_eq!(seqs, [7, 9]);
        assert_eq!(
            store.linked_identities(&["u1".to_owned()], &[]).unwrap(),
            (vec!["u1".to_owned()], vec!["a1".to_owned()])
        );
        assert_eq!(store.events_for_identities(&[], &["a2".to_owned()]).unwrap()[0].seq, 9);
        let indexes: i64 = store
            .connection
            .query_row("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'events'", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(indexes, 0);
        let appended =
            store.append_events(&[event("k2", None, None, 2), event("k3", Some("u1"), Some("a3"), 3)]).unwrap();
        assert_eq!(appended, Appended { accepted: 1, duplicates: 1 });
        // Foreign keys still hold, and still refer to the rebuilt log.
        let violations: i64 =
            store.connection.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |row| row.get(0)).unwrap();
        assert_eq!(violations, 0);
        let orphan = store.connection.execute(
            "INSERT INTO identity_links (other_id, user_id, kind, time, seq) VALUES ('x', 'y', 'anonymous', 1, 999)",
            [],
        );
        assert!(orphan.is_err(), "{orphan:?}");
    }

    /// A database made before lifecycle stages (schema version 1) is brought
    /// up to date on opening, its leads at stage `lead`.
    #[test]
    fn a_database_of_the_first_schema_version_is_upgraded_with_every_lead_at_stage_lead() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("qualify.sqlite");
        {
            let connection = Connection::open(&path).unwrap();
            connection.execute_batch(MIGRATIONS[0]).unwrap();
            connection.pragma_update(None, "user_version", 1).unwrap();
            connection
                .execute(
                    "INSERT INTO leads (lead_id, engagement, fit, grade, persona, mql, mql_at, first_seen, last_seen,
                         traits, anonymous_ids, channel, scored_at, model_version)
                     VALUES ('u1', 1.5, 2, 'C', NULL, 0, NULL, 1, 2, '{}', '[\"a1\"]', NULL, 3, 1)",
                    [],
                )
                .unwrap();
        }
        let mut store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.lead("u1").unwrap(), Some(lead("u1")));
        assert_eq!(store.lead_counts_by_stage().unwrap(), [("lead".to_owned(), 1)]);
        store.add_api_key(None, Role::Admin, "qk", "00", EventTime::from_micros(1)).unwrap();
        assert_eq!(store.api_keys().unwrap().len(), 1);
    }

    #[test]
    fn the_lead_columns_are_the_same_in_both_spellings() {
        assert_eq!(LEAD_COLUMNS, LEAD_COLUMN_NAMES.join(", "));
    }

    /// The steps of SQLite's plan for a lead list.
    fn lead_list_plan(store: &SqliteStore, query: &LeadQuery) -> Vec<String> {
        let (sql, parameters) = leads_sql(query).unwrap();
        let mut statement = store.connection.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        statement
            .query_map(params_from_iter(parameters), |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// The default list (by engagement) is read from its index in order,
    /// and a cursor starts the read at its place in the index rather than
    /// at the beginning. The sales queue reads the leads at its stage from
    /// the stage index and sorts only those (the MQLs, a few of all leads).
    #[test]
    fn the_default_list_reads_an_index_in_order_and_the_queue_searches_by_stage() {
        let directory = tempfile::tempdir().unwrap();
        let mut store = open_in(&directory);
        store.replace_all_leads(&[lead("u1"), lead("u2")], &[]).unwrap();
        let first = store.lead("u1").unwrap().unwrap();
        for after in [None, Some(crate::lead_cursor(&first, LeadSort::Engagement))] {
            let query = LeadQuery { after: after.clone(), limit: Some(10), ..LeadQuery::default() };
            let steps = lead_list_plan(&store, &query);
            assert!(!steps.iter().any(|step| step.contains("TEMP B-TREE")), "{query:?}\n{steps:#?}");
            if after.is_some() {
                assert!(steps.iter().any(|step| step.starts_with("SEARCH leads")), "{query:?}\n{steps:#?}");
            }
        }
        for after in [None, Some(crate::lead_cursor(&first, LeadSort::Priority))] {
            let query = LeadQuery {
                stages: vec!["mql".to_owned()],
                sort: LeadSort::Priority,
                after,
                limit: Some(10),
                ..LeadQuery::default()
            };
            let steps = lead_list_plan(&store, &query);
            assert!(
                steps.iter().any(|step| step.starts_with("SEARCH leads USING INDEX leads_by_stage")),
                "{query:?}\n{steps:#?}"
            );
        }
    }

    #[test]
    fn an_identity_link_keeps_its_earliest_linking_event() {
        let directory = tempfile::tempdir().unwrap();
        let mut store = open_in(&directory);
        store
            .append_events(&[event("k1", Some("u1"), Some("a1"), 50), event("k2", Some("u1"), Some("a1"), 60)])
            .unwrap();
        store
            .append_events(&[event("k3", Some("u1"), Some("a1"), 20), event("k4", Some("u1"), Some("a1"), 20)])
            .unwrap();
        let links: Vec<(String, String, String, i64, i64)> = store
            .connection
            .prepare("SELECT other_id, user_id, kind, time, seq FROM identity_links")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(links, [("a1".to_owned(), "u1".to_owned(), "anonymous".to_owned(), 20_000_000, 3)]);
    }

    #[test]
    fn a_page_size_of_zero_reads_one_event_per_page() {
        let directory = tempfile::tempdir().unwrap();
        let mut store = open_in(&directory);
        store.append_events(&[event("k1", None, None, 1), event("k2", None, None, 2)]).unwrap();
        let mut page_lengths = Vec::new();
        store
            .for_each_event_page(0, &mut |page| {
                page_lengths.push(page.len());
                Ok(())
            })
            .unwrap();
        assert_eq!(page_lengths, [1, 1]);
    }

    /// The identity link lookups run on every ingest, and a server reads a
    /// lead's events by sequence number for every explanation: a full scan
    /// there would make them slow down as the log grows. (Finding events by
    /// identifier does scan: the log has no index of its ids.)
    #[test]
    fn identity_lookups_search_indexes_instead_of_scanning_tables() {
        let directory = tempfile::tempdir().unwrap();
        let store = open_in(&directory);
        let plan = |sql: &str, parameters: usize| -> Vec<String> {
            let explained = format!("EXPLAIN QUERY PLAN {sql}");
            let mut statement = store.connection.prepare(&explained).unwrap();
            let arrays = vec!["[]"; parameters];
            statement
                .query_map(params_from_iter(arrays), |row| row.get::<_, String>(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        let queries = [
            (SELECT_EVENTS_BY_SEQ, 1),
            (SELECT_LINKS_OF_USERS, 1),
            (SELECT_USERS_ALIASED_FROM, 1),
            (SELECT_USERS_LINKED_FROM, 1),
        ];
        for (sql, parameters) in queries {
            let steps = plan(sql, parameters);
            assert!(steps.iter().any(|step| step.starts_with("SEARCH")), "{sql}\n{steps:#?}");
            assert!(
                !steps.iter().any(|step| step.starts_with("SCAN events") || step.starts_with("SCAN identity_links")),
                "{sql}\n{steps:#?}"
            );
        }
    }
}
