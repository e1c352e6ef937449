//! Relay connections with offset cursors, `totalCount`, and `first` capped at 100.
use async_graphql::SimpleObject;
use async_graphql::connection::{Connection, CursorType, Edge, OpaqueCursor};

use crate::error::{AppError, AppResult};
use crate::store::Page;

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

/// A connection of `T` with offset cursors.
pub type Conn<T> = Connection<OpaqueCursor<u64>, T, ConnectionFields>;

/// The page asked for by `first` and `after`.
pub fn page(first: Option<i32>, after: Option<String>) -> AppResult<Page> {
    let first = first.unwrap_or(DEFAULT_FIRST);
    if first < 0 {
        return Err(AppError::bad_input("first", "first cannot be negative"));
    }
    let offset = match after {
        Some(cursor) => {
            let OpaqueCursor(position) = OpaqueCursor::<u64>::decode_cursor(&cursor)
                .map_err(|_| AppError::bad_input("after", "not a valid cursor"))?;
            position
                .checked_add(1)
                .filter(|offset| *offset <= MAX_OFFSET)
                .ok_or_else(|| AppError::bad_input("after", "not a valid cursor"))?
        }
        None => 0,
    };
    Ok(Page {
        offset,
        limit: first.min(MAX_FIRST) as u64,
    })
}

/// Builds the connection for `items` found at `page`, of `total` in all.
pub fn connection<T: async_graphql::OutputType>(items: Vec<T>, page: Page, total: u64) -> Conn<T> {
    let end = page.offset + items.len() as u64;
    let mut conn = Connection::with_additional_fields(
        page.offset > 0,
        end < total,
        ConnectionFields { total_count: total },
    );
    conn.edges.extend(
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| Edge::new(OpaqueCursor(page.offset + i as u64), item)),
    );
    conn
}
