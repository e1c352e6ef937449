//! Dispatch of the command line: each command to the module that does it.
use anyhow::bail;

use crate::app::{Application, shutdown_signal};
use crate::auth::tokens::{self, Grant};
use crate::cli::{Cli, Command, SeedCommand};
use crate::config::Config;
use crate::{graphql, seed, store};

/// Runs the command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    init_tracing();
    match cli.command {
        Command::Schema => {
            print!("{}", graphql::sdl());
            Ok(())
        }
        Command::Token(args) => {
            let config = Config::from_args(&cli.global)?;
            if config.is_production() {
                bail!("the token command is refused when PERMANENCE_ENV=production");
            }
            println!("{}", tokens::mint(&config.jwt, Grant::from_args(&args)?)?);
            Ok(())
        }
        Command::Migrate => {
            let db = store::connect(&cli.global.database_url).await?;
            store::migrate(&db).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Seed(seed_command) => {
            let db = store::connect(&cli.global.database_url).await?;
            store::migrate(&db).await?;
            match seed_command {
                SeedCommand::Demo => {
                    if seed::demo::load(&db).await? {
                        tracing::info!("demo data loaded");
                    } else {
                        tracing::info!("demo consortium already present; nothing loaded");
                    }
                }
                SeedCommand::Synthetic(args) => {
                    let report = seed::synthetic::load(&db, &args).await?;
                    tracing::info!(?report, "synthetic data loaded");
                }
            }
            Ok(())
        }
        Command::Serve(args) => {
            let config = Config::from_args(&cli.global)?;
            // Checked before anything is migrated or loaded: the demo prints tokens signed
            // with the configured secret, which in production is the real one.
            if args.demo && config.is_production() {
                bail!(
                    "serve --demo loads demo data and prints tokens, and is refused when \
                     PERMANENCE_ENV=production"
                );
            }
            let app = Application::build(config.clone(), &args.bind).await?;
            if args.demo {
                let state = app.state();
                if seed::demo::load(&state.db).await? {
                    tracing::info!("demo data loaded");
                }
                state.directory.reload(&state.db).await?;
                seed::demo::print_tokens(&config.jwt, &args.bind, app.port())?;
            }
            tracing::info!(port = app.port(), "serving /graphql");
            app.run_until_stopped(shutdown_signal()).await
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_current_span(true)
        .try_init();
}
