//! Black-box tests of `qualify serve`: each test starts the real server on
//! port 0 against its own SQLite file (see [`support`]) and talks HTTP to
//! it, as the SDKs, the dashboard and sales tools do.

mod api;
mod backtest;
mod criteria;
mod dashboard;
mod ingestion;
mod kpis;
mod operations;
mod outcomes;
mod roles;
mod scoring;
mod support;
