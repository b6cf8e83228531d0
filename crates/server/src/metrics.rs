//! Prometheus metrics (`GET /metrics`): requests, events accepted, rejected
//! and duplicate, ingest latency, the writer's group sizes and busy time,
//! and leads by stage (read at scrape time).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    pub stage: String,
}

pub struct Metrics {
    pub registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub events_accepted: Counter,
    pub events_rejected: Counter,
    pub events_duplicate: Counter,
    pub overloaded: Counter,
    pub ingest_seconds: Histogram,
    pub leads_by_stage: Family<StageLabels, Gauge>,
    /// Requests the writer stored together in one transaction (group commit).
    pub write_group_requests: Histogram,
    /// Time the writer spent storing and scoring groups (not waiting for
    /// them): against wall time, how busy the one writer is.
    pub writer_busy_seconds: Counter<f64, AtomicU64>,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("qualify");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        let events_accepted = Counter::default();
        registry.register("events_accepted", "Messages stored", events_accepted.clone());
        let events_rejected = Counter::default();
        registry.register("events_rejected", "Messages refused as invalid", events_rejected.clone());
        let events_duplicate = Counter::default();
        registry.register("events_duplicate", "Messages whose messageId was already stored", events_duplicate.clone());
        let overloaded = Counter::default();
        registry.register("overloaded", "Ingestion requests refused with 429", overloaded.clone());
        let ingest_seconds = Histogram::new(exponential_buckets(0.000_5, 2.0, 16));
        registry.register("ingest_seconds", "Time to store and score one ingestion request", ingest_seconds.clone());
        let leads_by_stage = Family::<StageLabels, Gauge>::default();
        registry.register("leads", "Leads by lifecycle stage", leads_by_stage.clone());
        let write_group_requests = Histogram::new(exponential_buckets(1.0, 2.0, 7));
        registry.register(
            "write_group_requests",
            "Ingestion requests stored and scored in one transaction",
            write_group_requests.clone(),
        );
        let writer_busy_seconds = Counter::<f64, AtomicU64>::default();
        registry.register(
            "writer_busy_seconds",
            "Time the writer spent on groups of requests",
            writer_busy_seconds.clone(),
        );
        Metrics {
            registry,
            requests,
            events_accepted,
            events_rejected,
            events_duplicate,
            overloaded,
            ingest_seconds,
            leads_by_stage,
            write_group_requests,
            writer_busy_seconds,
        }
    }

    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
