//! The load client of `bench/load.sh`: posts an NDJSON file of Segment
//! messages to a running `qualify serve` through `/v1/batch`, over a fixed
//! number of keep-alive connections, and measures events/s and batch latency.
//!
//! ```text
//! cargo run --release -p qualify-server --example load -- \
//!     --url http://127.0.0.1:PORT --key WRITE_KEY --events FILE \
//!     [--connections 4] [--batch 500] [--max-bytes 512000] [--gzip] \
//!     [--time-limit 600] [--summary FILE]
//! ```
//!
//! Before the clock starts, every line of the file is read (a message, or a
//! `{"batch": [...]}` envelope whose messages are taken out of it, with the
//! envelope's `context` merged under each message's own, as the server would),
//! and the messages are cut, in file order, into request bodies of at most
//! `--batch` messages and `--max-bytes` bytes (Segment's 500 KB limit), so
//! that only HTTP is timed. Each of the `--connections` workers owns one HTTP
//! client with one connection and posts the next unsent body until none is
//! left. A 429 is retried after its `Retry-After`; anything else but 200 is a
//! failure. Stops by itself at `--time-limit` seconds.
//!
//! Clock skew: for a message with no `timestamp` but an `originalTimestamp`
//! and a `sentAt`, the server takes its time as `receivedAt - (sentAt -
//! originalTimestamp)` (spec/ingestion.md), while `qualify score --events`
//! on the file takes `originalTimestamp` as it is. Setting `sentAt` equal to
//! `originalTimestamp` would not make that a no-op (the time would become
//! `receivedAt`, today), so the client removes `sentAt` from such messages,
//! and posts envelopes without one: the server then uses `originalTimestamp`
//! too, and scoring the stored log must equal scoring the file.

use axum::body::Bytes;
use serde_json::{Map, Value};
use std::io::{BufRead, BufReader, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

struct Options {
    url: String,
    key: String,
    events: String,
    connections: usize,
    batch: usize,
    max_bytes: usize,
    gzip: bool,
    time_limit: Duration,
    summary: Option<String>,
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "load: {problem}\nusage: load --url URL --key WRITE_KEY --events FILE [--connections 4] [--batch 500] \
         [--max-bytes 512000] [--gzip] [--time-limit 600] [--summary FILE]"
    );
    std::process::exit(2);
}

