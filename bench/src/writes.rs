//! The write mix: milestone corrections, recruitment events and link transitions from
//! several clients at once, with optimistic locking, then a check that nothing
//! acknowledged was lost.
//!
//! Each write is one of three kinds, drawn evenly:
//! - **milestones**: `recordChildMilestones` records or clears a child's
//!   `fosterPlacementStartedOn` (children in care or with an adoption plan, not placed);
//! - **recruitment**: `recordRecruitmentEvent` puts a household being assessed `ON_HOLD`, or
//!   records `RESUMED` if it is on hold;
//! - **links**: each client walks its own links through `proposeLink` → `acceptLink` →
//!   `declineLink` or `withdrawLink`, one step per write, between random waiting children
//!   (not in a must-stay-together group) and approved households.
//!
//! Children and households are drawn from a small shared set (`--write-targets` of each),
//! so clients collide: every write carries the `expectedVersion` last seen, a `CONFLICT`
//! is expected (counted apart from errors), and the client re-reads the record and tries
//! again. Every kind of write can be repeated forever, so runs can follow one another on
//! the same data; none changes which children wait or which households are in the pool.
//!
//! **Verification** after the run reads every record written back: a record's version
//! must have moved by exactly the number of acknowledged writes to it (a write whose answer
//! never came may or may not have happened), and the last acknowledged value must be there.
//! The audit log is counted too, as the consortium administrator: each write client's
//! subject must have exactly one `CREATE` event per link proposed and one `UPDATE` event
//! per other acknowledged write.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::{Gql, Reply, TIMEOUT, TRANSPORT};
use super::discovery::Fixture;
use super::driver::Until;
use super::stats::Stats;
use super::tokens::Token;

/// Attempts at one write before giving up on a record that keeps changing.
const ATTEMPTS: usize = 5;

const CHILD_STATE: &str = r#"query BenchChildState($id: ID!) {
  child(id: $id) { version milestones { enteredCareOn fosterPlacementStartedOn } }
}"#;

const MILESTONES: &str = r#"mutation BenchMilestones($input: RecordChildMilestonesInput!) {
  recordChildMilestones(input: $input) {
    child { version milestones { enteredCareOn fosterPlacementStartedOn } }
  }
}"#;

const HOUSEHOLD_STATE: &str = r#"query BenchHouseholdState($id: ID!) {
  household(id: $id) { version onHold events { id } }
}"#;

const RECRUITMENT: &str = r#"mutation BenchRecruitment($input: RecordRecruitmentEventInput!) {
  recordRecruitmentEvent(input: $input) {
    household { version onHold events { id } }
    event { id stage }
  }
}"#;

const LINK_STATE: &str = r#"query BenchLinkState($id: ID!) { link(id: $id) { id version state } }"#;

const PROPOSE: &str = r#"mutation BenchPropose($input: ProposeLinkInput!) {
  proposeLink(input: $input) { link { id version state } }
}"#;

const ACCEPT: &str = r#"mutation BenchAccept($input: AcceptLinkInput!) {
  acceptLink(input: $input) { link { id version state } }
}"#;

const DECLINE: &str = r#"mutation BenchDecline($input: EndLinkInput!) {
  declineLink(input: $input) { link { id version state } }
}"#;

const WITHDRAW: &str = r#"mutation BenchWithdraw($input: EndLinkInput!) {
  withdrawLink(input: $input) { link { id version state } }
}"#;

const AUDIT_COUNT: &str = r#"query BenchAuditCount($subject: String!, $action: AuditAction!) {
  auditLog(filter: { subject: $subject, action: $action }, first: 1) { totalCount }
}"#;

#[derive(Deserialize)]
struct ChildData {
    child: ChildState,
}

#[derive(Deserialize)]
struct ChildPayload {
    #[serde(rename = "recordChildMilestones")]
    payload: ChildData,
}

