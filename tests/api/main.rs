//! Integration tests: each drives a real server over HTTP, on SQLite and on PostgreSQL.

mod helpers;

mod access;
mod audit;
mod cli;
mod identity;
mod smoke;
mod validation;
