//! The `notifications` subscription (DESIGN §6): link events and new child tracking alerts,
//! delivered to the authorities they concern, on every replica.
//!
//! **Publishing.** A write announces what it did once its transaction has committed (a
//! failed or rolled-back write announces nothing): every step of a link, and every
//! tracking alert a child write raised — the alerts of the child as of today after the
//! write that it did not have before. The calendar raises most alerts (a placement order
//! passes 90 days with nobody writing anything), so a sweep ([`start_sweeps`], [`sweep`])
//! announces each day the alerts whose timescale was passed that day. Every replica runs
//! it; the first to claim a consortium's day in the shared store sweeps it, and while the
//! shared store cannot answer each replica sweeps on its own (a subscriber may then see an
//! alert twice, under the same event id).
//!
//! **Payloads** go through the shared pub/sub, one topic per consortium, and carry ids
//! only: the event id, its kind, when it happened, the authorities it concerns and the id
//! of the link or child (with the alert's kind and dates). Never a name, a date of birth or
//! anything else of a record.
//!
//! **Delivery** is scoped exactly like the queries. A subscriber receives an event of its
//! own consortium when it holds, in one of the authorities the event concerns, the
//! capability the matching query needs: `READ_LINKS` in the child's or the household's
//! authority for a link (as `link(id:)`), `READ_CHILDREN` in the child's authority for a
//! tracking alert (as `trackingAlerts`). The record is then loaded as the subscriber,
//! through the same visibility code as those queries, and the read is audited as they
//! audit it; a record the subscriber cannot see (any more) is not delivered. A subscriber
//! whose sessions were revoked receives nothing more: its stream ends with
//! `UNAUTHENTICATED`.
//!
//! **Event ids** are stable, for de-duplication: `link:<link>:<version>` for a link step
//! (the version the step gave the link) and `alert:<child>:<kind>:<since>` for an alert.
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_graphql::{Context, Enum, ID, InputType, SimpleObject, Subscription};
use chrono::{DateTime, Days, NaiveDate, Utc};
use entity::{child, link};
use futures_util::Stream;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{broadcast, watch};

use super::board::ChildTrackingAlert;
use super::children::find_visible_child;
use super::context::{ContextExt, RequestContext, audit_row};
use super::links::{LinkView, find_visible_link, owner};
use super::report_cache::as_graphql;
use super::types::Child;
use crate::auth::policy::milestones_of;
use crate::auth::{Actor, Capability};
use crate::domain::AuditAction;
use crate::domain::links::LinkState;
use crate::domain::scorecard::{A1_THRESHOLD_DAYS, ChildAlert, ChildAlertKind, TrackedChild};
use crate::error::{AppError, AppResult};
use crate::infra::metrics::NOTIFICATIONS_DELIVERED;
use crate::infra::shared::SharedStore;
use crate::state::{AppState, OpenSubscription};
use crate::store;

/// How often each replica sweeps for tracking alerts the calendar raised (the first sweep
/// runs at start-up; a day already swept by any replica is skipped).
pub const SWEEP_EVERY: Duration = Duration::from_secs(15 * 60);
/// How long a consortium-day's sweep stays claimed: past the day itself on every clock.
const SWEEP_CLAIM_KEPT: Duration = Duration::from_secs(3 * 24 * 60 * 60);

