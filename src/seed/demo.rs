//! The demo consortium.
use sea_orm::DatabaseConnection;

/// Loads the demo data set unless consortium `demo` exists; says whether it loaded.
pub async fn load(db: &DatabaseConnection) -> anyhow::Result<bool> {
    let _ = db;
    anyhow::bail!("demo seed not yet written")
}
