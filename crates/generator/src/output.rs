//! The delivery stage: messages wait in a min-heap keyed by their delivery
//! time, and leave it (as single lines or inside batch envelopes) once no
//! message generated later can be delivered before them.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::io::{self, Write};

use crate::GeneratedStats;
use crate::json::Json;
use crate::rng::{Draw, Rand};

/// Share of lines that are `{"batch":[...]}` envelopes.
const BATCH_LINE_SHARE: f64 = 0.02;

struct Pending {
    key: i64,
    seq: u64,
    text: Box<[u8]>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    // Reversed: `BinaryHeap` is a max-heap and we want the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.key, other.seq).cmp(&(self.key, self.seq))
    }
}

pub(crate) struct Output<'w, W: Write> {
    writer: &'w mut W,
    heap: BinaryHeap<Pending>,
    seq: u64,
    rng: Rand,
    end_ms: i64,
    batch: Vec<Box<[u8]>>,
    batch_target: usize,
    batch_last_key: i64,
    line: Vec<u8>,
    pub(crate) stats: GeneratedStats,
}

impl<'w, W: Write> Output<'w, W> {
    pub(crate) fn new(writer: &'w mut W, rng: Rand, end_ms: i64) -> Self {
        Output {
            writer,
            heap: BinaryHeap::new(),
            seq: 0,
            rng,
            end_ms,
            batch: Vec::new(),
            batch_target: 0,
            batch_last_key: 0,
            line: Vec::with_capacity(64 * 1024),
            stats: GeneratedStats::default(),
        }
    }

    /// Queues a message for delivery at `key` (milliseconds).
    pub(crate) fn push(&mut self, key: i64, text: Box<[u8]>) {
        self.seq += 1;
        self.heap.push(Pending { key, seq: self.seq, text });
    }

    /// Writes every queued message whose delivery time is before `t`.
    pub(crate) fn flush_before(&mut self, t: i64) -> io::Result<()> {
        while self.heap.peek().is_some_and(|p| p.key < t) {
            let p = self.heap.pop().expect("peeked");
            self.deliver(p.key, p.text)?;
        }
        Ok(())
    }

    /// Writes everything still queued, and any partial batch.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        while let Some(p) = self.heap.pop() {
            self.deliver(p.key, p.text)?;
        }
        match self.batch.len() {
            0 => {}
            1 => {
                let text = self.batch.pop().expect("one");
                self.write_single(&text)?;
            }
            _ => self.write_batch()?,
        }
        self.writer.flush()
    }

    fn deliver(&mut self, key: i64, text: Box<[u8]>) -> io::Result<()> {
        self.stats.messages += 1;
        if self.batch_target == 0 && self.rng.chance(BATCH_LINE_SHARE) {
            self.batch_target = self.rng.range(2, 20) as usize;
        }
        if self.batch_target > 0 {
            self.batch.push(text);
            self.batch_last_key = key;
            if self.batch.len() >= self.batch_target {
                self.write_batch()?;
            }
            Ok(())
        } else {
            self.write_single(&text)
        }
    }

    fn write_single(&mut self, text: &[u8]) -> io::Result<()> {
        self.line.clear();
        self.line.extend_from_slice(text);
        self.line.push(b'\n');
        self.write_line()
    }

    fn write_batch(&mut self) -> io::Result<()> {
        let sent_at = (self.batch_last_key + self.rng.range(5, 900)).min(self.end_ms - 1);
        let mut j = Json::with_capacity(64);
        j.begin_obj();
        j.ts("sentAt", sent_at);
        j.end_obj();
        self.line.clear();
        self.line.extend_from_slice(b"{\"batch\":[");
        for (i, text) in self.batch.iter().enumerate() {
            if i > 0 {
                self.line.push(b',');
            }
            self.line.extend_from_slice(text);
        }
        self.line.extend_from_slice(b"],");
        // `{"sentAt":"..."}` without its opening brace
        self.line.extend_from_slice(&j.buf[1..]);
        self.line.push(b'\n');
        self.batch.clear();
        self.batch_target = 0;
        self.write_line()
    }

    fn write_line(&mut self) -> io::Result<()> {
        self.stats.lines += 1;
        self.stats.bytes += self.line.len() as u64;
        self.writer.write_all(&self.line)
    }
}
