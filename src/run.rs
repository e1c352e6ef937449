//! Dispatch of the command line: each command to the module that does it.
use anyhow::bail;

use crate::app::{Application, shutdown_signal};
use crate::auth::tokens::{self, Grant};
use crate::cli::{
    AuditLogCommand, AuditPublicationArgs, Cli, Command, ImportCommand, SeedCommand,
    TrustedDocumentsCommand,
};
use crate::config::Config;
use crate::domain::publication;
use crate::{graphql, seed, service, store};

mod import;

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
            migrated(&cli.global.database_url).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Seed(SeedCommand::Ssda903(args)) => write_ssda903(&args),
        Command::Seed(SeedCommand::AdopterRegister(args)) => {
            let (text, events) =
                seed::register::generate_register(args.households, args.events, args.seed);
            std::fs::write(&args.out, text)?;
            println!(
                "a register of {} households and {events} events written to {}",
                args.households,
                args.out.display()
            );
            Ok(())
        }
        Command::Seed(SeedCommand::Demo) => {
            let db = migrated(&cli.global.database_url).await?;
            if seed::demo::load(&db).await? {
                tracing::info!("demo data loaded");
            } else {
                tracing::info!("demo consortium already present; nothing loaded");
            }
            Ok(())
        }
        Command::Seed(SeedCommand::Synthetic(args)) => {
            let db = migrated(&cli.global.database_url).await?;
            let report = seed::synthetic::load(&db, &args).await?;
            tracing::info!(?report, "synthetic data loaded");
            Ok(())
        }
        Command::AuditPublication(args) => audit_publication(&cli.global.database_url, &args).await,
        Command::Publish(args) => publish(&cli.global.database_url, &args).await,
        Command::Import(ImportCommand::Ssda903(args)) => {
            import::run(&cli.global, &args, import::Kind::Ssda903).await
        }
        Command::Import(ImportCommand::Adopters(args)) => {
            import::run(&cli.global, &args, import::Kind::Adopters).await
        }
        Command::Import(ImportCommand::Links(args)) => {
            import::run(&cli.global, &args, import::Kind::Links).await
        }
        Command::AuditLog(command) => audit_log(&cli.global, command).await,
        Command::TrustedDocuments(TrustedDocumentsCommand::Check { file }) => {
            check_trusted_documents(&file, cli.global.limits.limits()).await
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
            if args.publish {
                let state = app.state();
                service::publication::start_publishing(
                    std::sync::Arc::downgrade(&state),
                    state.stopping.subscribe(),
                );
            }
            tracing::info!(port = app.port(), "serving /graphql");
            app.run_until_stopped(shutdown_signal()).await
        }
    }
}

/// `permanence audit-log`: lists the audit log's partitions, or looks after them once.
async fn audit_log(
    global: &crate::cli::GlobalArgs,
    command: AuditLogCommand,
) -> anyhow::Result<()> {
    let retain = crate::config::audit_retention(global)?;
    let db = migrated(&global.database_url).await?;
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        println!("the audit log is one table on SQLite; it has no partitions");
        return Ok(());
    }
    if let AuditLogCommand::Maintain = command {
        let today = chrono::Utc::now().date_naive();
        let done = service::audit_log::maintain(&db, today, retain).await?;
        for change in done.lines() {
            println!("{change}");
        }
    }
    println!(
        "{:<28} {:<10} {:>14}",
        "partition", "state", "rows (estimate)"
    );
    for p in store::audit::partitions(&db).await? {
        let state = if p.attached { "attached" } else { "detached" };
        println!("{:<28} {:<10} {:>14}", p.name, state, p.estimated_rows);
    }
    Ok(())
}

/// The consortium a publication command names, its authorities and the quarter end.
async fn publication_target(
    database_url: &str,
    args: &AuditPublicationArgs,
) -> anyhow::Result<(
    sea_orm::DatabaseConnection,
    i64,
    String,
    Vec<i64>,
    chrono::NaiveDate,
)> {
    let db = migrated(database_url).await?;
    let directory = store::tenancy::Directory::load(&db).await?;
    let Some(consortium) = directory.consortium(&args.consortium) else {
        bail!("no consortium with the code {:?}", args.consortium);
    };
    let quarter_end = args
        .quarter_end
        .unwrap_or_else(|| publication::latest_quarter_end(chrono::Utc::now().date_naive()));
    let authorities: Vec<i64> = consortium.authorities.iter().map(|a| a.id).collect();
    let (id, code) = (consortium.id, consortium.code.clone());
    Ok((db, id, code, authorities, quarter_end))
}