/// The pub/sub topic of a consortium's events.
pub fn topic(consortium_id: i64) -> String {
    format!("notifications:{consortium_id}")
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Enum, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NotificationKind {
    /// A link was proposed.
    LinkProposed,
    /// The other side accepted a link: both explore the match.
    LinkAccepted,
    /// A link was declined.
    LinkDeclined,
    /// A link was withdrawn.
    LinkWithdrawn,
    /// The child's authority decided the match.
    LinkMatched,
    /// The child moved in with the family.
    LinkPlaced,
    /// The adoption order was made.
    LinkAdopted,
    /// The match or placement broke down.
    LinkDisrupted,
    /// A child passed a tracking timescale.
    TrackingAlert,
}

impl NotificationKind {
    /// The event of a link step that left the link in `state`.
    pub fn of_link_state(state: LinkState) -> NotificationKind {
        match state {
            LinkState::Proposed => NotificationKind::LinkProposed,
            LinkState::Exploring => NotificationKind::LinkAccepted,
            LinkState::Matched => NotificationKind::LinkMatched,
            LinkState::Placed => NotificationKind::LinkPlaced,
            LinkState::Adopted => NotificationKind::LinkAdopted,
            LinkState::Declined => NotificationKind::LinkDeclined,
            LinkState::Withdrawn => NotificationKind::LinkWithdrawn,
            LinkState::Disrupted => NotificationKind::LinkDisrupted,
        }
    }

    /// Whether the event is about a link.
    pub fn is_link(self) -> bool {
        self != NotificationKind::TrackingAlert
    }

    /// The label of the delivered-notifications counter.
    fn label(self) -> &'static str {
        match self {
            NotificationKind::LinkProposed => "LINK_PROPOSED",
            NotificationKind::LinkAccepted => "LINK_ACCEPTED",
            NotificationKind::LinkDeclined => "LINK_DECLINED",
            NotificationKind::LinkWithdrawn => "LINK_WITHDRAWN",
            NotificationKind::LinkMatched => "LINK_MATCHED",
            NotificationKind::LinkPlaced => "LINK_PLACED",
            NotificationKind::LinkAdopted => "LINK_ADOPTED",
            NotificationKind::LinkDisrupted => "LINK_DISRUPTED",
            NotificationKind::TrackingAlert => "TRACKING_ALERT",
        }
    }

    const ALL: [NotificationKind; 9] = [
        NotificationKind::LinkProposed,
        NotificationKind::LinkAccepted,
        NotificationKind::LinkDeclined,
        NotificationKind::LinkWithdrawn,
        NotificationKind::LinkMatched,
        NotificationKind::LinkPlaced,
        NotificationKind::LinkAdopted,
        NotificationKind::LinkDisrupted,
        NotificationKind::TrackingAlert,
    ];
}

/// An event as published: ids only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Stable: the same happening always has the same id.
    pub id: String,
    pub kind: NotificationKind,
    pub occurred_at: DateTime<Utc>,
    /// The authorities the event concerns: the child's and the household's for a link,
    /// the child's for an alert.
    pub authority_ids: Vec<i64>,
    pub about: About,
}

/// What an event is about.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum About {
    Link {
        #[serde(rename = "linkId")]
        link_id: i64,
    },
    Alert {
        #[serde(rename = "childId")]
        child_id: i64,
        #[serde(with = "as_graphql")]
        alert: ChildAlertKind,
        since: NaiveDate,
        /// The day the alert was raised; the alert is delivered as of that day.
        #[serde(rename = "asOf")]
        as_of: NaiveDate,
    },
}

impl Event {
    /// The event of the step that left `l` as it is.
    pub fn of_link(l: &link::Model) -> Event {
        let state = LinkState::from_code(&l.state).unwrap_or(LinkState::Proposed);
        let mut authority_ids = vec![l.child_authority_id];
        if l.household_authority_id != l.child_authority_id {
            authority_ids.push(l.household_authority_id);
        }
        Event {
            id: format!("link:{}:{}", l.id, l.version),
            kind: NotificationKind::of_link_state(state),
            occurred_at: Utc::now(),
            authority_ids,
            about: About::Link { link_id: l.id },
        }
    }

    /// The event of `alert` raised on `child` as of `as_of`.
    pub fn of_alert(child: &TrackedChild, alert: &ChildAlert, as_of: NaiveDate) -> Event {
        let kind = match alert.kind.to_value() {
            async_graphql::Value::Enum(name) => name.to_string(),
            other => other.to_string(),
        };
        Event {
            id: format!("alert:{}:{kind}:{}", child.child_id, alert.since),
            kind: NotificationKind::TrackingAlert,
            occurred_at: Utc::now(),
            authority_ids: vec![child.authority_id],
            about: About::Alert {
                child_id: child.child_id,
                alert: alert.kind,
                since: alert.since,
                as_of,
            },
        }
    }
}

