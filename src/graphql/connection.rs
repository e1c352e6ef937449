//! Relay connections with position cursors, `totalCount`, and `first` capped at 100.
//!
//! A cursor holds the item's position in the list and, for lists ordered by id, the
//! item's id: the next page then starts after that id instead of skipping as many rows
//! (see `store::lists::page_of`).
use async_graphql::connection::{Connection, CursorType, Edge, OpaqueCursor};
use async_graphql::{Context, SimpleObject};
use serde::{Deserialize, Serialize};

use super::context::ContextExt;
use crate::error::{AppError, AppResult};
use crate::service::Page;
use crate::service::records::{self, Listed, Reach, Record};

/// Page size when `first` is not given.
pub const DEFAULT_FIRST: i32 = 20;
/// The largest page.
pub const MAX_FIRST: i32 = 100;
/// The furthest a cursor may point (far beyond any register, well inside `i64`).
const MAX_OFFSET: u64 = 1 << 40;

/// Extra fields of every connection.
#[derive(SimpleObject)]
pub struct ConnectionFields {
    /// How many items match, over all pages.
    pub total_count: u64,
}

/// Where a cursor points: the position of its item, and its id where the list is
/// ordered by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position(u64, Option<i64>);

/// A connection of `T` with position cursors.
pub type Conn<T> = Connection<OpaqueCursor<Position>, T, ConnectionFields>;

/// The page asked for by `first` and `after`.
pub fn page(first: Option<i32>, after: Option<String>) -> AppResult<Page> {
    let first = first.unwrap_or(DEFAULT_FIRST);
    if first < 0 {
        return Err(AppError::bad_input("first", "first cannot be negative"));
    }
    let (offset, after_id) = match after {
        Some(cursor) => {
            let OpaqueCursor(Position(position, id)) =
                OpaqueCursor::<Position>::decode_cursor(&cursor)
                    .map_err(|_| AppError::bad_input("after", "not a valid cursor"))?;
            let offset = position
                .checked_add(1)
                .filter(|offset| *offset <= MAX_OFFSET)
                .ok_or_else(|| AppError::bad_input("after", "not a valid cursor"))?;
            (offset, id)
        }
        None => (0, None),
    };
    Ok(Page {
        offset,
        limit: first.min(MAX_FIRST) as u64,
        after_id,
    })
}

/// Builds the connection for `items` found at `page`, of `total` in all.
pub fn connection<T: async_graphql::OutputType>(items: Vec<T>, page: Page, total: u64) -> Conn<T> {
    let items = items.into_iter().map(|item| (None, item)).collect();
    build(items, page, total)
}

/// Builds the connection for `items` found at `page`, of `total` in all, each with the id
/// its cursor carries (for a list ordered by id, whose next page seeks past it).
pub fn connection_by_id<T: async_graphql::OutputType>(
    items: Vec<(i64, T)>,
    page: Page,
    total: u64,
) -> Conn<T> {
    let items = items
        .into_iter()
        .map(|(id, item)| (Some(id), item))
        .collect();
    build(items, page, total)
}

/// One page of register `R` (`search` of the register, as [`records::search`] reads it),
/// each record shown as `show` makes it. Each cursor carries its record's id, so a list
/// ordered by id reads its next page by seeking past it.
pub async fn register_page<R: Record, T: async_graphql::OutputType>(
    ctx: &Context<'_>,
    criteria: R::Criteria,
    order: R::Order,
    first: Option<i32>,
    after: Option<String>,
    show: impl Fn(R::Model) -> T,
) -> AppResult<Conn<T>> {
    let Listed { rows, page, total } = records::search::<R>(
        ctx.service(),
        Reach::Register,
        criteria,
        order,
        self::page(first, after),
    )
    .await?;
    let items = rows
        .into_iter()
        .map(|r| (Some(R::id(&r)), show(r)))
        .collect();
    Ok(build(items, page, total))
}

/// The connection of `items` (each with the id its cursor carries, if any) found at
/// `page`, of `total` in all.
fn build<T: async_graphql::OutputType>(
    items: Vec<(Option<i64>, T)>,
    page: Page,
    total: u64,
) -> Conn<T> {
    let end = page.offset + items.len() as u64;
    let mut conn = Connection::with_additional_fields(
        page.offset > 0,
        end < total,
        ConnectionFields { total_count: total },
    );
    conn.edges
        .extend(items.into_iter().enumerate().map(|(i, (id, item))| {
            let position = Position(page.offset + i as u64, id);
            Edge::new(OpaqueCursor(position), item)
        }));
    conn
}
