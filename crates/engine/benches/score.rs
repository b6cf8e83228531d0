//! Criterion benchmarks of the scoring pipeline on the product's own
//! generated data: preparing and appending lines (parse, match rules,
//! dedup, intern) and scoring every lead with `mql_at`.
//!
//! `cargo bench -p qualify-engine` (QUALIFY_BENCH_LEADS sets the size, default
//! 5,000 leads). The whole-binary comparison with DuckDB is `bench/score.sh`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qualify_engine::Model;
use qualify_engine::log::{EventLog, Keep, split_lines};
use qualify_engine::score::score_log;
use qualify_engine::time::EventTime;
use qualify_generator::{GeneratorConfig, JEWELRY_MODEL, generate};
use std::hint::black_box;
use std::sync::Arc;

fn data_set() -> (Vec<u8>, u64) {
    let leads = std::env::var("QUALIFY_BENCH_LEADS").ok().and_then(|text| text.parse().ok()).unwrap_or(5_000);
    let mut bytes = Vec::new();
    let stats = generate(&GeneratorConfig { leads, seed: 1, ..Default::default() }, &mut bytes)
        .expect("writing to memory cannot fail");
    (bytes, stats.messages)
}

fn scoring(c: &mut Criterion) {
    let (bytes, messages) = data_set();
    let model = Arc::new(Model::parse(JEWELRY_MODEL).expect("the demo model is valid"));
    let as_of = EventTime::parse("2026-12-01T00:00:00Z").expect("valid time");
    let lines = split_lines(&bytes);
    let load = || {
        let mut log = EventLog::new(Arc::clone(&model), Keep::ScoringFacts);
        log.append_lines(&lines, 1, as_of);
        log
    };

    let mut group = c.benchmark_group("pipeline");
    group.sample_size(10);
    group.throughput(Throughput::Elements(messages));
    group.bench_function("prepare_and_append", |b| b.iter(|| black_box(load())));
    let log = load();
    group.bench_function("score_log", |b| b.iter(|| black_box(score_log(&log, as_of))));
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("end_to_end_bytes", |b| b.iter(|| black_box(score_log(&load(), as_of))));
    group.finish();
}

criterion_group!(benches, scoring);
criterion_main!(benches);
