//! `permanence`: parse the command line and dispatch.
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    permanence::run(permanence::cli::Cli::parse()).await
}
