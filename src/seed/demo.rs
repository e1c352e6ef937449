//! The demo consortium: `demo`, the "Demo Regional Adoption Agency", with local
//! authorities `alder`, `birch`, `cedar` and `damson` and the voluntary agency `elm`.
//!
//! Several years of invented histories ending today: 60–90 children per local authority at
//! every point of the journey (see [`Mix::DEMO`]) and 80–150 households per authority at
//! every stage of the funnel and every exit. The random generator has a fixed seed, so the
//! demo is the same every time it is loaded on a given day; only the dates move with the
//! calendar.
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use entity::consortium;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, SqlErr};

use super::bulk;
use super::generator::{AuthorityPlan, Dataset, FirstIds, Mix, Spec, generate};
use crate::auth::jwt::{JwtKeys, MembershipClaim};
use crate::auth::tokens::{self, Grant};
use crate::domain::AuthorityKind;
use crate::store;
use crate::store::tenancy::{create_authority, create_consortium};

/// The demo consortium's code.
pub const CODE: &str = "demo";

/// The fixed seed of the demo's random generator.
const SEED: u64 = 20_261_123;

/// The demo's authorities: code, name, kind and the middle of the area each serves.
const AUTHORITIES: [(&str, &str, AuthorityKind, (f64, f64)); 5] = [
    (
        "alder",
        "Alder City Council",
        AuthorityKind::LocalAuthority,
        (52.48, -1.90),
    ),
    (
        "birch",
        "Birch County Council",
        AuthorityKind::LocalAuthority,
        (52.41, -1.51),
    ),
    (
        "cedar",
        "Cedar Metropolitan Borough Council",
        AuthorityKind::LocalAuthority,
        (52.59, -2.13),
    ),
    (
        "damson",
        "Damson Borough Council",
        AuthorityKind::LocalAuthority,
        (52.19, -2.22),
    ),
    (
        "elm",
        "Elm Adoption Society",
        AuthorityKind::VoluntaryAgency,
        (52.55, -1.98),
    ),
];

/// Loads the demo data set unless consortium `demo` exists; says whether it loaded.
pub async fn load(db: &DatabaseConnection) -> anyhow::Result<bool> {
    let txn = store::begin_write(db).await?;
    let existing = consortium::Entity::find()
        .filter(consortium::Column::Code.eq(CODE))
        .one(&txn)
        .await?;
    if existing.is_some() {
        return Ok(false);
    }
    // Another process (a second replica started with `--demo`) may be loading it right
    // now; on PostgreSQL the unique code makes this insert wait for it, then fail.
    let consortium_id = match create_consortium(&txn, CODE, "Demo Regional Adoption Agency").await {
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Ok(false);
        }
        created => created?,
    };
    let mut authority_ids = Vec::with_capacity(AUTHORITIES.len());
    for (code, name, kind, _) in AUTHORITIES {
        authority_ids.push(create_authority(&txn, consortium_id, code, name, kind).await?);
    }
    let first_ids = bulk::next_ids(&txn).await?;
    let data = dataset(
        consortium_id,
        &authority_ids,
        first_ids,
        Utc::now().date_naive(),
    );
    bulk::insert(&txn, &data).await?;
    bulk::reset_sequences(&txn).await?;
    txn.commit().await?;
    tracing::info!(
        children = data.children.len(),
        households = data.households.len(),
        events = data.events.len(),
        "demo consortium loaded"
    );
    Ok(true)
}

/// A demo person: subject, display name, authority, roles there, consortium roles.
type DemoPerson = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static [&'static str],
    &'static [&'static str],
);

