//! A per-consortium data version: every write transaction to a consortium's registers
//! (children, sibling groups, households, links, match weights) bumps it first, so that a
//! replica holding an in-memory copy of the matching pool can tell — with one primary-key
//! read — whether the copy is still current, whichever replica made the write.
use sea_orm_migration::prelude::*;

use crate::ddl;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000004_data_version"
    }
}

const UP: &str = r#"
ALTER TABLE consortium ADD COLUMN data_version BIGINT NOT NULL DEFAULT 0
"#;

const DOWN: &str = r#"
ALTER TABLE consortium DROP COLUMN data_version
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl::run(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl::run(manager, DOWN).await
    }
}
