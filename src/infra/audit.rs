//! The audit batcher: reads are audited by one writer task, in batches, with group commit.
//!
//! Events go into a channel; one task writes whatever has queued up (up to [`MAX_BATCH`])
//! in one insert, so an idle service writes an event at once and a busy one writes in
//! batches. An insert the database could not take (unreachable, shutting down) is retried,
//! the batch kept, until it succeeds. An insert the database refused is split in halves
//! until the events it refuses are found: the others are written, and the requests whose
//! events were refused are answered without their data (one bad event must not hold up
//! every read). `flush` waits until everything queued before it is settled; graceful
//! shutdown calls it.
//! Writes are audited in their own transaction instead (see the store), so a write and its
//! audit event are committed together.
//!
//! **Group commit.** No answer carrying a record leaves before its audit events are
//! committed. Each queued event gets a sequence number, increasing in queue order; a
//! request notes the highest of its own in its [`AuditMark`], and after each committed
//! batch the writer publishes the number of the last event in it. The HTTP, websocket and
//! export handlers wait ([`AuditSink::committed`]) until that watermark has reached their
//! mark before sending the answer, so the requests whose events went into one batch share
//! its commit (a few milliseconds). A request that queued no event does not wait. An
//! answer whose events are not committed within a bound is replaced by an `UNAVAILABLE`
//! error (no data): a record is never sent unaudited, and a crash (even SIGKILL) after an
//! answer went out cannot lose its audit.
//!
//! **Bounded.** Recording never waits, but a request does not start while more than
//! [`MAX_QUEUED`] events are waiting ([`AuditSink::admit`]): when reads outpace the
//! database, they slow down to its pace rather than the queue growing without end (in
//! memory, and in what a crash would lose).
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use entity::audit_event;
use sea_orm::{ActiveValue::Set, DatabaseConnection, TryIntoModel};
use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::error::db_unavailable;
use crate::store;

/// The most events written in one insert.
pub const MAX_BATCH: usize = 5_000;
/// The most events waiting before new requests wait for the writer.
pub const MAX_QUEUED: usize = 20_000;
/// How long an answer waits for its audit events to be committed before it is refused
/// with `UNAVAILABLE` instead.
pub const COMMIT_WITHIN: Duration = Duration::from_secs(5);

enum Message {
    /// An event, its sequence number and the mark of the request that queued it.
    Event(u64, Box<audit_event::Model>, AuditMark),
    Flush(oneshot::Sender<()>),
}

/// The highest sequence number of the audit events one request (or one websocket
/// connection) has queued (0 for none), and whether one of them could not be written.
/// Clones share it.
#[derive(Clone, Debug, Default)]
pub struct AuditMark(Arc<MarkState>);

#[derive(Debug, Default)]
struct MarkState {
    last: AtomicU64,
    failed: AtomicBool,
}

impl AuditMark {
    /// The sequence number of the request's last event (0: it queued none).
    pub fn last(&self) -> u64 {
        self.0.last.load(Ordering::Acquire)
    }

    /// Whether one of the request's events could not be queued or was refused by the
    /// database: its answer must not go out.
    pub fn failed(&self) -> bool {
        self.0.failed.load(Ordering::Acquire)
    }

    fn note(&self, sequence: u64) {
        self.0.last.fetch_max(sequence, Ordering::AcqRel);
    }

    fn fail(&self) {
        self.0.failed.store(true, Ordering::Release);
    }
}

/// Why the audit events of an answer are not committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotCommitted {
    /// Not within the time allowed (the database is slow or unreachable): worth retrying.
    TimedOut,
    /// One of them could not be queued or was refused by the database.
    Refused,
}

/// Where audit events are sent. Cheap to clone.
#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::UnboundedSender<Message>,
    /// The sequence number of the last event queued. Numbers are taken and events sent
    /// under this lock, so that they increase in queue order.
    last_queued: Arc<Mutex<u64>>,
    /// The sequence number of the last event committed (the writer's watermark).
    committed: watch::Receiver<u64>,
    queued: Arc<AtomicUsize>,
    /// Signalled after each batch is written.
    written: Arc<Notify>,
}

impl AuditSink {
    /// Starts the writer task on `db`.
    pub fn start(db: DatabaseConnection) -> AuditSink {
        let (tx, rx) = mpsc::unbounded_channel();
        let (watermark, committed) = watch::channel(0);
        let queued = Arc::new(AtomicUsize::new(0));
        let written = Arc::new(Notify::new());
        tokio::spawn(write_loop(
            db,
            rx,
            watermark,
            queued.clone(),
            written.clone(),
        ));
        AuditSink {
            tx,
            last_queued: Arc::new(Mutex::new(0)),
            committed,
            queued,
            written,
        }
    }

