//! The audit batcher: reads are audited without waiting on the database.
//!
//! Events go into an unbounded channel; one task writes whatever has queued up in a single
//! multi-row insert, so an idle service writes an event at once and a busy one writes in
//! batches. A failed insert is retried (the batch is kept) until it succeeds. `flush`
//! waits until everything queued before it is in the database; graceful shutdown calls it.
//! Writes are audited in their own transaction instead (see the store), so a write and its
//! audit event are committed together.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use entity::audit_event;
use sea_orm::DatabaseConnection;
use tokio::sync::{mpsc, oneshot};

use crate::store;

const MAX_BATCH: usize = 500;

enum Message {
    Event(Box<audit_event::ActiveModel>),
    Flush(oneshot::Sender<()>),
}

/// Where audit events are sent. Cheap to clone.
#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::UnboundedSender<Message>,
    queued: Arc<AtomicUsize>,
}

impl AuditSink {
    /// Starts the writer task on `db`.
    pub fn start(db: DatabaseConnection) -> AuditSink {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        tokio::spawn(write_loop(db, rx, queued.clone()));
        AuditSink { tx, queued }
    }

    /// Queues an event.
    pub fn record(&self, event: audit_event::ActiveModel) {
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
        for done in waiters.drain(..) {
            let _ = done.send(());
        }
    }
}

async fn write_batch(
    db: &DatabaseConnection,
    batch: &mut Vec<audit_event::ActiveModel>,
    queued: &AtomicUsize,
) {
    let mut delay = Duration::from_millis(50);
    while !batch.is_empty() {
        match store::audit::insert_many(db, batch.clone()).await {
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