/// Publishes `event` to the subscribers of the consortium on every replica.
pub async fn publish(shared: &SharedStore, consortium_id: i64, event: &Event) {
    match serde_json::to_string(event) {
        Ok(payload) => shared.publish(&topic(consortium_id), &payload).await,
        Err(e) => tracing::error!(error = %e, "could not encode a notification"),
    }
}

/// Announces the link step that left `l` as it is (call once it has committed).
pub async fn link_changed(state: &AppState, l: &link::Model) {
    publish(&state.shared, l.consortium_id, &Event::of_link(l)).await;
}

/// Announces the tracking alerts a committed write raised on a child: those it has as of
/// `today` after the write (`after`) and did not have before (`before`; `None` for a new
/// child).
pub async fn child_changed(
    state: &AppState,
    before: Option<&child::Model>,
    after: &child::Model,
    today: NaiveDate,
) {
    let before = before.map(tracked);
    let after_tracked = tracked(after);
    for alert in raised(before.as_ref(), today, &after_tracked, today) {
        let event = Event::of_alert(&after_tracked, &alert, today);
        publish(&state.shared, after.consortium_id, &event).await;
    }
}

/// The dates tracking reads of a stored child.
pub fn tracked(c: &child::Model) -> TrackedChild {
    let m = milestones_of(c);
    TrackedChild {
        child_id: c.id,
        authority_id: c.authority_id,
        entered_care_on: m.entered_care_on,
        adoption_plan_on: m.adoption_plan_on,
        shobpa_decision_on: m.shobpa_decision_on,
        placement_order_on: m.placement_order_on,
        match_decision_on: m.match_decision_on,
        placed_on: m.placed_on,
        plan_changed_on: m.plan_changed_on,
        placement_order_revoked_on: m.placement_order_revoked_on,
    }
}

/// The alerts `after` has as of `as_of` of kinds `before` did not have as of `before_as_of`.
fn raised(
    before: Option<&TrackedChild>,
    before_as_of: NaiveDate,
    after: &TrackedChild,
    as_of: NaiveDate,
) -> Vec<ChildAlert> {
    let had: Vec<ChildAlertKind> = before
        .map(|b| b.alerts(before_as_of).iter().map(|a| a.kind).collect())
        .unwrap_or_default();
    after
        .alerts(as_of)
        .into_iter()
        .filter(|a| !had.contains(&a.kind))
        .collect()
}

// ---------------------------------------------------------------------------------------
// The subscription
// ---------------------------------------------------------------------------------------

/// Something that happened to a link or a child of the subscriber's authorities.
#[derive(SimpleObject)]
pub struct Notification {
    /// Stable for one happening (a replica may deliver an alert twice while Redis is
    /// down): use it to drop duplicates.
    pub id: ID,
    pub kind: NotificationKind,
    pub occurred_at: DateTime<Utc>,
    /// The link, for link events, as the subscriber sees it now (its state may have moved
    /// on since the event).
    pub link: Option<LinkView>,
    /// The alert, for `TRACKING_ALERT`, as of the day it was raised.
    pub alert: Option<ChildTrackingAlert>,
}

/// The subscriptions.
#[derive(Default)]
pub struct NotificationSubscription;

