//! Demo and synthetic data. Everything here is invented: no real person is described.

pub mod demo;
pub mod synthetic;