fn options() -> Options {
    let mut options = Options {
        url: String::new(),
        key: String::new(),
        events: String::new(),
        connections: 4,
        batch: 500,
        max_bytes: 500 * 1024,
        gzip: false,
        time_limit: Duration::from_secs(600),
        summary: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage(&format!("{arg} needs a value")));
        let number =
            |text: String| text.parse::<usize>().unwrap_or_else(|_| usage(&format!("{text:?} is not a number")));
        match arg.as_str() {
            "--url" => options.url = value().trim_end_matches('/').to_owned(),
            "--key" => options.key = value(),
            "--events" => options.events = value(),
            "--connections" => options.connections = number(value()).max(1),
            "--batch" => options.batch = number(value()).max(1),
            "--max-bytes" => options.max_bytes = number(value()),
            "--gzip" => options.gzip = true,
            "--time-limit" => options.time_limit = Duration::from_secs(number(value()) as u64),
            "--summary" => options.summary = Some(value()),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    if options.url.is_empty() || options.key.is_empty() || options.events.is_empty() {
        usage("--url, --key and --events are required");
    }
    options
}

/// A message as it is posted: see the module comment on `sentAt`.
fn prepare(mut message: Map<String, Value>, envelope_context: Option<&Map<String, Value>>) -> Map<String, Value> {
    if let Some(envelope_context) = envelope_context {
        let mut context = envelope_context.clone();
        if let Some(Value::Object(own)) = message.remove("context") {
            context.extend(own);
        }
        message.insert("context".into(), Value::Object(context));
    }
    let has = |message: &Map<String, Value>, field: &str| message.get(field).is_some_and(|value| !value.is_null());
    if !has(&message, "timestamp") && has(&message, "originalTimestamp") {
        message.remove("sentAt");
    }
    message
}

/// The request bodies, in file order, and how many messages they hold.
struct Bodies {
    bodies: Vec<(Bytes, usize)>,
    messages: usize,
    /// Bodies cut short of `--batch` messages by `--max-bytes`.
    cut_by_size: usize,
    /// Lines that are not JSON objects: posted as they are inside a batch,
    /// so the server counts and records them as rejects.
    odd_lines: usize,
    raw_bytes: usize,
}

fn read_bodies(options: &Options) -> std::io::Result<Bodies> {
    let file = std::fs::File::open(&options.events)?;
    let mut out = Bodies { bodies: Vec::new(), messages: 0, cut_by_size: 0, odd_lines: 0, raw_bytes: 0 };
    const HEAD: &[u8] = b"{\"batch\":[";
    const TAIL: &[u8] = b"]}";
    let mut current: Vec<u8> = HEAD.to_vec();
    let mut count = 0usize;
    let finish = |current: &mut Vec<u8>, count: &mut usize, out: &mut Bodies, by_size: bool| {
        if *count == 0 {
            return;
        }
        current.extend_from_slice(TAIL);
        let body = std::mem::replace(current, HEAD.to_vec());
        out.raw_bytes += body.len();
        let body = if options.gzip {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(&body).expect("gzip in memory");
            encoder.finish().expect("gzip in memory")
        } else {
            body
        };
        out.bodies.push((Bytes::from(body), *count));
        out.messages += *count;
        out.cut_by_size += usize::from(by_size);
        *count = 0;
    };
    let push = |text: Vec<u8>, current: &mut Vec<u8>, count: &mut usize, out: &mut Bodies| {
        if *count > 0 && current.len() + 1 + text.len() + TAIL.len() > options.max_bytes {
            finish(current, count, out, true);
        }
        if *count > 0 {
            current.push(b',');
        }
        current.extend_from_slice(&text);
        *count += 1;
        if *count == options.batch {
            finish(current, count, out, false);
        }
    };
    for line in BufReader::with_capacity(1 << 20, file).lines() {
        let line = line?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(mut object)) => match object.remove("batch") {
                Some(Value::Array(items)) => {
                    let context = match object.get("context") {
                        Some(Value::Object(context)) => Some(context.clone()),
                        _ => None,
                    };
                    for item in items {
                        let text = match item {
                            Value::Object(message) => serde_json::to_vec(&prepare(message, context.as_ref()))?,
                            other => serde_json::to_vec(&other)?,
                        };
                        push(text, &mut current, &mut count, &mut out);
                    }
                }
                Some(other) => {
                    // Not an envelope after all: a message with a `batch` field.
                    object.insert("batch".into(), other);
                    push(serde_json::to_vec(&prepare(object, None))?, &mut current, &mut count, &mut out);
                }
                None => push(serde_json::to_vec(&prepare(object, None))?, &mut current, &mut count, &mut out),
            },
            Ok(other) => {
                out.odd_lines += 1;
                push(serde_json::to_vec(&other)?, &mut current, &mut count, &mut out);
            }
            Err(_) => {
                // Broken JSON cannot go inside a batch; the server would refuse
                // the whole request. Counted, not sent.
                out.odd_lines += 1;
            }
        }
    }
    finish(&mut current, &mut count, &mut out, false);
    Ok(out)
}

/// What one worker saw.
#[derive(Default)]
struct Tally {
    /// Seconds per request answered 200.
    latencies: Vec<f64>,
    /// Seconds per batch from its first send to its 200, retries included.
    batch_latencies: Vec<f64>,
    accepted: u64,
    duplicates: u64,
    rejected: u64,
    messages_sent: u64,
    too_many: u64,
    failures: Vec<String>,
}

async fn worker(options: Arc<Options>, bodies: Arc<Bodies>, next: Arc<AtomicUsize>, deadline: Instant) -> Tally {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(120))
        .build()
        .expect("an HTTP client");
    let url = format!("{}/v1/batch", options.url);
    let mut tally = Tally::default();
    loop {
        if Instant::now() >= deadline {
            tally.failures.push("the time limit was reached".into());
            return tally;
        }
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some((body, count)) = bodies.bodies.get(index) else { return tally };
        let batch_started = Instant::now();
        loop {
            let mut request = client
                .post(&url)
                .basic_auth(&options.key, Some(""))
                .header("Content-Type", "application/json")
                .body(body.clone());
            if options.gzip {
                request = request.header("Content-Encoding", "gzip");
            }
            let started = Instant::now();
            let response = match request.send().await {
                Ok(response) => response,
                Err(error) => {
                    tally.failures.push(format!("batch {index}: {error}"));
                    break;
                }
            };
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok());
            let text = response.text().await.unwrap_or_default();
            let elapsed = started.elapsed().as_secs_f64();
            match status {
                200 => {
                    tally.latencies.push(elapsed);
                    tally.batch_latencies.push(batch_started.elapsed().as_secs_f64());
                    tally.messages_sent += *count as u64;
                    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    tally.accepted += answer["accepted"].as_u64().unwrap_or(0);
                    tally.duplicates += answer["duplicates"].as_u64().unwrap_or(0);
                    tally.rejected += answer["rejected"].as_u64().unwrap_or(0);
                    break;
                }
                429 => {
                    tally.too_many += 1;
                    let wait = Duration::from_secs(retry_after.unwrap_or(1));
                    if Instant::now() + wait >= deadline {
                        tally.failures.push(format!("batch {index}: 429 and no time left to retry"));
                        break;
                    }
                    tokio::time::sleep(wait).await;
                }
                _ => {
                    tally
                        .failures
                        .push(format!("batch {index}: HTTP {status}: {}", text.chars().take(300).collect::<String>()));
                    break;
                }
            }
        }
    }
}

fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64) * fraction).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let options = Arc::new(options());
    let prepared = Instant::now();
    let bodies = read_bodies(&options).unwrap_or_else(|error| {
        eprintln!("load: cannot read {}: {error}", options.events);
        std::process::exit(2);
    });
    let sent_bytes: usize = bodies.bodies.iter().map(|(body, _)| body.len()).sum();
    eprintln!(
        "load: {} messages in {} request bodies ({} cut short by --max-bytes; {:.1} MB{}) prepared in {:.1} s",
        bodies.messages,
        bodies.bodies.len(),
        bodies.cut_by_size,
        sent_bytes as f64 / 1e6,
        if options.gzip { format!(" gzipped from {:.1} MB", bodies.raw_bytes as f64 / 1e6) } else { String::new() },
        prepared.elapsed().as_secs_f64()
    );
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + options.time_limit;
    let workers: Vec<_> = (0..options.connections)
        .map(|_| tokio::spawn(worker(Arc::clone(&options), Arc::clone(&bodies), Arc::clone(&next), deadline)))
        .collect();
    let mut total = Tally::default();
    for worker in workers {
        let tally = worker.await.expect("a worker finished");
        total.latencies.extend(tally.latencies);
        total.batch_latencies.extend(tally.batch_latencies);
        total.accepted += tally.accepted;
        total.duplicates += tally.duplicates;
        total.rejected += tally.rejected;
        total.messages_sent += tally.messages_sent;
        total.too_many += tally.too_many;
        total.failures.extend(tally.failures);
    }
    let seconds = started.elapsed().as_secs_f64();
    total.latencies.sort_by(f64::total_cmp);
    total.batch_latencies.sort_by(f64::total_cmp);
    let events_per_second = total.messages_sent as f64 / seconds;
    let ms = |seconds: f64| seconds * 1000.0;
    let lines = [
        ("seconds", format!("{seconds:.3}")),
        ("messages", bodies.messages.to_string()),
        ("messages_acknowledged", total.messages_sent.to_string()),
        ("requests", total.latencies.len().to_string()),
        ("events_per_second", format!("{events_per_second:.0}")),
        ("accepted", total.accepted.to_string()),
        ("duplicates", total.duplicates.to_string()),
        ("rejected", total.rejected.to_string()),
        ("status_429", total.too_many.to_string()),
        ("p50_ms", format!("{:.1}", ms(percentile(&total.latencies, 0.50)))),
        ("p99_ms", format!("{:.1}", ms(percentile(&total.latencies, 0.99)))),
        ("max_ms", format!("{:.1}", ms(total.latencies.last().copied().unwrap_or(f64::NAN)))),
        ("batch_p50_ms", format!("{:.1}", ms(percentile(&total.batch_latencies, 0.50)))),
        ("batch_p99_ms", format!("{:.1}", ms(percentile(&total.batch_latencies, 0.99)))),
        ("failures", total.failures.len().to_string()),
        ("connections", options.connections.to_string()),
        ("batch", options.batch.to_string()),
        ("gzip", options.gzip.to_string()),
    ];
    let mut report = String::new();
    for (name, value) in &lines {
        report.push_str(&format!("{name}={value}\n"));
    }
    print!("{report}");
    if let Some(path) = &options.summary {
        std::fs::write(path, &report).unwrap_or_else(|error| eprintln!("load: cannot write {path}: {error}"));
    }
    for failure in total.failures.iter().take(10) {
        eprintln!("load: failed: {failure}");
    }
    if !total.failures.is_empty() || total.messages_sent != bodies.messages as u64 {
        std::process::exit(1);
    }
}