/// `permanence audit-publication`: audits the kept publication at the quarter end, or
/// builds one (not kept) when none is; prints what was withheld and the audit's verdict,
/// and fails when the audit does.
async fn audit_publication(database_url: &str, args: &AuditPublicationArgs) -> anyhow::Result<()> {
    let (db, consortium_id, code, authorities, quarter_end) =
        publication_target(database_url, args).await?;
    let (published, origin) = match service::publication::kept(&db, consortium_id, quarter_end)
        .await
        .map_err(|e| anyhow::anyhow!(e.client_message()))?
    {
        Some(p) => (p, "kept"),
        None => (
            service::publication::build(&db, consortium_id, &authorities, quarter_end)
                .await
                .map_err(|e| anyhow::anyhow!(e.client_message()))?,
            "built, not kept",
        ),
    };
    let (published, audit) = service::publication::audited(&db, consortium_id, published)
        .await
        .map_err(|e| anyhow::anyhow!(e.client_message()))?;
    println!("publication of {code} at {quarter_end} ({origin})");
    report_audit(&published, &audit, args.intervals)
}

/// `permanence publish`: makes and keeps the publication at the quarter end unless one is
/// kept; refuses to keep one whose audit fails.
async fn publish(database_url: &str, args: &AuditPublicationArgs) -> anyhow::Result<()> {
    use service::publication::Made;
    let (db, consortium_id, code, authorities, quarter_end) =
        publication_target(database_url, args).await?;
    if quarter_end >= chrono::Utc::now().date_naive() {
        bail!(
            "the quarter ending {quarter_end} has not ended yet: only completed quarters are published"
        );
    }
    let made = service::publication::publish(&db, consortium_id, &authorities, quarter_end)
        .await
        .map_err(|e| anyhow::anyhow!(e.client_message()))?;
    match made {
        Made::Kept(p, audit) => {
            println!("publication of {code} at {quarter_end} made and kept");
            report_audit(&p, &audit, args.intervals)?;
        }
        Made::Already(p) => {
            println!("publication of {code} at {quarter_end} was kept already; it stands");
            print_summary(&p);
        }
        Made::Refused(p, audit) => {
            println!("publication of {code} at {quarter_end} made, not kept");
            report_audit(&p, &audit, args.intervals)?;
        }
    }
    Ok(())
}

/// The database at `url`, migrated.
async fn migrated(url: &str) -> anyhow::Result<sea_orm::DatabaseConnection> {
    let db = store::connect(url).await?;
    store::migrate(&db).await?;
    Ok(db)
}

/// `permanence seed ssda903`: writes the generated returns to a directory.
fn write_ssda903(args: &crate::cli::Ssda903Args) -> anyhow::Result<()> {
    if args.first_year > args.last_year {
        bail!("--first-year must not be after --last-year");
    }
    let returns = seed::ssda903::generate(&seed::ssda903::Ssda903Spec {
        children: args.children,
        first_year: args.first_year,
        last_year: args.last_year,
        seed: args.seed,
    });
    std::fs::create_dir_all(&args.out)?;
    for file in &returns.files {
        std::fs::write(args.out.join(&file.name), &file.text)?;
    }
    println!(
        "{} files of {} children written to {}",
        returns.files.len(),
        returns.journeys.len(),
        args.out.display()
    );
    Ok(())
}

/// `permanence trusted-documents check FILE`: reads the manifest as `serve` does, checks
/// every document against the schema and the limits, and prints the count; fails listing
/// the documents refused.
async fn check_trusted_documents(
    file: &std::path::Path,
    limits: graphql::limits::QueryLimits,
) -> anyhow::Result<()> {
    let documents = graphql::persisted::TrustedDocuments::load(file, &limits)?;
    graphql::persisted::ensure_valid(&documents, limits).await?;
    println!(
        "{} trusted documents in {}: each parses, is within the limits and is valid against the schema",
        documents.len(),
        file.display()
    );
    Ok(())
}

fn print_summary(p: &crate::domain::published::Published) {
    let s = p.summary();
    println!(
        "{} cells ({} published, {} implied), {} relations, {} readers",
        s.cells,
        s.published,
        s.cells - s.published,
        s.relations,
        s.readers
    );
    println!(
        "withheld: {} ({} small figures, {} to protect them)",
        s.withheld,
        s.primary,
        s.withheld - s.primary
    );
}

/// Prints the summary and the audit; an error when the audit fails.
fn report_audit(
    p: &crate::domain::published::Published,
    audit: &crate::domain::suppression::Audit,
    intervals: bool,
) -> anyhow::Result<()> {
    print_summary(p);
    let failures: Vec<_> = audit.failures().collect();
    println!(
        "audit: {} intervals of withheld or implied small figures checked, {} too narrow, {} contradictions",
        audit.intervals.len(),
        failures.len(),
        audit.contradictions.len()
    );
    if intervals {
        for interval in &audit.intervals {
            println!("{}", serde_json::to_string(interval)?);
        }
    }
    for f in &failures {
        println!(
            "too narrow: {} (reader {}): [{}, {}], needs {}",
            f.key,
            f.reader
                .map_or("outsider".to_owned(), |a| format!("authority {a}")),
            f.lower,
            f.upper,
            f.required
        );
    }
    if !audit.passes() {
        bail!("the audit failed");
    }
    println!("audit passed");
    Ok(())
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
