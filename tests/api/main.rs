//! Integration tests: each drives a real server over HTTP, on SQLite and on PostgreSQL.

mod helpers;

mod access;
mod audit;
mod board;
mod cli;
mod funnel;
mod identity;
mod limits;
mod links;
mod matching;
mod observability;
mod replicas;
mod smoke;
mod validation;