#[derive(Clone, Deserialize)]
struct ChildState {
    version: i64,
    milestones: FosterDates,
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FosterDates {
    entered_care_on: Option<String>,
    foster_placement_started_on: Option<String>,
}

#[derive(Deserialize)]
struct HouseholdData {
    household: HouseholdState,
}

#[derive(Deserialize)]
struct RecruitmentPayload {
    #[serde(rename = "recordRecruitmentEvent")]
    payload: HouseholdData,
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HouseholdState {
    version: i64,
    on_hold: bool,
    events: Vec<Value>,
}

#[derive(Deserialize)]
struct LinkData {
    link: LinkState,
}

#[derive(Clone, Deserialize)]
struct LinkState {
    id: String,
    version: i64,
    state: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuditData {
    audit_log: AuditCount,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuditCount {
    total_count: u64,
}

/// How many writes of a record were acknowledged, and the outcome of those whose answer
/// never came.
#[derive(Clone, Copy, Default)]
struct Tally {
    acknowledged: u64,
    /// Writes sent whose answer was lost (timeout, connection reset).
    unknown: u64,
}

/// A kind of record the mix writes with optimistic locking (a child's milestones, a
/// household's recruitment stage): each write is made from the state last seen, and a
/// `CONFLICT` is answered by reading the state again.
trait Record: Clone + DeserializeOwned {
    /// The kind of write, as counted.
    const KIND: &'static str;
    /// The mutation (`$input`) and its answer.
    const WRITE: &'static str;
    type Written: DeserializeOwned;
    /// The query of the record's state (`$id`) and its answer.
    const READ: &'static str;
    type Read: DeserializeOwned;
    /// What a write sets, as the verification checks it.
    type Value: Clone + PartialEq;
    /// What reading one back is, for an error.
    const READING_BACK: &'static str;

    fn version(&self) -> i64;
    fn value(&self) -> Self::Value;
    fn written(answer: Self::Written) -> Self;
    fn read(answer: Self::Read) -> Self;
    /// The input of the next write to the record `id`, last seen as `self`.
    fn next_write(&self, id: &str) -> Value;
    /// The records of this kind the mix writes to.
    fn targets(state: &mut State) -> &mut Vec<Target<Self>>;
    /// Whether the record as read back after the run (`self`) holds what `target` says
    /// was acknowledged: its version moved by the acknowledged writes (and perhaps those
    /// whose answer was lost), the last of them still there.
    fn holds(&self, target: &Target<Self>) -> bool {
        let moved = (self.version() - target.initial.version()) as u64;
        let last_holds = match &target.last {
            Some((version, value)) if *version == self.version() => self.value() == *value,
            _ => true,
        };
        moved_by(moved, target.tally) && last_holds
    }
}

impl Record for ChildState {
    const KIND: &'static str = "milestones";
    const WRITE: &'static str = MILESTONES;
    type Written = ChildPayload;
    const READ: &'static str = CHILD_STATE;
    type Read = ChildData;
    type Value = Option<String>;
    const READING_BACK: &'static str = "reading back a child";

    fn version(&self) -> i64 {
        self.version
    }
    fn value(&self) -> Option<String> {
        self.milestones.foster_placement_started_on.clone()
    }
    fn written(answer: ChildPayload) -> Self {
        answer.payload.child
    }
    fn read(answer: ChildData) -> Self {
        answer.child
    }
    /// Records the foster placement from the day the child entered care, or clears it.
    fn next_write(&self, id: &str) -> Value {
        let foster = match self.milestones.foster_placement_started_on {
            Some(_) => None,
            None => self.milestones.entered_care_on.clone(),
        };
        json!({ "id": id, "expectedVersion": self.version, "fosterPlacementStartedOn": foster })
    }
    fn targets(state: &mut State) -> &mut Vec<Target<Self>> {
        &mut state.children
    }
}

impl Record for HouseholdState {
    const KIND: &'static str = "recruitment";
    const WRITE: &'static str = RECRUITMENT;
    type Written = RecruitmentPayload;
    const READ: &'static str = HOUSEHOLD_STATE;
    type Read = HouseholdData;
    type Value = bool;
    const READING_BACK: &'static str = "reading back a household";

    fn version(&self) -> i64 {
        self.version
    }
    fn value(&self) -> bool {
        self.on_hold
    }
    fn written(answer: RecruitmentPayload) -> Self {
        answer.payload.household
    }
    fn read(answer: HouseholdData) -> Self {
        answer.household
    }
    /// Puts the household on hold, or resumes it.
    fn next_write(&self, id: &str) -> Value {
        let stage = if self.on_hold { "RESUMED" } else { "ON_HOLD" };
        // Today in UTC, as the server dates its requests.
        let today = chrono::Utc::now().date_naive();
        json!({ "householdId": id, "expectedVersion": self.version,
                "stage": stage, "occurredOn": today })
    }
    fn targets(state: &mut State) -> &mut Vec<Target<Self>> {
        &mut state.households
    }
    /// Each recruitment write adds an event too.
    fn holds(&self, target: &Target<Self>) -> bool {
        let events = self
            .events
            .len()
            .saturating_sub(target.initial.events.len()) as u64;
        let moved = (self.version - target.initial.version) as u64;
        let last_holds = match target.last {
            Some((version, on_hold)) if version == self.version => self.on_hold == on_hold,
            _ => true,
        };
        moved_by(moved, target.tally) && moved_by(events, target.tally) && last_holds
    }
}

/// A child or household the mix writes to.
struct Target<R: Record> {
    id: String,
    /// The state read before the run.
    initial: R,
    /// The latest state seen (from a write's answer or a read).
    seen: R,
    tally: Tally,
    /// The acknowledged write with the highest version, and what it wrote.
    last: Option<(i64, R::Value)>,
}

impl<R: Record> Target<R> {
    fn new(id: &str, initial: R) -> Target<R> {
        Target {
            id: id.to_owned(),
            seen: initial.clone(),
            initial,
            tally: Tally::default(),
            last: None,
        }
    }

    /// A copy, to check against once the lock is released.
    fn snapshot(&self) -> Target<R> {
        Target {
            id: self.id.clone(),
            initial: self.initial.clone(),
            seen: self.seen.clone(),
            tally: self.tally,
            last: self.last.clone(),
        }
    }

    /// Takes in the state a write acknowledged.
    fn acknowledged(&mut self, written: R) {
        self.tally.acknowledged += 1;
        if self
            .last
            .as_ref()
            .is_none_or(|(v, _)| *v < written.version())
        {
            self.last = Some((written.version(), written.value()));
        }
        self.saw(written);
    }

    /// Takes in a state seen, unless a later one was seen already.
    fn saw(&mut self, state: R) {
        if state.version() > self.seen.version() {
            self.seen = state;
        }
    }
}

/// A link the mix created.
struct LinkRecord {
    /// The last acknowledged state of the link.
    last: LinkState,
    tally: Tally,
}

/// Counts of a write client's acknowledged writes by audit action.
#[derive(Clone, Copy, Default)]
struct AuditTally {
    creates: u64,
    updates: u64,
    unknown: u64,
}

#[derive(Default)]
struct State {
    children: Vec<Target<ChildState>>,
    households: Vec<Target<HouseholdState>>,
    links: Vec<LinkRecord>,
    /// Per write client.
    audit: BTreeMap<usize, AuditTally>,
    /// Acknowledged writes by kind.
    acknowledged: BTreeMap<&'static str, u64>,
}

/// The write mix of one run.
pub struct WriteMix {
    gql: Gql,
    writers: Vec<Token>,
    state: Mutex<State>,
    /// Waiting children that may be linked on their own.
    link_children: Vec<String>,
    link_households: Vec<String>,
}

/// What the verification found.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// Acknowledged writes by kind.
    pub acknowledged: BTreeMap<&'static str, u64>,
    /// Records read back.
    pub records_checked: u64,
    /// Acknowledged writes not found (or records that moved by more than was written).
    pub missing: u64,
    /// Audit events of the write clients: `checked`, expected and found; or why not.
    pub audit: AuditCheck,
}

/// The audit log check.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditCheck {
    pub checked: bool,
    pub expected: u64,
    pub found: u64,
    /// Writes whose answer was lost: each may or may not have an event.
    pub uncertain: u64,
    pub note: Option<String>,
}

impl WriteMix {
    /// Whether `fixture` has records for the mix; the reason if not.
    pub fn check(fixture: &Fixture) -> Result<(), String> {
        if !fixture.children.iter().any(|c| c.foster_toggle) {
            return Err("no children in care or with an adoption plan".into());
        }
        if fixture.in_assessment.is_empty() {
            return Err("no households being assessed".into());
        }
        if fixture.approved.is_empty()
            || !fixture
                .waiting
                .iter()
                .any(|i| !fixture.children[*i].must_stay_together)
        {
            return Err("no waiting children or approved households to link".into());
        }
        Ok(())
    }

