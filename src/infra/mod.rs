//! Infrastructure the service leans on: the audit batcher, metrics, and the state replicas
//! share (cache, counters, rate-limit buckets and pub/sub, in Redis or in-process) with the
//! session revocations kept current through it.

pub mod audit;
pub mod bucket;
pub mod metrics;
pub mod revocations;
pub mod shared;
