//! Permanence: the GraphQL backend of a regional adoption agency.
//!
//! Data flows one way: request → [`auth::Actor`] → [`auth::policy`] → [`store`] →
//! [`domain`] → response. See `DESIGN.md` for the domain and the access rules.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod export;
pub mod graphql;
pub mod infra;
#[cfg(test)]
mod layering;
pub mod run;
pub mod seed;
pub mod service;
pub mod state;
pub mod store;

pub use run::run;
