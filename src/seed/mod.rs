//! Demo and synthetic data. Everything here is invented: no real person is described.

pub mod bulk;
pub mod children;
pub mod demo;
pub mod generator;
pub mod households;
pub mod register;
pub mod ssda903;
pub mod synthetic;
pub mod vocabulary;
