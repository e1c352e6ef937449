//! A consortium's publication at a quarter end, its withheld cells decided jointly and
//! audited by linear programming: on the demo data through `permanence audit-publication`
//! as an operator runs it, and on synthetic data through the use case, where removing one
//! secondary suppression must fail the audit.
use permanence::cli::SyntheticArgs;
use permanence::domain::suppression::{Kind, audit};
use permanence::service::publication;
use permanence::store;
use permanence::store::tenancy::Directory;

use crate::process::{binary, seed_demo};

/// `permanence audit-publication` of the demo consortium at a quarter end.
fn audit_demo(database_url: &str, quarter_end: &str) -> std::process::Output {
    binary()
        .args(["audit-publication", "--consortium", "demo"])
        .args(["--quarter-end", quarter_end])
        .env("DATABASE_URL", database_url)
        .output()
        .unwrap()
}

#[test]
fn audit_publication_passes_on_the_demo_data() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}?mode=rwc", dir.path().join("p.db").display());
    seed_demo(&database_url);
    let out = audit_demo(&database_url, "2026-09-30");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("publication of demo at 2026-09-30"),
        "{stdout}"
    );
    assert!(
        stdout.contains(", 0 too narrow, 0 contradictions"),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("audit passed"), "{stdout}");
    // Something was withheld, and more than the small figures alone.
    let withheld = stdout
        .lines()
        .find_map(|l| l.strip_prefix("withheld: "))
        .expect("a withheld line");
    let protect: u64 = withheld
        .split(", ")
        .nth(1)
        .and_then(|p| p.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("secondary count");
    assert!(protect > 0, "{stdout}");

    // A date that does not end a quarter is refused, naming what may be asked.
    let out = audit_demo(&database_url, "2026-09-29");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("30 June, 30 September, 31 December or 31 March"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_synthetic_publication_passes_and_fails_without_one_secondary_suppression() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}?mode=rwc", dir.path().join("p.db").display());
    let db = store::connect(&database_url).await.unwrap();
    store::migrate(&db).await.unwrap();
    permanence::seed::synthetic::load(
        &db,
        &SyntheticArgs {
            children: 600,
            households: 600,
            enquiries: 3000,
            seed: 3,
        },
    )
    .await
    .unwrap();
    let directory = Directory::load(&db).await.unwrap();
    let consortium = directory.consortium("synthetic").unwrap();
    let authorities: Vec<i64> = consortium.authorities.iter().map(|a| a.id).collect();
    let quarter_end = "2026-03-31".parse().unwrap();
    let built = publication::build(&db, consortium.id, &authorities, quarter_end)
        .await
        .unwrap();
    let (m, decision) = (&built.model, &built.decision);
    let result = built.audit();
    assert!(
        result.passes(),
        "{:?}",
        result.failures().take(5).collect::<Vec<_>>()
    );
    // Every small published figure is withheld.
    for (i, c) in m.cells.iter().enumerate() {
        if c.published && m.sensitive(i) {
            assert!(decision.withheld[i], "{} is shown", c.key);
        }
    }
    // The largest secondary suppression kept is needed: without it the audit fails.
    let secondary = (0..m.cells.len())
        .filter(|i| decision.withheld[*i] && !m.sensitive(*i) && m.cells[*i].kind == Kind::Count)
        .max_by_key(|i| (m.cells[*i].value, std::cmp::Reverse(*i)))
        .expect("a secondary suppression");
    let mut weaker = decision.clone();
    weaker.withheld[secondary] = false;
    let without = audit(m, &weaker);
    assert!(
        !without.passes(),
        "{} was not needed",
        m.cells[secondary].key
    );
}
