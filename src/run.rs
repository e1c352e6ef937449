//! Dispatch of the command line: one function per command.
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::Utc;

use crate::app::{Application, shutdown_signal};
use crate::auth::jwt::{Claims, MembershipClaim};
use crate::cli::{Cli, Command, SeedCommand, TokenArgs};
use crate::config::Config;
use crate::{bench, graphql, seed, store};

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
            println!("{}", mint(&config, &args)?);
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
        Command::Bench(args) => {
            let config = Config::from_args(&cli.global)?;
            if config.is_production() {
                bail!(
                    "the bench command mints tokens and is refused when PERMANENCE_ENV=production"
                );
            }
            bench::run(&config, &args).await
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
                print_demo_tokens(&config, &args.bind, app.port())?;
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

/// Parses `8h`, `30m`, `2d`, `90s`.
pub fn parse_ttl(ttl: &str) -> anyhow::Result<Duration> {
    let ttl = ttl.trim();
    let (number, unit) = ttl.split_at(ttl.find(|c: char| !c.is_ascii_digit()).unwrap_or(ttl.len()));
    let n: u64 = number.parse().with_context(|| format!("bad --ttl {ttl}"))?;
    let seconds = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => bail!("bad --ttl {ttl}: use s, m, h or d"),
    };
    Ok(Duration::from_secs(seconds))
}

/// Mints a token for `args` with the configured secret.
pub fn mint(config: &Config, args: &TokenArgs) -> anyhow::Result<String> {
    let mut memberships: Vec<MembershipClaim> = Vec::new();
    if let Some(authority) = &args.authority {
        memberships.push(MembershipClaim {
            authority: authority.clone(),
            roles: args.roles.clone(),
        });
    } else if !args.roles.is_empty() {
        bail!("--role needs --authority (or use --membership CODE:ROLE,ROLE)");
    }
    for m in &args.memberships {
        let (code, roles) = m
            .split_once(':')
            .with_context(|| format!("bad --membership {m}: use CODE:ROLE,ROLE"))?;
        memberships.push(MembershipClaim {
            authority: code.to_owned(),
            roles: roles
                .split(',')
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty())
                .collect(),
        });
    }
    let now = Utc::now().timestamp();
    let claims = Claims {
        sub: args.sub.clone(),
        name: args.name.clone(),
        iss: config.jwt.issuer().to_owned(),
        aud: config.jwt.audience().to_owned(),
        iat: now,
        exp: now + parse_ttl(&args.ttl)?.as_secs() as i64,
        jti: Some(uuid::Uuid::new_v4().to_string()),
        nbf: None,
        consortium: args.consortium.clone(),
        memberships,
        consortium_roles: args.consortium_roles.clone(),
    };
    config.jwt.mint(&claims)
}

/// A demo person: subject, display name, authority, roles there, consortium roles.
type DemoPerson = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static [&'static str],
    &'static [&'static str],
);

fn print_demo_tokens(config: &Config, bind: &str, port: u16) -> anyhow::Result<()> {
    let host = bind.rsplit_once(':').map(|(h, _)| h).unwrap_or("127.0.0.1");
    let people: [DemoPerson; 6] = [
        (
            "demo-sw-alder",
            "Social worker, alder",
            Some("alder"),
            &["SOCIAL_WORKER"],
            &[],
        ),
        (
            "demo-ff-alder",
            "Family finder, alder",
            Some("alder"),
            &["FAMILY_FINDER"],
            &[],
        ),
        (
            "demo-ro-elm",
            "Recruitment officer, elm",
            Some("elm"),
            &["RECRUITMENT_OFFICER"],
            &[],
        ),
        (
            "demo-dm-birch",
            "Decision maker, birch",
            Some("birch"),
            &["DECISION_MAKER"],
            &[],
        ),
        (
            "demo-mgr-alder",
            "Manager, alder",
            Some("alder"),
            &["MANAGER"],
            &[],
        ),
        (
            "demo-board",
            "Board analyst",
            None,
            &[],
            &["BOARD_ANALYST", "CONSORTIUM_ADMIN"],
        ),
    ];
    println!("\nPermanence demo is up on http://{host}:{port}/graphql (GraphiQL in a browser).\n");
    println!("Tokens (valid 8 hours):");
    let mut first_token = None;
    for (sub, name, authority, roles, consortium_roles) in people {
        let args = TokenArgs {
            sub: sub.into(),
            name: Some(name.into()),
            consortium: "demo".into(),
            authority: authority.map(String::from),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            memberships: Vec::new(),
            consortium_roles: consortium_roles.iter().map(|r| r.to_string()).collect(),
            ttl: "8h".into(),
        };
        let token = mint(config, &args)?;
        println!("\n  {name}:\n  export TOKEN='{token}'");
        first_token.get_or_insert(token);
    }
    println!(
        "\nTry:\n  curl -s http://{host}:{port}/graphql -H \"Authorization: Bearer $TOKEN\" \\\n    -H 'Content-Type: application/json' -d '{{\"query\":\"{{ viewer {{ subject memberships {{ authority {{ code }} roles }} }} }}\"}}'\n"
    );
    Ok(())
}
