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
    /// The stored model or events do not work with the engine.
    #[error("{0}")]
    Invalid(String),
}