#[Subscription]
impl NotificationSubscription {
    /// Link events and new tracking alerts of the caller's consortium, for the authorities
    /// where the caller may read them: links involving an authority where it reads links
    /// (as `links`), alerts on children of an authority where it reads children (as
    /// `trackingAlerts`). `kinds` narrows the events; all by default.
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        kinds: Option<Vec<NotificationKind>>,
    ) -> Result<impl Stream<Item = async_graphql::Result<Notification>> + use<>, AppError> {
        let request = ctx.request().clone();
        let actor = request
            .actor
            .clone()
            .ok_or_else(|| AppError::Unauthenticated("a bearer token is required".into()))?;
        let state = ctx.data_unchecked::<Arc<AppState>>().clone();
        if state
            .revocations
            .is_revoked(actor.consortium_id, &actor.subject, actor.issued_at)
        {
            return Err(AppError::Unauthenticated(
                "this session was revoked; sign in again".into(),
            ));
        }
        let kinds = match kinds {
            Some(k) if k.is_empty() => {
                return Err(AppError::bad_input("kinds", "name at least one kind"));
            }
            Some(k) => k,
            None => NotificationKind::ALL.to_vec(),
        };
        let scope = Scope::of(&actor, kinds);
        if scope.is_empty() {
            ctx.audit(
                AuditAction::Denied,
                "notifications",
                None,
                None,
                json!({ "code": "FORBIDDEN", "path": "notifications" }),
            );
            return Err(AppError::forbidden(
                "your roles do not allow these notifications in any authority",
            ));
        }
        // Subscribed before answering, so that nothing published from now on is missed.
        let messages = state.shared.subscribe(&topic(actor.consortium_id));
        let open = state.subscriptions.open();
        let feed = Feed {
            state,
            request,
            actor,
            scope,
            messages,
            ended: false,
            _open: open,
        };
        Ok(futures_util::stream::unfold(feed, Feed::next))
    }
}

/// What a subscriber receives: the kinds it asked for, in the authorities where it may.
struct Scope {
    kinds: Vec<NotificationKind>,
    /// Where the subscriber reads links (link events).
    links: Vec<i64>,
    /// Where the subscriber reads children (tracking alerts).
    children: Vec<i64>,
}

impl Scope {
    fn of(actor: &Actor, kinds: Vec<NotificationKind>) -> Scope {
        let links = if kinds.iter().any(|k| k.is_link()) {
            actor.authorities_with(Capability::ReadLinks)
        } else {
            Vec::new()
        };
        let children = if kinds.contains(&NotificationKind::TrackingAlert) {
            actor.authorities_with(Capability::ReadChildren)
        } else {
            Vec::new()
        };
        Scope {
            kinds,
            links,
            children,
        }
    }

    fn is_empty(&self) -> bool {
        self.links.is_empty() && self.children.is_empty()
    }

    /// Whether `event` may concern the subscriber (the record is checked on delivery).
    fn admits(&self, event: &Event) -> bool {
        if !self.kinds.contains(&event.kind) {
            return false;
        }
        let allowed = match event.about {
            About::Link { .. } if event.kind.is_link() => &self.links,
            About::Alert { .. } if !event.kind.is_link() => &self.children,
            _ => return false,
        };
        event.authority_ids.iter().any(|a| allowed.contains(a))
    }
}

/// One subscriber's stream.
struct Feed {
    state: Arc<AppState>,
    request: RequestContext,
    actor: Arc<Actor>,
    scope: Scope,
    messages: broadcast::Receiver<String>,
    ended: bool,
    _open: OpenSubscription,
}

