//! The single writer: one thread owns the write connection and commits the
//! messages of every request waiting at that moment, with the leads they
//! re-score, in one transaction (group commit), so durability costs one
//! fsync per group, not per message. Only then does it answer each request:
//! a 200 means stored, durable and scored.

use crate::metrics::Metrics;
use qualify_engine::Model;
use qualify_engine::live::LiveLog;
use qualify_engine::log::{EventLog, PreparedMessage};
use qualify_engine::time::EventTime;
use qualify_store::ops::{self, Touched};
use qualify_store::{Appended, NewEvent, NewReject, SqliteStore, Store, StoreError};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;
use tokio::sync::oneshot;

/// Requests handled together at most; bounds a group's latency.
const MAX_GROUP: usize = 64;

/// Frames the write-ahead log may hold before the writer waits for the
/// checkpointer to catch up (16 MiB of 8 KiB pages). Under steady load the
/// checkpointer never copies the whole log while the writer keeps adding to
/// it, so the log would only grow: each group would write past its end,
/// into new file blocks the kernel must first allocate and zero (a sixth of
/// the writer's time in `bench/load.sh`). Once the log is wholly copied, the
/// next group starts it again from the beginning, over blocks already in
/// memory.
const RESTART_LOG_FRAMES: i64 = 2048;

/// Groups between two checkpoints. A group writes whole pages to the log,
/// and most of them are index pages that the next groups change again: a
/// checkpoint every group copies each such page back every time, one every
/// 64 groups copies it once (`bench/load.sh 20000`: 18.9k events/s with a
/// checkpoint per group, 24.1k every 16, 28.1k every 64; every 256 lets the
/// log grow for the whole run and falls back to 23k). Under light load the
/// log stays short anyway, and the last checkpoint runs at shutdown.
const CHECKPOINT_EVERY_GROUPS: usize = 64;

/// What the writer and the checkpointer share: the checkpointer holds the
/// lock while it copies, and says how long the log was.
#[derive(Default)]
struct Checkpoints {
    running: Mutex<()>,
    log_frames: AtomicI64,
}

/// One request's share of a group.
pub struct WriteJob {
    pub events: Vec<NewEvent>,
    /// `events` prepared for the in-memory log, one for one, if the request
    /// found a model there.
    pub prepared: Option<Prepared>,
    pub rejects: Vec<NewReject>,
    pub reply: oneshot::Sender<Result<Appended, String>>,
}

/// A request's events prepared for the in-memory log's model (with
/// [`LiveLog::KEEP`]). The writer uses them only if that model is still the
/// log's; otherwise it prepares the stored text itself.
pub struct Prepared {
    pub model: Arc<Model>,
    pub messages: Vec<PreparedMessage<'static>>,
}

/// Work for the writer thread: a request's messages, or an operation that
/// must run alone on the write connection (activating a model, making keys).
pub enum Job {
    Write(WriteJob),
    Exclusive(Box<dyn FnOnce(&mut SqliteStore) + Send>),
    /// An operation that changes neither events nor models (recording an
    /// outcome), so the in-memory log stays as it is rather than being
    /// read back whole.
    KeepingLog(Box<dyn FnOnce(&mut SqliteStore) + Send>),
}

/// Why a job could not be queued.
pub enum QueueError {
    /// The queue is full: the caller should answer 429.
    Full,
    /// The writer has stopped (shutting down, or failed).
    Stopped,
}

#[derive(Clone)]
pub struct WriterHandle {
    sender: SyncSender<Job>,
    live: SharedLive,
}

/// The writer's in-memory log, which readers consult to find a lead's
/// events (the store has no index of events by identifier).
type SharedLive = Arc<RwLock<Option<Live>>>;

impl WriterHandle {
    /// Queues a request's messages; refuses at once when the queue is full.
    pub fn submit(&self, job: WriteJob) -> Result<(), QueueError> {
        self.sender.try_send(Job::Write(job)).map_err(|error| match error {
            TrySendError::Full(_) => QueueError::Full,
            TrySendError::Disconnected(_) => QueueError::Stopped,
        })
    }

