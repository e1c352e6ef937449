//! Publications: a consortium's tables at a quarter end, their withheld cells decided once
//! (one row per consortium and quarter end; the first made is kept, so every reader is
//! served the same decision).
use crate::ddl;

/// The migration: [`UP`] and [`DOWN`].
pub const MIGRATION: ddl::Script = ddl::Script::new("m20261206_000006_publication", UP, DOWN);

const UP: &str = r#"
CREATE TABLE publication (
    id {pk},
    consortium_id BIGINT NOT NULL REFERENCES consortium (id),
    quarter_end {date} NOT NULL,
    made_at {ts} NOT NULL,
    body TEXT NOT NULL
);
CREATE UNIQUE INDEX publication_quarter ON publication (consortium_id, quarter_end)
"#;

const DOWN: &str = r#"
DROP TABLE publication;
"#;
