//! Schema migrations of Permanence, run at start-up and by `permanence migrate`.
//!
//! Tables are written as SQL with a handful of type placeholders so that one text serves
//! SQLite and PostgreSQL; partial unique indexes (which both support) carry invariants.

pub use sea_orm_migration::prelude::*;

mod ddl;
mod m20261123_000001_foundation;
mod m20261123_000002_links;
mod m20261123_000003_revocations;
mod m20261123_000004_data_version;
mod m20261123_000005_household_journey;
mod m20261206_000006_publication;
mod m20261207_000007_import_reference;
mod m20261207_000008_audit_partitions;

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_foundation::MIGRATION),
            Box::new(m20261123_000002_links::MIGRATION),
            Box::new(m20261123_000003_revocations::MIGRATION),
            Box::new(m20261123_000004_data_version::Migration),
            Box::new(m20261123_000005_household_journey::Migration),
            Box::new(m20261206_000006_publication::MIGRATION),
            Box::new(m20261207_000007_import_reference::MIGRATION),
            Box::new(m20261207_000008_audit_partitions::Migration),
        ]
    }
}
