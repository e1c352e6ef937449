//! `permanence import ssda903|adopters|links`: an authority's files read with a progress bar on a terminal, set
//! against the records held and written by the same use case the GraphQL upload calls,
//! then a summary and every problem, one per line.
use std::collections::BTreeSet;
use std::fs::File;
use std::sync::Arc;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};

use crate::auth::{Actor, Membership};
use crate::cli::{GlobalArgs, ImportArgs};
use crate::config::Config;
use crate::domain::Role;
use crate::service::imports::{ImportReport, Problem, Severity};
use crate::service::{self, RequestContext, Service};
use crate::state::AppState;

/// What `permanence import` brings in.
#[derive(Clone, Copy)]
pub enum Kind {
    Ssda903,
    Adopters,
    Links,
}

impl Kind {
    /// What the summary calls it, and what a problem's reference is a reference of.
    fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Kind::Ssda903 => ("SSDA903 import", "children", "child"),
            Kind::Adopters => ("adopter register import", "households", "household"),
            Kind::Links => ("link history import", "links", "child"),
        }
    }

    /// The roles the use case needs in the authority.
    fn roles(self) -> &'static [Role] {
        match self {
            Kind::Ssda903 => &[Role::SocialWorker, Role::DecisionMaker],
            Kind::Adopters => &[Role::RecruitmentOfficer, Role::DecisionMaker],
            Kind::Links => &[Role::DecisionMaker],
        }
    }

    /// Whether the import reads one file (a template) rather than several.
    fn one_file(self) -> bool {
        !matches!(self, Kind::Ssda903)
    }
}

/// `permanence import ssda903|adopters|links`.
pub async fn run(global: &GlobalArgs, args: &ImportArgs, kind: Kind) -> anyhow::Result<()> {
    if kind.one_file() && args.files.len() != 1 {
        bail!(
            "a {} reads one file (the template); give exactly one",
            kind.names().0
        );
    }
    let config = Config::from_args(global)?;
    let state = AppState::start(config).await?;
    let actor = operator(&state, args, kind)?;
    let authority_id = actor.memberships[0].authority_id;
    let request = RequestContext::new(
        Some(Arc::new(actor)),
        format!("cli-import-{}", uuid::Uuid::new_v4().simple()),
    );
    let svc = Service::new(&state, &request);

    let total: u64 = args
        .files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{msg:30!} [{bar:30}] {bytes}/{total_bytes} {eta}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let mut opened = Vec::with_capacity(args.files.len());
    for path in &args.files {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        opened.push((path.display().to_string(), file));
    }
    let mut supplied = opened.into_iter().map(|(name, file)| {
        bar.set_message(name.rsplit('/').next().unwrap_or(&name).to_owned());
        let source = bar.wrap_read(file);
        (name, source)
    });
    let today = svc.today();
    let report = match kind {
        Kind::Ssda903 => {
            let (import, digest) = service::imports::read_ssda903(supplied, today);
            bar.finish_and_clear();
            service::imports::ssda903(svc, Ok(authority_id), import, &digest, args.dry_run).await
        }
        Kind::Adopters => {
            let (name, source) = supplied.next().expect("one file");
            let (import, digest) = service::imports::read_adopters(&name, source, today);
            bar.finish_and_clear();
            service::imports::adopter_register(svc, Ok(authority_id), import, &digest, args.dry_run)
                .await
        }
        Kind::Links => {
            let (name, source) = supplied.next().expect("one file");
            let (import, digest) = service::link_history::read_links(&name, source, today);
            bar.finish_and_clear();
            service::link_history::link_history(
                svc,
                Ok(authority_id),
                import,
                &digest,
                args.dry_run,
            )
            .await
        }
    }
    .map_err(|e| anyhow::anyhow!(e.client_message()))?;
    print_report(&args.authority, kind, &report);
    if report.has_errors() {
        bail!("nothing was written: fix the errors above and run the import again");
    }
    Ok(())
}

/// The operator running the command, as the use case sees them: a person holding the
/// roles an import needs in the authority (its first membership), audited as `cli/<user>`.
/// For a link history, the operator also takes links forward for the other authorities'
/// households, as their family finders would accept them.
fn operator(state: &AppState, args: &ImportArgs, kind: Kind) -> anyhow::Result<Actor> {
    let directory = state.directory.current();
    let Some(consortium) = directory.consortium(&args.consortium) else {
        bail!("no consortium with the code {:?}", args.consortium);
    };
    let Some(authority) = consortium
        .authorities
        .iter()
        .find(|a| a.code == args.authority)
    else {
        bail!(
            "no authority with the code {:?} in consortium {:?}",
            args.authority,
            args.consortium
        );
    };
    let user = std::env::var("USER").unwrap_or_else(|_| "operator".into());
    let mut memberships = vec![Membership {
        authority_id: authority.id,
        authority_code: authority.code.clone(),
        roles: kind.roles().iter().copied().collect(),
    }];
    if matches!(kind, Kind::Links) {
        memberships.extend(
            consortium
                .authorities
                .iter()
                .filter(|a| a.id != authority.id)
                .map(|a| Membership {
                    authority_id: a.id,
                    authority_code: a.code.clone(),
                    roles: BTreeSet::from([Role::FamilyFinder]),
                }),
        );
    }
    Ok(Actor {
        subject: format!("cli/{user}"),
        name: None,
        consortium_id: consortium.id,
        consortium_code: consortium.code.clone(),
        memberships,
        consortium_roles: BTreeSet::new(),
        issued_at: chrono::Utc::now().timestamp(),
    })
}

/// The summary, then each problem on a line of its own.
fn print_report(authority: &str, kind: Kind, report: &ImportReport) {
    let (what, records, reference) = kind.names();
    let t = &report.totals;
    let errors = report.problems.iter().filter(|p| p.is_error()).count();
    let (create, update) = if report.written {
        ("created", "updated")
    } else {
        ("to create", "to update")
    };
    println!(
        "{what} for {authority}: {} files, {} {records} read: {} {create}, {} {update}, \
         {} unchanged, {} skipped",
        report.files, t.read, t.created, t.updated, t.unchanged, t.skipped
    );
    println!(
        "{} errors, {} warnings",
        errors,
        report.problems.len() - errors
    );
    for problem in &report.problems {
        println!("{}", problem_line(problem, reference));
    }
    let outcome = if report.written {
        format!("written; files digest {}", report.digest)
    } else if report.dry_run {
        "dry run: nothing written".to_owned()
    } else {
        "nothing written".to_owned()
    };
    println!("{outcome}");
}

/// One problem as a line: severity, code, where, the value, the message.
fn problem_line(p: &Problem, reference: &str) -> String {
    let mut line = String::from(match p.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    });
    line.push(' ');
    line.push_str(p.code);
    for (label, value) in [
        ("file", p.file.clone()),
        ("row", p.row.map(|r| r.to_string())),
        (reference, p.reference.clone()),
        ("column", p.column.clone()),
        ("value", p.value.as_ref().map(|v| format!("{v:?}"))),
    ] {
        if let Some(value) = value {
            line.push_str(&format!(" {label}={value}"));
        }
    }
    line.push_str(": ");
    line.push_str(&p.message);
    line
}