impl Feed {
    /// The next notification for the subscriber, or the end of the stream.
    async fn next(mut self) -> Option<(async_graphql::Result<Notification>, Feed)> {
        if self.ended {
            return None;
        }
        loop {
            let text = match self.messages.recv().await {
                Ok(text) => text,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "a notifications subscriber fell behind");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            let actor = &self.actor;
            if self.state.revocations.is_revoked(
                actor.consortium_id,
                &actor.subject,
                actor.issued_at,
            ) {
                self.ended = true;
                let error =
                    AppError::Unauthenticated("this session was revoked; sign in again".into());
                return Some((Err(error.into()), self));
            }
            let event = match serde_json::from_str::<Event>(&text) {
                Ok(event) => event,
                Err(e) => {
                    tracing::warn!(error = %e, "ignored a malformed notification");
                    continue;
                }
            };
            if !self.scope.admits(&event) {
                continue;
            }
            match self.resolve(&event).await {
                Ok(Some(notification)) => {
                    metrics::counter!(NOTIFICATIONS_DELIVERED, "kind" => event.kind.label())
                        .increment(1);
                    return Some((Ok(notification), self));
                }
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(
                        kind = event.kind.label(),
                        error = ?e,
                        "could not deliver a notification"
                    );
                    continue;
                }
            }
        }
    }

    /// The notification of `event` as the subscriber sees it, audited as the matching
    /// query audits it; `None` when the subscriber cannot see the record (or the alert is
    /// no longer raised).
    async fn resolve(&self, event: &Event) -> AppResult<Option<Notification>> {
        let db = &self.state.db;
        let actor = &self.actor;
        let (link, alert) = match &event.about {
            About::Link { link_id } => match find_visible_link(db, actor, *link_id).await {
                Ok(l) => {
                    self.audit("Link", l.id, owner(actor, &l));
                    (Some(LinkView(l)), None)
                }
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(e),
            },
            About::Alert {
                child_id,
                alert,
                as_of,
                ..
            } => {
                let c = match find_visible_child(db, actor, *child_id).await {
                    Ok(c) => c,
                    Err(e) if e.is_not_found() => return Ok(None),
                    Err(e) => return Err(e),
                };
                let t = tracked(&c);
                let Some(raised) = t.alerts(*as_of).into_iter().find(|a| a.kind == *alert) else {
                    return Ok(None);
                };
                self.audit("Child", c.id, c.authority_id);
                let days = t.days_in_care(*as_of);
                let alert = ChildTrackingAlert {
                    kind: raised.kind,
                    child: Child(c),
                    since: raised.since.into(),
                    days_overdue: raised.days_overdue,
                    projected_a1_days: days,
                    projected_over_threshold: days.is_some_and(|d| d > A1_THRESHOLD_DAYS),
                };
                (None, Some(alert))
            }
        };
        Ok(Some(Notification {
            id: ID(event.id.clone()),
            kind: event.kind,
            occurred_at: event.occurred_at,
            link,
            alert,
        }))
    }

    fn audit(&self, entity_type: &str, id: i64, owner: i64) {
        self.state.audit.record(
            &self.request.audited,
            audit_row(
                &self.request,
                AuditAction::View,
                entity_type,
                Some(id),
                Some(owner),
                json!({ "via": "notifications" }),
            ),
        );
    }
}

// ---------------------------------------------------------------------------------------
// The daily sweep
// ---------------------------------------------------------------------------------------

/// What a sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Consortia swept by this call (the others' day had been swept already).
    pub swept: usize,
    /// Alerts published.
    pub published: usize,
}

/// Publishes, for every consortium whose day `on` no replica has swept yet, the tracking
/// alerts raised that day by the calendar: those a child has as of `on` and did not have
/// the day before. One query per consortium, over its children not placed.
pub async fn sweep(state: &AppState, on: NaiveDate) -> Result<SweepReport, DbErr> {
    let mut report = SweepReport::default();
    let Some(day_before) = on.checked_sub_days(Days::new(1)) else {
        return Ok(report);
    };
    let directory = state.directory.current();
    for code in consortium_codes(&state.db).await? {
        let Some(consortium) = directory.consortium(&code) else {
            continue;
        };
        let claim = format!("notifications:sweep:{}:{on}", consortium.id);
        match state.shared.claim(&claim, SWEEP_CLAIM_KEPT).await {
            // The first claim, or no shared store to claim in: sweep.
            Some(true) | None => {}
            Some(false) => continue,
        }
        let authorities: Vec<i64> = consortium.authorities.iter().map(|a| a.id).collect();
        if authorities.is_empty() {
            continue;
        }
        report.swept += 1;
        let rows =
            store::reports::unplaced_children(&state.db, consortium.id, &authorities, on).await?;
        for row in &rows {
            let t = row.tracked();
            for alert in raised(Some(&t), day_before, &t, on) {
                publish(
                    &state.shared,
                    consortium.id,
                    &Event::of_alert(&t, &alert, on),
                )
                .await;
                report.published += 1;
            }
        }
    }
    Ok(report)
}

/// The codes of every consortium.
async fn consortium_codes(db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    Ok(entity::consortium::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|c| c.code)
        .collect())
}

