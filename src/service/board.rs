//! The board's views: tracking alerts and the figures a board paper carries.
