//! Session revocations as every replica knows them (DESIGN §3: "tokens issued before that
//! instant are refused on every replica").
//!
//! The database holds them durably; each replica keeps a copy in memory so that checking a
//! token never reads the database. The copy is loaded at start-up, and kept current three
//! ways: the replica that records a revocation notes it at once; it announces it on the
//! shared pub/sub topic [`TOPIC`], which reaches the other replicas within milliseconds;
//! and every replica re-reads recent revocations from the database every [`POLL`], which
//! covers messages lost while Redis was down or a subscription was being re-established.
//! During a Redis outage the known revocations stay enforced, and new ones reach other
//! replicas through the database within a second or so.
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbErr};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::shared::SharedStore;
use crate::store;

/// The pub/sub topic revocations are announced on.
pub const TOPIC: &str = "revocations";
/// How often recent revocations are re-read from the database.
pub const POLL: Duration = Duration::from_secs(1);
/// How far before the newest known revocation each poll looks again, for revocations
/// committed late or stamped by a replica whose clock is a little behind.
const LATE_COMMITS: chrono::Duration = chrono::Duration::seconds(60);
/// Every this many polls, everything is read again.
const FULL_RELOAD_EVERY: u32 = 300;

/// One revocation: tokens of `subject` in the consortium with `iat <= revoked_at` (Unix
/// seconds) are refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Revocation {
    pub consortium_id: i64,
    pub subject: String,
    pub revoked_at: i64,
}

impl From<&entity::session_revocation::Model> for Revocation {
    fn from(m: &entity::session_revocation::Model) -> Self {
        Revocation {
            consortium_id: m.consortium_id,
            subject: m.subject.clone(),
            revoked_at: m.revoked_at.timestamp(),
        }
    }
}

/// The revocations this replica knows: per consortium, per subject, the latest instant.
#[derive(Debug, Default)]
pub struct Revocations {
    known: RwLock<HashMap<i64, HashMap<String, i64>>>,
}

impl Revocations {
    /// Whether a token of `subject` in the consortium issued at `issued_at` (Unix seconds)
    /// has been revoked: issued at or before the subject's latest revocation.
    pub fn is_revoked(&self, consortium_id: i64, subject: &str, issued_at: i64) -> bool {
        let known = self.known.read().unwrap_or_else(PoisonError::into_inner);
        known
            .get(&consortium_id)
            .and_then(|subjects| subjects.get(subject))
            .is_some_and(|revoked_at| issued_at <= *revoked_at)
    }

    /// Notes a revocation (an earlier one than already known changes nothing).
    pub fn note(&self, r: &Revocation) {
        let mut known = self.known.write().unwrap_or_else(PoisonError::into_inner);
        let at = known
            .entry(r.consortium_id)
            .or_default()
            .entry(r.subject.clone())
            .or_insert(r.revoked_at);
        *at = (*at).max(r.revoked_at);
    }

    /// Notes database rows; the latest instant among them.
    fn merge(&self, rows: &[entity::session_revocation::Model]) -> Option<DateTime<Utc>> {
        for row in rows {
            self.note(&Revocation::from(row));
        }
        rows.iter().map(|r| r.revoked_at).max()
    }

    /// How many subjects are revoked.
    pub fn len(&self) -> usize {
        let known = self.known.read().unwrap_or_else(PoisonError::into_inner);
        known.values().map(HashMap::len).sum()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Loads every revocation from the database and keeps the copy current (see the module
/// documentation) for as long as it is alive.
pub async fn start(
    db: DatabaseConnection,
    shared: &SharedStore,
) -> Result<Arc<Revocations>, DbErr> {
    // Subscribe before loading, so that nothing announced in between is missed.
    let messages = shared.subscribe(TOPIC);
    let revocations = Arc::new(Revocations::default());
    let rows = store::revocations::since(&db, None).await?;
    let watermark = revocations.merge(&rows);
    tokio::spawn(keep_current(
        Arc::downgrade(&revocations),
        db,
        messages,
        watermark,
    ));
    Ok(revocations)
}

/// Tells every replica about a revocation (already committed and noted here).
pub async fn announce(shared: &SharedStore, revocation: &Revocation) {
    match serde_json::to_string(revocation) {
        Ok(payload) => shared.publish(TOPIC, &payload).await,
        Err(e) => tracing::error!(error = %e, "could not encode a revocation announcement"),
    }
}

async fn keep_current(
    revocations: Weak<Revocations>,
    db: DatabaseConnection,
    mut messages: broadcast::Receiver<String>,
    mut watermark: Option<DateTime<Utc>>,
) {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut polls: u32 = 0;
    let mut failing = false;
    loop {
        tokio::select! {
            message = messages.recv() => {
                let Some(known) = revocations.upgrade() else { return };
                match message {
                    Ok(text) => match serde_json::from_str::<Revocation>(&text) {
                        Ok(r) => known.note(&r),
                        Err(e) => tracing::warn!(error = %e, "ignored a malformed revocation announcement"),
                    },
                    // Missed announcements are in the database; the next poll finds them.
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
            _ = tick.tick() => {
                let Some(known) = revocations.upgrade() else { return };
                polls = polls.wrapping_add(1);
                let since = if polls.is_multiple_of(FULL_RELOAD_EVERY) {
                    None
                } else {
                    watermark.map(|w| w - LATE_COMMITS)
                };
                match store::revocations::since(&db, since).await {
                    Ok(rows) => {
                        if failing {
                            tracing::info!("session revocations are read from the database again");
                            failing = false;
                        }
                        watermark = watermark.max(known.merge(&rows));
                    }
                    Err(e) => {
                        if !failing {
                            tracing::warn!(error = %e, "could not re-read session revocations; the known ones stay enforced");
                            failing = true;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revocation(consortium_id: i64, subject: &str, revoked_at: i64) -> Revocation {
        Revocation {
            consortium_id,
            subject: subject.into(),
            revoked_at,
        }
    }

    #[test]
    fn tokens_issued_at_or_before_the_instant_are_revoked() {
        let r = Revocations::default();
        assert!(!r.is_revoked(1, "alice", 100));
        r.note(&revocation(1, "alice", 100));
        assert!(r.is_revoked(1, "alice", 99));
        assert!(r.is_revoked(1, "alice", 100), "the same second counts");
        assert!(!r.is_revoked(1, "alice", 101), "a later sign-in is fine");
        assert!(
            !r.is_revoked(2, "alice", 50),
            "other consortia are untouched"
        );
        assert!(!r.is_revoked(1, "bob", 50));
    }

    #[test]
    fn the_latest_revocation_wins() {
        let r = Revocations::default();
        r.note(&revocation(1, "alice", 200));
        r.note(&revocation(1, "alice", 100));
        assert!(
            r.is_revoked(1, "alice", 150),
            "an older announcement arriving late"
        );
        r.note(&revocation(1, "alice", 300));
        assert!(r.is_revoked(1, "alice", 250));
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn announcements_round_trip() {
        let r = revocation(3, "u-1", 1_700_000_000);
        let text = serde_json::to_string(&r).expect("encode");
        assert!(text.contains("\"revokedAt\":1700000000"), "{text}");
        assert_eq!(
            serde_json::from_str::<Revocation>(&text).expect("decode"),
            r
        );
    }
}
