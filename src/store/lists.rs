//! What the register lists (`children`, `households` and the pool's profiles) share: a
//! page read by seeking past the cursor's id where the order allows it, and the total
//! count, counted once per data version rather than once per page; and the `…Contains`
//! filters' pattern.
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use sea_orm::sea_query::{Expr, Func, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Select,
};

use super::Page;

/// A `…Contains` filter: `column`, lower-cased, holds `text` in any case.
pub fn contains(column: impl ColumnTrait, text: &str) -> SimpleExpr {
    Expr::expr(Func::lower(Expr::col(column))).like(contains_pattern(text))
}

/// A case-insensitive "contains" pattern for `LIKE` over lower-cased text: `%`, `_` and
/// the escape character itself are escaped, so they match only themselves.
fn contains_pattern(text: &str) -> sea_orm::sea_query::LikeExpr {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    sea_orm::sea_query::LikeExpr::new(pattern).escape('\\')
}

/// How many counts are kept before the cache starts afresh.
const MAX_COUNTS: usize = 4096;

/// Total counts of list queries, each filed under the consortium's data version it was
/// counted at (read before counting, so a count is never older than its version). Every
/// write to a consortium bumps its version, so a count is reused only while nothing in the
/// consortium has changed: paging through a register of 20,000 children counts it once.
#[derive(Default)]
pub struct CountCache {
    entries: Mutex<HashMap<String, (i64, u64)>>,
}

impl CountCache {
    /// The number of rows of `query`, a list of consortium `consortium_id`; `key` names
    /// the query (its scope and filters) completely.
    pub async fn count<E>(
        &self,
        db: &impl ConnectionTrait,
        consortium_id: i64,
        key: String,
        query: Select<E>,
    ) -> Result<u64, DbErr>
    where
        E: EntityTrait,
        E::Model: Sync,
    {
        let version = super::data_version(db, consortium_id).await?;
        if let Some(version) = version {
            let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((at, n)) = entries.get(&key)
                && *at == version
            {
                return Ok(*n);
            }
        }
        let n = query.count(db).await?;
        if let Some(version) = version {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            if entries.len() >= MAX_COUNTS {
                entries.clear();
            }
            entries.insert(key, (version, n));
        }
        Ok(n)
    }
}

/// The rows of `page` of `query` (ordered by the caller, then by `id`). When the list is
/// ordered by `id` alone (`by_id`) and the cursor carries the id it ends at, the page
/// starts after that id through the index instead of skipping `offset` rows.
pub async fn page_of<E, C>(
    db: &impl ConnectionTrait,
    query: Select<E>,
    id: C,
    by_id: bool,
    page: Page,
) -> Result<Vec<E::Model>, DbErr>
where
    E: EntityTrait,
    C: ColumnTrait,
{
    let query = query.order_by_asc(id);
    let query = match (by_id, page.after_id) {
        (true, Some(after)) => query.filter(id.gt(after)),
        _ => query.offset(page.offset),
    };
    query.limit(page.limit).all(db).await
}
