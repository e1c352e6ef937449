//! The audit batcher: reads are audited without waiting on the database.
//!
//! Events go into a channel; one task writes whatever has queued up (up to [`MAX_BATCH`])
//! in one insert, so an idle service writes an event at once and a busy one writes in
//! batches. A failed insert is retried (the batch is kept) until it succeeds. `flush`
//! waits until everything queued before it is in the database; graceful shutdown calls it.
//! Writes are audited in their own transaction instead (see the store), so a write and its
//! audit event are committed together.
//!
//! **Bounded.** Recording never waits, but a request does not start while more than
//! [`MAX_QUEUED`] events are waiting ([`AuditSink::admit`]): when reads outpace the
//! database, they slow down to its pace rather than the queue growing without end (in
//! memory, and in what a crash would lose).
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use entity::audit_event;
use sea_orm::{ActiveValue::Set, DatabaseConnection, TryIntoModel};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::store;

/// The most events written in one insert.
pub const MAX_BATCH: usize = 5_000;
/// The most events waiting before new requests wait for the writer.
pub const MAX_QUEUED: usize = 20_000;

enum Message {
    Event(Box<audit_event::Model>),
    Flush(oneshot::Sender<()>),
}

/// Where audit events are sent. Cheap to clone.
#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::UnboundedSender<Message>,
    queued: Arc<AtomicUsize>,
    /// Signalled after each batch is written.
    written: Arc<Notify>,
}

impl AuditSink {
    /// Starts the writer task on `db`.
    pub fn start(db: DatabaseConnection) -> AuditSink {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let written = Arc::new(Notify::new());
        tokio::spawn(write_loop(db, rx, queued.clone(), written.clone()));
        AuditSink {
            tx,
            queued,
            written,
        }
    }

    /// Queues an event (every column but `id` set).
    pub fn record(&self, mut event: audit_event::ActiveModel) {
        // The database numbers the event; 0 only completes the model.
        event.id = Set(0);
        let event = match event.try_into_model() {
            Ok(event) => event,
            Err(e) => {
                tracing::error!(error = %e, "an audit event with a column unset was not queued");
                return;
            }
        };
        self.queued.fetch_add(1, Ordering::Relaxed);
        if self.tx.send(Message::Event(Box::new(event))).is_err() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            tracing::error!("audit writer has stopped; an audit event could not be queued");
        }
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
    queued: Arc<AtomicUsize>,
    written: Arc<Notify>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut waiters = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Event(e) => batch.push(*e),
                Message::Flush(done) => waiters.push(done),
            }
            if batch.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        write_batch(&db, &mut batch, &queued).await;
        written.notify_waiters();
        for done in waiters.drain(..) {
            let _ = done.send(());
        }
    }
}

async fn write_batch(
    db: &DatabaseConnection,
    batch: &mut Vec<audit_event::Model>,
    queued: &AtomicUsize,
) {
    let mut delay = Duration::from_millis(50);
    while !batch.is_empty() {
        match store::audit::insert_new(db, batch).await {
            Ok(()) => {
                queued.fetch_sub(batch.len(), Ordering::Relaxed);
                batch.clear();
            }
            Err(e) => {
                tracing::error!(error = %e, pending = batch.len(), "audit batch not written; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;
    use sea_orm::{EntityTrait, PaginatorTrait};

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
        for i in 0..n {
            sink.record(event(i));
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
}
