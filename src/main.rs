//! `permanence`: parse the command line and dispatch.
use clap::Parser;

/// jemalloc rather than the system allocator: a GraphQL response allocates per field, and
/// with glibc's allocator that was over a third of the server's CPU under load.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    permanence::run(permanence::cli::Cli::parse()).await
}