    /// Picks `targets` children and households with `rng` and reads their current state
    /// (as the first writer, which holds every writing role).
    pub async fn prepare(
        gql: Gql,
        fixture: &Fixture,
        writers: Vec<Token>,
        targets: usize,
        rng: &mut ChaCha8Rng,
    ) -> anyhow::Result<WriteMix> {
        let reader = writers
            .first()
            .ok_or_else(|| anyhow::anyhow!("the write mix needs at least one client"))?
            .bearer
            .clone();
        let mut child_ids: Vec<&String> = fixture
            .children
            .iter()
            .filter(|c| c.foster_toggle)
            .map(|c| &c.id)
            .collect();
        child_ids.shuffle(rng);
        child_ids.truncate(targets.max(1));
        let mut household_ids: Vec<&String> = fixture.in_assessment.iter().map(|h| &h.id).collect();
        household_ids.shuffle(rng);
        household_ids.truncate(targets.max(1));

        let mut state = State::default();
        for id in child_ids {
            let seen = gql
                .fetch::<ChildData>(&reader, CHILD_STATE, json!({ "id": id }), "reading a child")
                .await?
                .child;
            if seen.milestones.entered_care_on.is_none() {
                continue;
            }
            state.children.push(Target::new(id, seen));
        }
        for id in household_ids {
            let seen = gql
                .fetch::<HouseholdData>(
                    &reader,
                    HOUSEHOLD_STATE,
                    json!({ "id": id }),
                    "reading a household",
                )
                .await?
                .household;
            state.households.push(Target::new(id, seen));
        }
        Ok(WriteMix {
            gql,
            writers,
            state: Mutex::new(state),
            link_children: fixture
                .waiting
                .iter()
                .map(|i| &fixture.children[*i])
                .filter(|c| !c.must_stay_together)
                .map(|c| c.id.clone())
                .collect(),
            link_households: fixture.approved.iter().map(|h| h.id.clone()).collect(),
        })
    }

