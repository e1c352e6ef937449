//! Permanence: the GraphQL backend of a regional adoption agency.
//!
//! Data flows one way: request → [`auth::Actor`] → [`service`] → [`auth::policy`] →
//! [`store`] → [`domain`] → response. The entry points ([`graphql`] resolvers, the CSV
//! exports, the daily sweep) call [`service`] functions, which own each use case: load,
//! check the policy, validate in the domain, write in one transaction with its audit,
//! publish. Which module may import which is a table in README "Architecture", held by a
//! test (`layering.rs`). See `DESIGN.md` for the domain and the access rules.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod export;
pub mod graphql;
pub mod import;
pub mod infra;
#[cfg(test)]
mod layering;
pub mod run;
pub mod seed;
pub mod service;
pub mod state;
pub mod store;

pub use run::run;
