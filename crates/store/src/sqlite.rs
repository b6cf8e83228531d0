//! The SQLite implementation of [`Store`](crate::Store).
