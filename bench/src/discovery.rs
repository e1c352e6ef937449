//! Start-up: the consortium's authorities and the ids the scenarios pick from, found
//! through the API itself with the run's tokens.
//!
//! Each family finder pages through its own authority's children (all of them, up to
//! `--discover-limit`), its approved and available households (likewise) and one page of
//! households still being assessed. Records come in creation order, so a seeded choice
//! among them is reproducible on the same data.
use std::collections::BTreeMap;

use futures_util::future::try_join_all;
use serde::Deserialize;
use serde_json::json;

use super::client::Gql;
use super::tokens::{Minter, Token};

/// Children per page while looking up ids (the API's largest page).
const PAGE: usize = 100;
/// The page size of the `children` scenario.
pub const CHILDREN_PAGE: usize = 50;

/// An authority of the consortium.
#[derive(Clone, Debug, Deserialize)]
pub struct Authority {
    pub code: String,
}

/// A child as the scenarios need it.
#[derive(Clone, Debug)]
pub struct ChildRef {
    pub id: String,
    /// The code of the child's authority.
    pub authority: String,
    pub status: String,
    /// Whether the child belongs to a sibling group that must stay together (linked only
    /// as a group).
    pub must_stay_together: bool,
    /// Whether a foster placement start may be recorded and cleared: entered care, not
    /// placed, not adopted by foster carers.
    pub foster_toggle: bool,
}

/// A household as the scenarios need it.
#[derive(Clone, Debug)]
pub struct HouseholdRef {
    pub id: String,
    /// The code of the household's authority.
    pub authority: String,
}

/// Everything the scenarios pick from.
pub struct Fixture {
    pub authorities: Vec<Authority>,
    /// A manager of every authority: the report scenarios' reader.
    pub manager: Token,
    pub admin: Token,
    /// A family finder per authority code.
    pub family_finders: BTreeMap<String, Token>,
    pub children: Vec<ChildRef>,
    /// Indices into `children` of children waiting for a family.
    pub waiting: Vec<usize>,
    /// Per authority code, the `after` argument of each page of [`CHILDREN_PAGE`]
    /// children (`None` for the first page).
    pub child_pages: BTreeMap<String, Vec<Option<String>>>,
    /// Approved households available for matching.
    pub approved: Vec<HouseholdRef>,
    /// Households still being assessed (before approval, not withdrawn).
    pub in_assessment: Vec<HouseholdRef>,
}

impl Fixture {
    /// A summary for the report: counts of what was found.
    pub fn summary(&self) -> serde_json::Value {
        json!({
            "authorities": self.authorities.iter().map(|a| &a.code).collect::<Vec<_>>(),
            "children": self.children.len(),
            "waitingChildren": self.waiting.len(),
            "childPages": self.child_pages.values().map(Vec::len).sum::<usize>(),
            "approvedHouseholds": self.approved.len(),
            "householdsInAssessment": self.in_assessment.len(),
        })
    }
}

const AUTHORITIES: &str = "query BenchAuthorities { authorities { code } }";

const CHILDREN: &str = r#"query BenchDiscoverChildren($after: String) {
  children(first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges {
      cursor
      node {
        id
        status
        milestones { enteredCareOn placedOn adoptedByFosterCarers }
        siblingGroup { mustStayTogether }
      }
    }
  }
}"#;

const HOUSEHOLDS: &str = r#"query BenchDiscoverHouseholds($filter: HouseholdFilterInput, $after: String) {
  households(filter: $filter, first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id }
  }
}"#;

