use thiserror::Error;

/// What can go wrong in the store.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database could not be opened, read or written.
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// The database holds something this version cannot read.
    #[error("corrupt data in the database: {0}")]
    Corrupt(String),
    /// The caller asked for something that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// What was asked cannot be done as given: the stored model or events
    /// do not work with the engine, a call names one lead twice, or the
    /// database file cannot run in the required (write-ahead log) mode.
    #[error("{0}")]
    Invalid(String),
}