/// The people `serve --demo` prints a token for, one per role.
const PEOPLE: [DemoPerson; 6] = [
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

/// How long the printed tokens live.
const TOKEN_TTL: Duration = Duration::from_secs(8 * 3600);

/// The demo's people who get a link to the board pack page, signed in, in this order.
const BOARD_PEOPLE: &[&str] = &["demo-board", "demo-mgr-alder"];

/// Prints where the demo server listens, a token for each of the demo's people (minted
/// with `keys`), links that open the board pack signed in as a board analyst and as a
/// manager (`/board#token=…`: the page takes the token from the fragment, keeps it in
/// memory and removes it from the address), and a first `curl` to try. The caller refuses
/// this in production.
pub fn print_tokens(keys: &JwtKeys, bind: &str, port: u16) -> anyhow::Result<()> {
    let host = bind.rsplit_once(':').map(|(h, _)| h).unwrap_or("127.0.0.1");
    println!("\nPermanence demo is up on http://{host}:{port}/graphql (GraphiQL in a browser).\n");
    println!("Tokens (valid 8 hours):");
    let mut board_links = Vec::new();
    for (sub, name, authority, roles, consortium_roles) in PEOPLE {
        let grant = Grant {
            subject: sub.into(),
            name: Some(name.into()),
            consortium: CODE.into(),
            memberships: authority
                .map(|code| MembershipClaim {
                    authority: code.into(),
                    roles: roles.iter().map(|r| r.to_string()).collect(),
                })
                .into_iter()
                .collect(),
            consortium_roles: consortium_roles.iter().map(|r| r.to_string()).collect(),
            ttl: TOKEN_TTL,
        };
        let token = tokens::mint(keys, grant)?;
        println!("\n  {name}:\n  export TOKEN='{token}'");
        if let Some(rank) = BOARD_PEOPLE.iter().position(|p| *p == sub) {
            board_links.push((
                rank,
                format!("  {name}: http://{host}:{port}/board#token={token}"),
            ));
        }
    }
    board_links.sort();
    println!("\nThe board pack in a browser, signed in:");
    for (_, link) in &board_links {
        println!("{link}");
    }
    println!(
        "\nTry:\n  curl -s http://{host}:{port}/graphql -H \"Authorization: Bearer $TOKEN\" \\\n    -H 'Content-Type: application/json' -d '{{\"query\":\"{{ viewer {{ subject memberships {{ authority {{ code }} roles }} }} }}\"}}'\n"
    );
    Ok(())
}

/// The demo rows for a consortium whose authorities (in the order of `AUTHORITIES`) have
/// `authority_ids`, as of `today`.
fn dataset(
    consortium_id: i64,
    authority_ids: &[i64],
    first_ids: FirstIds,
    today: NaiveDate,
) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let plans: Vec<AuthorityPlan> = AUTHORITIES
        .iter()
        .zip(authority_ids)
        .map(|((code, _, kind, centre), id)| AuthorityPlan {
            consortium_id,
            authority_id: *id,
            code: (*code).into(),
            centre: *centre,
            children: if *kind == AuthorityKind::LocalAuthority {
                rng.random_range(60..=90)
            } else {
                0
            },
            households: rng.random_range(80..=150),
        })
        .collect();
    let spec = Spec {
        as_of: today,
        authorities: &plans,
        mix: &Mix::DEMO,
        event_target: None,
        first_ids,
    };
    generate(&spec, &mut rng)
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;
    use crate::auth::policy::milestones_of;
    use crate::domain::{ChildStatus, EnquiryChannel, PlanChangeReason, Stage};
    use strum::IntoEnumIterator;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).expect("a valid date")
    }

    fn demo() -> Dataset {
        dataset(1, &[1, 2, 3, 4, 5], FirstIds::default(), today())
    }

    #[test]
    fn the_demo_is_the_same_every_time() {
        assert_eq!(demo(), demo());
    }

    #[test]
    fn the_demo_has_children_at_every_point_of_the_journey() {
        let data = demo();
        let mut per_authority: HashMap<i64, usize> = HashMap::new();
        for c in &data.children {
            *per_authority.entry(c.authority_id).or_default() += 1;
        }
        assert_eq!(
            per_authority.len(),
            4,
            "children only in the four local authorities"
        );
        assert!(per_authority.values().all(|n| (60..=90).contains(n)));

        let statuses: HashSet<ChildStatus> = data
            .children
            .iter()
            .map(|c| milestones_of(c).status())
            .collect();
        assert_eq!(statuses.len(), 7, "every status: {statuses:?}");
        let reasons: HashSet<&str> = data
            .children
            .iter()
            .filter_map(|c| c.plan_change_reason.as_deref())
            .collect();
        for reason in PlanChangeReason::iter() {
            assert!(reasons.contains(reason.code()), "no {}", reason.code());
        }
        assert!(
            data.children
                .iter()
                .any(|c| c.placement_order_revoked_on.is_some())
        );
        assert!(
            data.children
                .iter()
                .any(|c| c.adopted_by_foster_carers && c.adoption_order_on.is_some())
        );
        assert!(data.children.iter().any(|c| matches!(
            (c.match_decision_on, c.placement_order_on), (Some(m), Some(o)) if m < o
        )));
        // Adoptions over the last four years or so.
        let adopted_days_ago: Vec<i64> = data
            .children
            .iter()
            .filter_map(|c| c.adoption_order_on)
            .map(|d| (today() - d).num_days())
            .collect();
        assert!(adopted_days_ago.iter().any(|d| *d < 365));
        assert!(adopted_days_ago.iter().any(|d| *d > 3 * 365));
        assert!(adopted_days_ago.iter().all(|d| *d <= 4 * 365));
        assert!(data.sibling_groups.iter().any(|g| g.must_stay_together));
        assert!(data.sibling_groups.iter().any(|g| !g.must_stay_together));
        for name in ["MUSLIM", "URDU", "POLISH"] {
            assert!(data.children.iter().any(|c| {
                [&c.religion, &c.language, &c.culture]
                    .iter()
                    .any(|code| code.as_deref() == Some(name))
            }));
        }
    }

    #[test]
    fn the_demo_has_households_at_every_stage_and_exit() {
        let data = demo();
        let mut per_authority: HashMap<i64, usize> = HashMap::new();
        for h in &data.households {
            *per_authority.entry(h.authority_id).or_default() += 1;
        }
        assert_eq!(per_authority.len(), 5);
        assert!(per_authority.values().all(|n| (80..=150).contains(n)));

        let stages: HashSet<&str> = data.households.iter().map(|h| h.stage.as_str()).collect();
        for stage in Stage::iter().filter(|s| !matches!(s, Stage::OnHold | Stage::Resumed)) {
            assert!(
                stages.contains(stage.code()),
                "no household at {}",
                stage.code()
            );
        }
        let events: HashSet<&str> = data.events.iter().map(|e| e.stage.as_str()).collect();
        assert!(events.contains("ON_HOLD") && events.contains("RESUMED"));
        assert!(data.households.iter().any(|h| h.on_hold));
        assert!(data.households.iter().any(|h| h.fast_track));
        let channels: HashSet<&str> = data
            .households
            .iter()
            .map(|h| h.enquiry_channel.as_str())
            .collect();
        assert_eq!(channels.len(), EnquiryChannel::iter().count());
        assert!(
            data.households
                .iter()
                .any(|h| h.available_for_matching && h.shared_with_consortium)
        );
    }

    #[tokio::test]
    async fn the_demo_loads_once() {
        use entity::child;
        use sea_orm::PaginatorTrait;

        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("demo.db").display());
        let db = store::connect(&url).await.expect("connect");
        store::migrate(&db).await.expect("migrate");
        assert!(load(&db).await.expect("first load"));
        let children = child::Entity::find().count(&db).await.expect("count");
        assert!(children >= 240, "{children} children");
        assert!(!load(&db).await.expect("second load"));
        assert_eq!(
            child::Entity::find().count(&db).await.expect("count"),
            children
        );
    }
}
