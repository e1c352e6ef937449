//! Integration tests: each drives a real server over HTTP, on SQLite and on PostgreSQL.

mod helpers;

mod access;
mod audit;
mod board;
mod cli;
mod funnel;
mod identity;
mod links;
mod matching;
mod smoke;
mod validation;