    /// Runs an operation alone on the write connection and returns its result.
    pub async fn exclusive<R: Send + 'static>(
        &self,
        operation: impl FnOnce(&mut SqliteStore) -> R + Send + 'static,
    ) -> Result<R, QueueError> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Exclusive(Box::new(move |store| {
            let _ = reply.send(operation(store));
        }));
        self.queue(job, answer).await
    }

    /// Runs an operation that changes neither events nor models (it must
    /// not) alone on the write connection, and returns its result.
    pub async fn keeping_log<R: Send + 'static>(
        &self,
        operation: impl FnOnce(&mut SqliteStore) -> R + Send + 'static,
    ) -> Result<R, QueueError> {
        let (reply, answer) = oneshot::channel();
        let job = Job::KeepingLog(Box::new(move |store| {
            let _ = reply.send(operation(store));
        }));
        self.queue(job, answer).await
    }

    /// The model of the in-memory log, to prepare a request's events for it.
    pub fn live_model(&self) -> Option<Arc<Model>> {
        let live = self.live.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        live.as_ref().map(|live| live.log.shared_model())
    }

    /// The log of one lead's identity component, prepared for the active
    /// model with everything kept (for explanations and timelines); `None`
    /// when no model is active. The writer's in-memory log says which
    /// stored events are the lead's, and `store` reads them by sequence
    /// number. Without that log (no model was active when the writer
    /// started, or it failed to load) the store finds them itself, reading
    /// its whole log.
    pub fn lead_log(&self, store: &dyn Store, lead_id: &str) -> Result<Option<EventLog>, StoreError> {
        let found = {
            let live = self.live.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            live.as_ref().map(|live| (live.log.shared_model(), live.log.lead_seqs(lead_id)))
        };
        match found {
            Some((model, seqs)) => Ok(Some(ops::lead_log_of_seqs(store, &seqs, model)?)),
            None => match ops::active_model(store) {
                Ok(Some((_, model))) => Ok(Some(ops::lead_log(store, lead_id, model)?)),
                Ok(None) => Ok(None),
                Err(ops::OpsError::Store(error)) => Err(error),
                Err(error) => Err(StoreError::Corrupt(error.to_string())),
            },
        }
    }

    async fn queue<R>(&self, job: Job, answer: oneshot::Receiver<R>) -> Result<R, QueueError> {
        self.sender.try_send(job).map_err(|error| match error {
            TrySendError::Full(_) => QueueError::Full,
            TrySendError::Disconnected(_) => QueueError::Stopped,
        })?;
        answer.await.map_err(|_| QueueError::Stopped)
    }
}

/// Starts the writer thread on its own connection. `queue` bounds how many
/// requests may wait; beyond it, requests are refused with 429. The writer
/// does not checkpoint the write-ahead log itself: every
/// [`CHECKPOINT_EVERY_GROUPS`] groups it wakes a checkpointing thread on
/// `checkpoint_store`, which copies pages back into the database on the
/// other core while the writer goes on (until the log passes
/// [`RESTART_LOG_FRAMES`]).
pub fn start(
    mut store: SqliteStore,
    checkpoint_store: SqliteStore,
    queue: usize,
    metrics: Arc<Metrics>,
) -> (WriterHandle, JoinHandle<()>) {
    let (sender, receiver) = mpsc::sync_channel(queue);
    // Loaded before the first request is taken, so a reader never finds it
    // missing while the writer starts.
    let live: SharedLive = Arc::new(RwLock::new(load_live(&store)));
    let writer_live = Arc::clone(&live);
    let thread = std::thread::Builder::new()
        .name("qualify-writer".into())
        .spawn(move || {
            if let Err(error) = store.load_dedup_keys() {
                tracing::warn!(%error, "cannot read the stored dedup keys yet; the first group reads them");
            }
            if let Err(error) = store.disable_auto_checkpoint() {
                tracing::warn!(%error, "cannot hand checkpoints to their own thread; the writer keeps doing them");
            }
            let (wake, wakes) = mpsc::sync_channel::<()>(1);
            let checkpoints = Arc::new(Checkpoints::default());
            let shared = Arc::clone(&checkpoints);
            let checkpointer = std::thread::Builder::new()
                .name("qualify-checkpoint".into())
                .spawn(move || {
                    // Ends when the writer drops `wake`, after a last checkpoint.
                    while wakes.recv().is_ok() {
                        let _running = shared.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                        match checkpoint_store.checkpoint() {
                            Ok((frames, _)) => shared.log_frames.store(frames, Ordering::Relaxed),
                            Err(error) => tracing::warn!(%error, "checkpoint failed; the next group retries"),
                        }
                    }
                    let _ = checkpoint_store.checkpoint();
                })
                .expect("the checkpoint thread can be started");
            run(store, receiver, &writer_live, &wake, &checkpoints, &metrics);
            drop(wake);
            let _ = checkpointer.join();
        })
        .expect("the writer thread can be started");
    (WriterHandle { sender, live }, thread)
}

