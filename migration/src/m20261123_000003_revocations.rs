//! Session revocations: the latest revocation instant per subject and consortium, kept in
//! the database so that revocations survive restarts and a Redis outage. Replicas hold a
//! copy in memory (loaded at start, then kept up to date), so a request never reads it.
use crate::ddl;

/// The migration: [`UP`] and [`DOWN`].
pub const MIGRATION: ddl::Script = ddl::Script::new("m20261123_000003_revocations", UP, DOWN);

const UP: &str = r#"
CREATE TABLE session_revocation (
    id {pk},
    consortium_id BIGINT NOT NULL REFERENCES consortium (id),
    subject TEXT NOT NULL,
    revoked_at {ts} NOT NULL,
    revoked_by TEXT NOT NULL
);
CREATE UNIQUE INDEX session_revocation_subject ON session_revocation (consortium_id, subject);
CREATE INDEX session_revocation_recent ON session_revocation (revoked_at)
"#;

const DOWN: &str = r#"
DROP TABLE session_revocation;
"#;