/// Sweeps today at once and then every [`SWEEP_EVERY`], until `stopping` turns true or the
/// state is dropped.
pub fn start_sweeps(state: Weak<AppState>, mut stopping: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = crate::state::stopped(&mut stopping) => return,
            }
            let Some(state) = state.upgrade() else { return };
            let today = Utc::now().date_naive();
            match sweep(&state, today).await {
                Ok(report) if report.published > 0 => {
                    tracing::info!(published = report.published, "tracking alerts announced");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "tracking alert sweep failed; retried later"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn waiting(order: &str) -> TrackedChild {
        TrackedChild {
            child_id: 7,
            authority_id: 3,
            entered_care_on: Some(d("2024-01-10")),
            adoption_plan_on: Some(d("2024-02-01")),
            shobpa_decision_on: Some(d("2024-03-01")),
            placement_order_on: Some(d(order)),
            match_decision_on: None,
            placed_on: None,
            plan_changed_on: None,
            placement_order_revoked_on: None,
        }
    }

    #[test]
    fn the_calendar_raises_an_alert_on_the_day_after_its_timescale() {
        let t = waiting("2024-04-01");
        // 90 days after 2024-04-01 is 2024-06-30: overdue from 2024-07-01.
        let on = d("2024-07-01");
        let new = raised(Some(&t), d("2024-06-30"), &t, on);
        assert_eq!(
            new.iter().map(|a| a.kind).collect::<Vec<_>>(),
            vec![ChildAlertKind::PlacementOrderNoMatch90Days]
        );
        assert!(
            raised(Some(&t), on, &t, d("2024-07-02")).is_empty(),
            "raised once"
        );
    }

    #[test]
    fn a_write_raises_the_alerts_the_child_did_not_have() {
        let before = TrackedChild {
            placement_order_on: None,
            ..waiting("2024-04-01")
        };
        let after = waiting("2024-04-01");
        let today = d("2024-09-01");
        let kinds: Vec<_> = raised(Some(&before), today, &after, today)
            .into_iter()
            .map(|a| a.kind)
            .collect();
        assert_eq!(
            kinds,
            vec![
                ChildAlertKind::PlacementOrderNoMatch90Days,
                ChildAlertKind::PlacementOrderNoMatch121Days
            ]
        );
        let matched = TrackedChild {
            match_decision_on: Some(d("2024-08-01")),
            ..after
        };
        assert!(raised(Some(&after), today, &matched, today).is_empty());
    }

    #[test]
    fn events_carry_ids_and_round_trip() {
        let t = waiting("2024-04-01");
        let alert = t.alerts(d("2024-07-01"))[0];
        let event = Event::of_alert(&t, &alert, d("2024-07-01"));
        assert_eq!(
            event.id,
            "alert:7:PLACEMENT_ORDER_NO_MATCH_90_DAYS:2024-04-01"
        );
        let text = serde_json::to_string(&event).expect("encode");
        assert!(!text.contains("name"), "{text}");
        assert_eq!(serde_json::from_str::<Event>(&text).expect("decode"), event);
    }

    #[test]
    fn a_scope_admits_the_kinds_and_authorities_it_holds() {
        let scope = Scope {
            kinds: vec![
                NotificationKind::LinkProposed,
                NotificationKind::TrackingAlert,
            ],
            links: vec![1, 2],
            children: vec![1],
        };
        let link = |kind, authorities: Vec<i64>| Event {
            id: "link:1:1".into(),
            kind,
            occurred_at: Utc::now(),
            authority_ids: authorities,
            about: About::Link { link_id: 1 },
        };
        assert!(scope.admits(&link(NotificationKind::LinkProposed, vec![2, 9])));
        assert!(!scope.admits(&link(NotificationKind::LinkProposed, vec![9])));
        assert!(!scope.admits(&link(NotificationKind::LinkAccepted, vec![1])));
        let t = TrackedChild {
            authority_id: 2,
            ..waiting("2024-04-01")
        };
        let alert = t.alerts(d("2024-07-01"))[0];
        assert!(
            !scope.admits(&Event::of_alert(&t, &alert, d("2024-07-01"))),
            "links in authority 2, children not"
        );
        let own = TrackedChild {
            authority_id: 1,
            ..t
        };
        assert!(scope.admits(&Event::of_alert(&own, &alert, d("2024-07-01"))));
    }
}