    /// Queues an event (every column but `id` set) of the request `mark` belongs to, and
    /// notes it there (see [`AuditSink::committed`]).
    pub fn record(&self, mark: &AuditMark, mut event: audit_event::ActiveModel) {
        // The database numbers the event; 0 only completes the model.
        event.id = Set(0);
        let event = match event.try_into_model() {
            Ok(event) => event,
            Err(e) => {
                tracing::error!(error = %e, "an audit event with a column unset was not queued");
                mark.fail();
                return;
            }
        };
        self.queued.fetch_add(1, Ordering::Relaxed);
        let mut last = self
            .last_queued
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let sequence = *last + 1;
        if self
            .tx
            .send(Message::Event(sequence, Box::new(event), mark.clone()))
            .is_err()
        {
            drop(last);
            self.queued.fetch_sub(1, Ordering::Relaxed);
            tracing::error!("audit writer has stopped; an audit event could not be queued");
            // Noted all the same: an answer that needed it must not go out.
            mark.note(u64::MAX);
            return;
        }
        *last = sequence;
        drop(last);
        mark.note(sequence);
    }

    /// Events queued and not yet written.
    pub fn depth(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Returns once no more than [`MAX_QUEUED`] events are waiting to be written.
    pub async fn admit(&self) {
        loop {
            let written = self.written.notified();
            tokio::pin!(written);
            written.as_mut().enable();
            if self.depth() <= MAX_QUEUED {
                return;
            }
            written.await;
        }
    }

    /// Waits until every event noted in `mark` is committed, for at most `within`; at once
    /// when it holds none. The answer of a request may go out only once this is `Ok`: it is
    /// an error when the time is up or one of the events was refused.
    pub async fn committed(&self, mark: &AuditMark, within: Duration) -> Result<(), NotCommitted> {
        let last = mark.last();
        if mark.failed() {
            return Err(NotCommitted::Refused);
        }
        if last == 0 {
            return Ok(());
        }
        let mut committed = self.committed.clone();
        match tokio::time::timeout(within, committed.wait_for(|c| *c >= last)).await {
            Ok(Ok(_)) if mark.failed() => {
                tracing::error!("an audit event of the answer was refused; the answer is withheld");
                Err(NotCommitted::Refused)
            }
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) | Err(_) => {
                tracing::error!(
                    pending = self.depth(),
                    "audit events not committed in time; the answer is withheld"
                );
                Err(NotCommitted::TimedOut)
            }
        }
    }