#[derive(Deserialize)]
struct AuthoritiesData {
    authorities: Vec<Authority>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

#[derive(Deserialize)]
struct ChildrenData {
    children: ChildConnection,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChildConnection {
    page_info: PageInfo,
    edges: Vec<ChildEdge>,
}

#[derive(Deserialize)]
struct ChildEdge {
    cursor: String,
    node: ChildNode,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChildNode {
    id: String,
    status: String,
    milestones: Milestones,
    sibling_group: Option<SiblingGroup>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Milestones {
    entered_care_on: Option<String>,
    placed_on: Option<String>,
    adopted_by_foster_carers: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SiblingGroup {
    must_stay_together: bool,
}

#[derive(Deserialize)]
struct HouseholdsData {
    households: HouseholdConnection,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HouseholdConnection {
    page_info: PageInfo,
    nodes: Vec<IdNode>,
}

#[derive(Deserialize)]
struct IdNode {
    id: String,
}

/// Finds the authorities (as the consortium administrator), mints a family finder for
/// each, and collects the ids the scenarios pick from.
pub async fn discover(gql: &Gql, minter: &Minter<'_>, limit: usize) -> anyhow::Result<Fixture> {
    let admin = minter.consortium_admin()?;
    let authorities = gql
        .fetch::<AuthoritiesData>(&admin.bearer, AUTHORITIES, json!({}), "listing authorities")
        .await?
        .authorities;
    if authorities.is_empty() {
        anyhow::bail!("the consortium has no authorities: seed it first");
    }
    let codes: Vec<String> = authorities.iter().map(|a| a.code.clone()).collect();
    let family_finders = minter.family_finders(&codes)?;
    let manager = minter.manager(&codes)?;

    let per_authority = try_join_all(family_finders.iter().map(|(code, token)| async move {
        let children = children_of(gql, code, token, limit).await?;
        let approved = households_of(
            gql,
            code,
            token,
            json!({ "approvedAndAvailable": true }),
            limit,
        )
        .await?;
        let assessed = households_of(
            gql,
            code,
            token,
            json!({ "stages": ["ENQUIRY", "INFORMATION_EVENT", "STAGE_ONE_STARTED",
                                "STAGE_ONE_COMPLETED", "STAGE_TWO_STARTED",
                                "STAGE_TWO_COMPLETED", "PANEL"] }),
            PAGE,
        )
        .await?;
        anyhow::Ok((code.clone(), children, approved, assessed))
    }))
    .await?;

    let mut fixture = Fixture {
        authorities,
        manager,
        admin,
        family_finders,
        children: Vec::new(),
        waiting: Vec::new(),
        child_pages: BTreeMap::new(),
        approved: Vec::new(),
        in_assessment: Vec::new(),
    };
    for (code, (children, pages), approved, assessed) in per_authority {
        for child in children {
            if child.status == "WAITING" {
                fixture.waiting.push(fixture.children.len());
            }
            fixture.children.push(child);
        }
        if !pages.is_empty() {
            fixture.child_pages.insert(code, pages);
        }
        fixture.approved.extend(approved);
        fixture.in_assessment.extend(assessed);
    }
    Ok(fixture)
}

/// The children of the family finder's authority, and the `after` of each page of
/// [`CHILDREN_PAGE`].
async fn children_of(
    gql: &Gql,
    code: &str,
    token: &Token,
    limit: usize,
) -> anyhow::Result<(Vec<ChildRef>, Vec<Option<String>>)> {
    let mut children = Vec::new();
    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = gql
            .fetch::<ChildrenData>(
                &token.bearer,
                CHILDREN,
                json!({ "after": after }),
                &format!("listing the children of {code}"),
            )
            .await?
            .children;
        for edge in page.edges {
            if children.len() % CHILDREN_PAGE == 0 {
                // A page of the scenario starts here: after the previous edge's cursor.
                pages.push(after.clone());
            }
            let node = edge.node;
            children.push(ChildRef {
                id: node.id,
                authority: code.to_owned(),
                must_stay_together: node.sibling_group.is_some_and(|g| g.must_stay_together),
                foster_toggle: node.milestones.entered_care_on.is_some()
                    && node.milestones.placed_on.is_none()
                    && !node.milestones.adopted_by_foster_carers
                    && matches!(node.status.as_str(), "IN_CARE" | "ADOPTION_PLAN"),
                status: node.status,
            });
            after = Some(edge.cursor);
        }
        if !page.page_info.has_next_page || children.len() >= limit {
            break;
        }
        after = page.page_info.end_cursor.or(after);
    }
    Ok((children, pages))
}

/// Households of the family finder's authority matching `filter`, up to `limit`.
async fn households_of(
    gql: &Gql,
    code: &str,
    token: &Token,
    filter: serde_json::Value,
    limit: usize,
) -> anyhow::Result<Vec<HouseholdRef>> {
    let mut households = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = gql
            .fetch::<HouseholdsData>(
                &token.bearer,
                HOUSEHOLDS,
                json!({ "filter": filter, "after": after }),
                &format!("listing the households of {code}"),
            )
            .await?
            .households;
        households.extend(page.nodes.into_iter().map(|n| HouseholdRef {
            id: n.id,
            authority: code.to_owned(),
        }));
        if !page.page_info.has_next_page || households.len() >= limit {
            break;
        }
        after = page.page_info.end_cursor;
    }
    households.truncate(limit);
    Ok(households)
}
