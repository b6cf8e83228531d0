//! Writes a generated data set to stdout; stats and timing go to stderr.
//!
//! ```text
//! cargo run --release -p qualify-generator --example gen -- [LEADS] [SEED] [DAYS] > events.ndjson
//! ```

use std::io::Write;
use std::time::Instant;

use qualify_generator::{GeneratorConfig, generate};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut config = GeneratorConfig::default();
    if let Some(leads) = args.next() {
        config.leads = leads.parse().expect("LEADS: a number");
    }
    if let Some(seed) = args.next() {
        config.seed = seed.parse().expect("SEED: a number");
    }
    if let Some(days) = args.next() {
        config.days = days.parse().expect("DAYS: a number");
    }
    let started = Instant::now();
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    let stats = generate(&config, &mut lock)?;
    lock.flush()?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "leads {} | lines {} | messages {} | {:.1} MB ({:.0} B/line) | anonymous visitors {} | duplicates {} | {:.2} s",
        stats.leads,
        stats.lines,
        stats.messages,
        stats.bytes as f64 / 1e6,
        stats.bytes as f64 / stats.lines.max(1) as f64,
        stats.anonymous_visitors,
        stats.duplicates,
        secs
    );
    Ok(())
}
