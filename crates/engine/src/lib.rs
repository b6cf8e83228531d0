//! The Qualify scoring engine: Segment messages in, lead scores out.
//!
//! Everything here is pure computation over values: no files, no sockets, no
//! database, no async. Callers (the store, the command line, the server) read
//! bytes and hand them over; this crate parses them into typed messages,
//! resolves identities, derives visits, evaluates a [`model::Model`] and
//! explains each score rule by rule, exactly as `spec/scoring.md` defines.

pub mod backtest;
pub mod condition;
pub mod criteria;
pub mod crm;
pub mod explain;
pub mod identity;
pub mod kpis;
pub mod live;
pub mod log;
pub mod message;
pub mod model;
pub mod outcome;
mod positions;
pub mod score;
pub mod suggest;
pub mod time;

pub use model::Model;
pub use time::EventTime;
