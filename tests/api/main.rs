//! Integration tests: each drives a real server over HTTP, on SQLite and on PostgreSQL.

mod helpers;
mod process;
mod shared;

mod access;
mod asglb;
mod audit;
mod audit_storage;
mod board;
mod board_page;
mod cli;
mod cors;
mod funnel;
mod identity;
mod import;
mod journeys;
mod limits;
mod link_history;
mod links;
mod matching;
mod notifications;
mod observability;
mod outages;
mod outcomes;
mod pool_rules;
mod processes;
mod publication;
mod query_count;
mod replicas;
mod signin;
mod smoke;
mod trusted_documents;
mod validation;
