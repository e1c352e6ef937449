//! Infrastructure the service leans on: the audit batcher (and, with the production work,
//! cache, counters and pub/sub).

pub mod audit;