    /// How many write clients the mix has tokens for.
    pub fn clients(&self) -> usize {
        self.writers.len()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Write client `n`: writes until `until` says stop.
    pub async fn client(self: Arc<Self>, n: usize, seed: u64, until: Until) -> Stats {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut stats = Stats::default();
        // The index (in the state) of this client's link in progress, if any.
        let mut open_link: Option<usize> = None;
        while until.another() {
            match rng.random_range(0..3) {
                0 => self.write::<ChildState>(n, &mut rng, &mut stats).await,
                1 => self.write::<HouseholdState>(n, &mut rng, &mut stats).await,
                _ => open_link = self.step_link(n, open_link, &mut rng, &mut stats).await,
            }
        }
        stats
    }

    fn bearer(&self, n: usize) -> &str {
        &self.writers[n % self.writers.len()].bearer
    }

    /// Records a write's outcome in `stats` and the audit tally; whether it was a
    /// `CONFLICT` (to be retried).
    fn settle<T>(
        &self,
        n: usize,
        reply: &Reply<T>,
        stats: &mut Stats,
        kind: &'static str,
        create: bool,
    ) -> Settled {
        match &reply.outcome {
            Ok(_) => {
                stats.record(reply.latency, None);
                let mut state = self.state();
                *state.acknowledged.entry(kind).or_default() += 1;
                let audit = state.audit.entry(n).or_default();
                if create {
                    audit.creates += 1;
                } else {
                    audit.updates += 1;
                }
                Settled::Done
            }
            Err(code) if code == "CONFLICT" => {
                stats.record(reply.latency, None);
                stats.expected_conflicts += 1;
                Settled::Conflict
            }
            Err(code) => {
                stats.record(reply.latency, Some(code));
                if code == TIMEOUT || code == TRANSPORT {
                    self.state().audit.entry(n).or_default().unknown += 1;
                    Settled::Lost
                } else {
                    Settled::Failed
                }
            }
        }
    }

    /// One write to a record of kind `R` drawn at random, tried again after a `CONFLICT`
    /// (with the state read afresh) up to [`ATTEMPTS`] times.
    async fn write<R: Record>(&self, n: usize, rng: &mut ChaCha8Rng, stats: &mut Stats) {
        let index = rng.random_range(0..R::targets(&mut self.state()).len());
        for _ in 0..ATTEMPTS {
            let (id, seen) = {
                let mut state = self.state();
                let t = &R::targets(&mut state)[index];
                (t.id.clone(), t.seen.clone())
            };
            let input = seen.next_write(&id);
            let reply = self
                .gql
                .post::<R::Written>(self.bearer(n), R::WRITE, json!({ "input": input }))
                .await;
            match self.settle(n, &reply, stats, R::KIND, false) {
                Settled::Done => {
                    if let Ok(answer) = reply.outcome {
                        R::targets(&mut self.state())[index].acknowledged(R::written(answer.data));
                    }
                    return;
                }
                Settled::Conflict => {
                    let read = self
                        .gql
                        .post::<R::Read>(self.bearer(n), R::READ, json!({ "id": id }))
                        .await;
                    stats.record(
                        read.latency,
                        read.outcome.as_ref().err().map(String::as_str),
                    );
                    if let Ok(answer) = read.outcome {
                        R::targets(&mut self.state())[index].saw(R::read(answer.data));
                    }
                }
                Settled::Lost => {
                    R::targets(&mut self.state())[index].tally.unknown += 1;
                    return;
                }
                Settled::Failed => return,
            }
        }
    }

    /// Takes the next step of the client's link (proposing one if it has none); the link
    /// still open afterwards, if any.
    async fn step_link(
        &self,
        n: usize,
        open: Option<usize>,
        rng: &mut ChaCha8Rng,
        stats: &mut Stats,
    ) -> Option<usize> {
        let Some(index) = open else {
            let child = self.link_children.choose(rng)?;
            let household = self.link_households.choose(rng)?;
            let input = json!({ "childId": child, "householdId": household });
            let reply = self
                .gql
                .post::<Value>(self.bearer(n), PROPOSE, json!({ "input": input }))
                .await;
            // A CONFLICT here (the child or household was matched meanwhile) is expected;
            // the next step proposes another pair.
            if let Settled::Done = self.settle(n, &reply, stats, "linkPropose", true) {
                let link = reply
                    .outcome
                    .ok()
                    .and_then(|a| {
                        serde_json::from_value::<LinkData>(a.data["proposeLink"].clone()).ok()
                    })?
                    .link;
                let mut state = self.state();
                state.links.push(LinkRecord {
                    last: link,
                    tally: Tally {
                        acknowledged: 1,
                        unknown: 0,
                    },
                });
                return Some(state.links.len() - 1);
            }
            return None;
        };
        for _ in 0..ATTEMPTS {
            let link = self.state().links[index].last.clone();
            let (query, field, kind, input) = match link.state.as_str() {
                "PROPOSED" => (
                    ACCEPT,
                    "acceptLink",
                    "linkAccept",
                    json!({ "id": link.id, "expectedVersion": link.version }),
                ),
                "EXPLORING" if rng.random_bool(0.5) => (
                    DECLINE,
                    "declineLink",
                    "linkDecline",
                    json!({ "id": link.id, "expectedVersion": link.version,
                            "reason": "benchmark: not the right family" }),
                ),
                "EXPLORING" => (
                    WITHDRAW,
                    "withdrawLink",
                    "linkWithdraw",
                    json!({ "id": link.id, "expectedVersion": link.version,
                            "reason": "benchmark: withdrawn" }),
                ),
                _ => return None,
            };
            let reply = self
                .gql
                .post::<Value>(self.bearer(n), query, json!({ "input": input }))
                .await;
            match self.settle(n, &reply, stats, kind, false) {
                Settled::Done => {
                    let written = reply
                        .outcome
                        .ok()
                        .and_then(|a| {
                            serde_json::from_value::<LinkData>(a.data[field].clone()).ok()
                        })
                        .map(|d| d.link);
                    let mut state = self.state();
                    let record = &mut state.links[index];
                    record.tally.acknowledged += 1;
                    let written = written?;
                    let open = matches!(written.state.as_str(), "PROPOSED" | "EXPLORING");
                    record.last = written;
                    return open.then_some(index);
                }
                Settled::Conflict => {
                    let read = self
                        .gql
                        .post::<LinkData>(self.bearer(n), LINK_STATE, json!({ "id": link.id }))
                        .await;
                    stats.record(
                        read.latency,
                        read.outcome.as_ref().err().map(String::as_str),
                    );
                    match read.outcome {
                        Ok(answer) => self.state().links[index].last = answer.data.link,
                        Err(_) => return None,
                    }
                }
                Settled::Lost => {
                    self.state().links[index].tally.unknown += 1;
                    return None;
                }
                Settled::Failed => return None,
            }
        }
        None
    }

    /// Reads back every record of kind `R` written to (as `reader`); counts each that does
    /// not hold its acknowledged writes as missing.
    async fn read_back<R: Record>(
        &self,
        reader: &str,
        stats: &mut Stats,
        v: &mut Verification,
    ) -> anyhow::Result<()> {
        let written: Vec<Target<R>> = R::targets(&mut self.state())
            .iter()
            .filter(|t| t.tally.acknowledged + t.tally.unknown > 0)
            .map(Target::snapshot)
            .collect();
        for target in written {
            let read = self
                .gql
                .fetch::<R::Read>(reader, R::READ, json!({ "id": target.id }), R::READING_BACK)
                .await?;
            v.records_checked += 1;
            if !R::read(read).holds(&target) {
                missing(stats, v);
            }
        }
        Ok(())
    }

    /// Reads back every record written and counts the writers' audit events as `admin`;
    /// each discrepancy is also counted in `stats` (`MISSING_WRITE`, `AUDIT_MISMATCH`).
    pub async fn verify(&self, admin: &Token, stats: &mut Stats) -> anyhow::Result<Verification> {
        let reader = self.bearer(0).to_owned();
        let (links, audit, acknowledged) = {
            let state = self.state();
            (
                state
                    .links
                    .iter()
                    .map(|l| (l.last.clone(), l.tally))
                    .collect::<Vec<_>>(),
                state.audit.clone(),
                state.acknowledged.clone(),
            )
        };
        let mut v = Verification {
            acknowledged,
            ..Verification::default()
        };

        self.read_back::<ChildState>(&reader, stats, &mut v).await?;
        self.read_back::<HouseholdState>(&reader, stats, &mut v)
            .await?;
        for (last, tally) in links {
            let now = self
                .gql
                .fetch::<LinkData>(
                    &reader,
                    LINK_STATE,
                    json!({ "id": last.id }),
                    "reading back a link",
                )
                .await?
                .link;
            v.records_checked += 1;
            // A link starts at version 1 with its proposal: its version counts its writes.
            let moved = now.version.max(0) as u64;
            let value_ok = now.version != last.version || now.state == last.state;
            if !moved_by(moved, tally) || !value_ok {
                missing(stats, &mut v);
            }
        }

        v.audit.checked = true;
        for (n, tally) in &audit {
            let subject = &self.writers[*n % self.writers.len()].subject;
            let mut found = 0;
            for action in ["CREATE", "UPDATE"] {
                found += self
                    .gql
                    .fetch::<AuditData>(
                        &admin.bearer,
                        AUDIT_COUNT,
                        json!({ "subject": subject, "action": action }),
                        "counting audit events",
                    )
                    .await?
                    .audit_log
                    .total_count;
            }
            let expected = tally.creates + tally.updates;
            v.audit.expected += expected;
            v.audit.found += found;
            v.audit.uncertain += tally.unknown;
            if found < expected || found > expected + tally.unknown {
                stats.error("AUDIT_MISMATCH");
            }
        }
        if audit.is_empty() {
            v.audit.note = Some("no writes were acknowledged".into());
        }
        Ok(v)
    }
}

/// Counts an acknowledged write that is not there.
fn missing(stats: &mut Stats, v: &mut Verification) {
    stats.error("MISSING_WRITE");
    v.missing += 1;
}

/// How a write ended.
enum Settled {
    Done,
    Conflict,
    /// No answer: it may or may not have been applied.
    Lost,
    Failed,
}

/// Whether a record that moved by `moved` versions (or events) is consistent with `tally`:
/// every acknowledged write, plus any number of those whose answer was lost.
fn moved_by(moved: u64, tally: Tally) -> bool {
    moved >= tally.acknowledged && moved <= tally.acknowledged + tally.unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_must_move_by_its_acknowledged_writes() {
        let tally = Tally {
            acknowledged: 3,
            unknown: 1,
        };
        assert!(moved_by(3, tally));
        assert!(moved_by(4, tally));
        assert!(!moved_by(2, tally), "a lost acknowledged write");
        assert!(!moved_by(5, tally), "a write nobody acknowledged");
    }
}
