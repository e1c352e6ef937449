//! Relay connections with position cursors, `totalCount`, and `first` capped at 100.
//!
//! A cursor holds the item's position in the list and, for lists ordered by id, the
//! item's id: the next page then starts after that id instead of skipping as many rows
//! (see `store::lists::page_of`).
use async_graphql::SimpleObject;
use async_graphql::connection::{Connection, CursorType, Edge, OpaqueCursor};
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};
use crate::service::Page;

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
    build(items, page, total, |_| None)
}

/// [`connection`] for a list ordered by id: each cursor carries its item's id (`id_of`).
pub fn connection_by_id<T: async_graphql::OutputType>(
    items: Vec<T>,
    page: Page,
    total: u64,
    id_of: impl Fn(&T) -> i64,
) -> Conn<T> {
    build(items, page, total, |item| Some(id_of(item)))
}

fn build<T: async_graphql::OutputType>(
    items: Vec<T>,
    page: Page,
    total: u64,
    id_of: impl Fn(&T) -> Option<i64>,
) -> Conn<T> {
    let end = page.offset + items.len() as u64;
    let mut conn = Connection::with_additional_fields(
        page.offset > 0,
        end < total,
        ConnectionFields { total_count: total },
    );
    conn.edges
        .extend(items.into_iter().enumerate().map(|(i, item)| {
            let position = Position(page.offset + i as u64, id_of(&item));
            Edge::new(OpaqueCursor(position), item)
        }));
    conn
}