/// The active model's version and the whole log in memory, so that a group
/// re-scores its leads without reading their histories back from the store.
struct Live {
    model_version: i64,
    log: LiveLog,
    /// The last sequence number of the stored log this copy has read.
    through_seq: i64,
}

fn load_live(store: &SqliteStore) -> Option<Live> {
    match ops::load_live_log(store) {
        Ok(live) => live.map(|(stored, log)| Live {
            model_version: stored.version,
            through_seq: log.last_seq().unwrap_or(i64::MIN),
            log,
        }),
        Err(error) => {
            tracing::error!(%error, "cannot load the event log for live scoring");
            None
        }
    }
}

/// Replaces the in-memory log (loaded first, so readers wait only for the swap).
fn reload(live: &SharedLive, store: &SqliteStore) {
    let loaded = load_live(store);
    *live.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = loaded;
}

fn run(
    mut store: SqliteStore,
    receiver: Receiver<Job>,
    live: &SharedLive,
    wake_checkpointer: &SyncSender<()>,
    checkpoints: &Checkpoints,
    metrics: &Metrics,
) {
    // Ends when every handle is dropped and the queue is drained.
    let mut next: Option<Job> = None;
    let mut groups_since_checkpoint = 0;
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => match receiver.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        let first = match job {
            Job::Exclusive(operation) => {
                operation(&mut store);
                // The operation may have activated another model.
                reload(live, &store);
                let _ = wake_checkpointer.try_send(());
                continue;
            }
            Job::KeepingLog(operation) => {
                operation(&mut store);
                let _ = wake_checkpointer.try_send(());
                continue;
            }
            Job::Write(job) => job,
        };
        let started = Instant::now();
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match receiver.try_recv() {
                Ok(Job::Write(job)) => jobs.push(job),
                // Keep order: an exclusive operation waits for this group.
                Ok(exclusive) => {
                    next = Some(exclusive);
                    break;
                }
                Err(_) => break,
            }
        }
        if checkpoints.log_frames.load(Ordering::Relaxed) > RESTART_LOG_FRAMES {
            // Wait for the checkpointer's pass, copy the rest (no one else
            // writes), and this group restarts the log from its beginning.
            let _running = checkpoints.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match store.checkpoint() {
                Ok((frames, copied)) if frames == copied => checkpoints.log_frames.store(0, Ordering::Relaxed),
                Ok(_) => {} // a reader still uses the log: the next group tries again
                Err(error) => tracing::warn!(%error, "checkpoint failed; the next group retries"),
            }
        }
        // One transaction for the group's events, rejects and re-scored
        // leads: one commit, one sync of the log.
        let results: Vec<Result<Appended, String>> = match store.begin_group() {
            Ok(()) => match write_group(&mut store, live, &mut jobs).and_then(|results| {
                store.commit_group().map_err(|error| error.to_string())?;
                Ok(results)
            }) {
                Ok(results) => results.into_iter().map(Ok::<Appended, String>).collect::<Vec<_>>(),
                Err(error) => {
                    store.rollback_group();
                    tracing::error!(%error, "storing a group of events failed; nothing of it is kept");
                    // The in-memory log may hold events that are not stored.
                    reload(live, &store);
                    jobs.iter().map(|_| Err(error.clone())).collect()
                }
            },
            Err(error) => {
                tracing::error!(%error, "cannot start a group of events");
                jobs.iter().map(|_| Err(error.to_string())).collect()
            }
        };
        metrics.write_group_requests.observe(jobs.len() as f64);
        for (job, result) in jobs.into_iter().zip(results) {
            // The requester may have gone away; its data is stored anyway.
            let _ = job.reply.send(result);
        }
        metrics.writer_busy_seconds.inc_by(started.elapsed().as_secs_f64());
        groups_since_checkpoint += 1;
        if groups_since_checkpoint >= CHECKPOINT_EVERY_GROUPS {
            groups_since_checkpoint = 0;
            // A checkpoint already pending covers these groups too.
            let _ = wake_checkpointer.try_send(());
        }
    }
}