    /// Waits until every event queued before this call is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

async fn write_loop(
    db: DatabaseConnection,
    mut rx: mpsc::UnboundedReceiver<Message>,
    watermark: watch::Sender<u64>,
    queued: Arc<AtomicUsize>,
    written: Arc<Notify>,
) {
    let mut batch = Batch::default();
    let mut waiters = Vec::new();
    // Whatever has queued while the previous batch was being written goes into the next:
    // the requests waiting on it share one commit.
    while let Some(first) = rx.recv().await {
        let mut last = None;
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Event(sequence, e, mark) => {
                    batch.events.push(*e);
                    batch.marks.push(mark);
                    last = Some(sequence);
                }
                Message::Flush(done) => waiters.push(done),
            }
            if batch.events.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        write_batch(&db, &mut batch, &queued).await;
        if let Some(last) = last {
            watermark.send_replace(last);
        }
        written.notify_waiters();
        for done in waiters.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Events to write, and the mark of the request that queued each (same order).
#[derive(Default)]
struct Batch {
    events: Vec<audit_event::Model>,
    marks: Vec<AuditMark>,
}

impl Batch {
    /// The second half, split off.
    fn split_off_half(&mut self) -> Batch {
        let at = self.events.len() / 2;
        Batch {
            events: self.events.split_off(at),
            marks: self.marks.split_off(at),
        }
    }
}

/// How often an insert the database refused is tried again before it is split: a
/// refusal may be passing (a lock, a cancelled statement) rather than about the events.
const TRIES_BEFORE_SPLIT: u32 = 3;

/// Writes `batch`, retrying while the database cannot be reached. An insert the database
/// still refuses after [`TRIES_BEFORE_SPLIT`] tries is split in halves, down to the events
/// it refuses: those are dropped (logged without their content) and their requests' marks
/// failed; every other event is written.
async fn write_batch(db: &DatabaseConnection, batch: &mut Batch, queued: &AtomicUsize) {
    let settled = batch.events.len();
    let mut pieces = vec![(std::mem::take(batch), 0)];
    let mut delay = Duration::from_millis(50);
    while let Some((mut piece, tries)) = pieces.pop() {
        let Err(e) = store::audit::insert_new(db, &piece.events).await else {
            delay = Duration::from_millis(50);
            continue;
        };
        let unavailable = db_unavailable(&e);
        if unavailable || tries + 1 < TRIES_BEFORE_SPLIT {
            tracing::error!(error = %e, pending = piece.events.len(), "audit batch not written; retrying");
            pieces.push((piece, if unavailable { 0 } else { tries + 1 }));
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        } else if let ([event], [mark]) = (&piece.events[..], &piece.marks[..]) {
            tracing::error!(
                error = %e,
                action = %event.action,
                entity_type = %event.entity_type,
                "an audit event was refused by the database; its answer is withheld"
            );
            mark.fail();
        } else {
            tracing::warn!(error = %e, events = piece.events.len(), "audit batch refused; splitting it");
            let second = piece.split_off_half();
            // The first half is written first: events keep their queue order.
            pieces.push((second, 0));
            pieces.push((piece, 0));
        }
    }
    queued.fetch_sub(settled, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;
    use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};

    use super::*;

    fn event(n: usize) -> audit_event::ActiveModel {
        audit_event::ActiveModel {
            occurred_at: Set(chrono::Utc::now()),
            consortium_id: Set(None),
            subject: Set("tester".into()),
            acting_authority_id: Set(None),
            action: Set("VIEW".into()),
            entity_type: Set("Child".into()),
            entity_id: Set(Some(n as i64)),
            owning_authority_id: Set(None),
            request_id: Set(format!("r{n}")),
            detail: Set("{}".into()),
            ..Default::default()
        }
    }

    /// On one thread the writer cannot run until the test awaits: the queue is over the
    /// bound, `admit` is pending, and it returns once the writer has brought it under.
    #[tokio::test(flavor = "current_thread")]
    async fn requests_wait_while_the_queue_is_over_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
        let db = store::connect(&url).await.unwrap();
        store::migrate(&db).await.unwrap();
        let sink = AuditSink::start(db.clone());
        let n = MAX_QUEUED + 2 * MAX_BATCH;
        let mark = AuditMark::default();
        for i in 0..n {
            sink.record(&mark, event(i));
        }
        assert_eq!(sink.depth(), n);
        assert!(sink.admit().now_or_never().is_none(), "admit waits");
        sink.admit().await;
        assert!(sink.depth() <= MAX_QUEUED);
        sink.flush().await;
        assert_eq!(sink.depth(), 0);
        let written = audit_event::Entity::find().count(&db).await.unwrap();
        assert_eq!(written, n as u64);
        assert!(
            sink.admit().now_or_never().is_some(),
            "an empty queue admits at once"
        );
    }

    async fn sqlite(dir: &tempfile::TempDir, migrated: bool) -> DatabaseConnection {
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
        let db = store::connect(&url).await.unwrap();
        if migrated {
            store::migrate(&db).await.unwrap();
        }
        db
    }

    /// `committed` returns once the request's events are in the database (no flush), and
    /// at once for a request that queued none.
    #[tokio::test]
    async fn an_answer_waits_until_its_events_are_committed() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir, true).await;
        let sink = AuditSink::start(db.clone());
        let quiet = AuditMark::default();
        assert!(
            sink.committed(&quiet, COMMIT_WITHIN)
                .now_or_never()
                .is_some_and(|r| r.is_ok()),
            "a request without events does not wait"
        );
        let mark = AuditMark::default();
        for i in 0..3 {
            sink.record(&mark, event(i));
        }
        sink.committed(&mark, COMMIT_WITHIN)
            .await
            .expect("committed");
        let written = audit_event::Entity::find().count(&db).await.unwrap();
        assert_eq!(written, 3);
    }

    /// Events the database refuses are never committed: the answer is withheld.
    #[tokio::test]
    async fn an_answer_whose_events_cannot_be_written_is_withheld() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir, false).await;
        let sink = AuditSink::start(db);
        let mark = AuditMark::default();
        sink.record(&mark, event(1));
        assert!(
            sink.committed(&mark, Duration::from_millis(300))
                .await
                .is_err()
        );
    }

    /// An event the database refuses fails its own request only: the other requests of
    /// its batch are answered and their events written.
    #[tokio::test]
    async fn an_event_the_database_refuses_fails_only_its_own_answer() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir, true).await;
        db.execute_unprepared(
            "CREATE TRIGGER refuse_bad BEFORE INSERT ON audit_event WHEN NEW.subject = 'bad' \
             BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
        .await
        .unwrap();
        let sink = AuditSink::start(db.clone());
        let good: Vec<AuditMark> = (0..4).map(|_| AuditMark::default()).collect();
        let bad = AuditMark::default();
        // Queued before the writer runs, so they share batches with the bad one.
        for (i, mark) in good.iter().enumerate() {
            sink.record(mark, event(i));
            if i == 1 {
                let mut refused = event(99);
                refused.subject = Set("bad".into());
                sink.record(&bad, refused);
            }
        }
        for mark in &good {
            sink.committed(mark, COMMIT_WITHIN)
                .await
                .expect("the other answers go out");
        }
        assert!(sink.committed(&bad, COMMIT_WITHIN).await.is_err());
        sink.flush().await;
        assert_eq!(sink.depth(), 0);
        let written = audit_event::Entity::find().count(&db).await.unwrap();
        assert_eq!(written, 4);
    }
}