/// Writes a group's events and rejects and re-scores the leads they touch,
/// in the group's transaction; any failure fails the whole group.
fn write_group(store: &mut SqliteStore, live: &SharedLive, jobs: &mut [WriteJob]) -> Result<Vec<Appended>, String> {
    // What another process (the command line on the same file) appended
    // since the in-memory log was read. The group's transaction holds the
    // write lock, so the list is complete and comes before this group.
    let through_seq =
        live.read().unwrap_or_else(|poisoned| poisoned.into_inner()).as_ref().map(|live| live.through_seq);
    let others = match through_seq {
        Some(through_seq) => store.events_after(through_seq).map_err(|error| error.to_string())?,
        None => Vec::new(),
    };
    let groups: Vec<&[NewEvent]> = jobs.iter().map(|job| job.events.as_slice()).collect();
    let rejects: Vec<NewReject> = jobs.iter().flat_map(|job| job.rejects.iter().cloned()).collect();
    let (appended, seqs) = store.append_event_groups_with_seqs(&groups).map_err(|error| error.to_string())?;
    if !rejects.is_empty() {
        store.add_rejects(&rejects).map_err(|error| error.to_string())?;
    }
    let mut touched = Touched::default();
    for events in &groups {
        ops::note_touched(events, &mut touched);
    }
    let mut guard = live.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(live) = guard.as_mut() {
        let now = EventTime::now();
        if !others.is_empty() {
            let lines: Vec<&[u8]> = others.iter().map(|event| event.json.as_bytes()).collect();
            let other_seqs: Vec<i64> = others.iter().map(|event| event.seq).collect();
            live.log.append_stored(&lines, &other_seqs, now);
            // Their leads are re-scored with this group's, from the whole log.
            ops::note_touched(&ops::parse_lines(&lines, 1, now).0, &mut touched);
        }
        let model = live.log.shared_model();
        let all_prepared = jobs.iter().all(|job| {
            job.events.is_empty()
                || job.prepared.as_ref().is_some_and(|prepared| {
                    Arc::ptr_eq(&prepared.model, &model) && prepared.messages.len() == job.events.len()
                })
        });
        if all_prepared {
            // Only the stored events: a duplicate has no sequence number.
            let messages = jobs.iter_mut().flat_map(|job| job.prepared.take().map_or_else(Vec::new, |p| p.messages));
            live.log.append_prepared(messages.zip(&seqs).filter_map(|(message, seq)| seq.map(|seq| (seq, message))));
        } else {
            let mut lines: Vec<&[u8]> = Vec::new();
            let mut stored_seqs: Vec<i64> = Vec::new();
            let events = jobs.iter().flat_map(|job| job.events.iter());
            for (event, seq) in events.zip(&seqs) {
                if let Some(seq) = seq {
                    lines.push(event.json.as_bytes());
                    stored_seqs.push(*seq);
                }
            }
            live.log.append_stored(&lines, &stored_seqs, now);
        }
        let newest = others.last().map(|event| event.seq).into_iter().chain(seqs.iter().flatten().copied()).max();
        live.through_seq = newest.map_or(live.through_seq, |newest| newest.max(live.through_seq));
        let identifiers = touched.user_ids.iter().chain(&touched.anonymous_ids).map(String::as_str);
        let (profiles, rows) = live.log.profile_components(identifiers, now);
        let (version, recycle_days) = (live.model_version, live.log.model().recycle_days);
        // Readers may look up leads while the rows are written.
        drop(guard);
        ops::store_profiles(store, profiles, &rows, now, version, recycle_days)
            .map_err(|error| format!("re-scoring the group's leads failed: {error}"))?;
    }
    Ok(appended)
}
