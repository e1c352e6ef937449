//! Events: what a committed write announces, and the daily sweep that announces what the
//! calendar raised. See `graphql::notifications` for delivery.
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
//! **Event ids** are stable, for de-duplication: `link:<link>:<version>` for a link step
//! (the version the step gave the link) and `alert:<child>:<kind>:<since>` for an alert.
use std::sync::Weak;
use std::time::Duration;

use async_graphql::Enum;
use chrono::{DateTime, Days, NaiveDate, Utc};
use entity::{child, link};
use sea_orm::{DatabaseConnection, DbErr, EntityTrait};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::auth::policy::milestones_of;
use crate::domain::codes::as_graphql;
use crate::domain::links::LinkState;
use crate::domain::scorecard::{ChildAlert, ChildAlertKind, TrackedChild};
use crate::infra::shared::SharedStore;
use crate::state::AppState;
use crate::store;
use crate::store::codes;

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
    pub fn label(self) -> &'static str {
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

    pub const ALL: [NotificationKind; 9] = [
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
        let state = codes::link_state(l).unwrap_or(LinkState::Proposed);
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
        let kind = alert.kind.code();
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
    TrackedChild {
        child_id: c.id,
        authority_id: c.authority_id,
        milestones: milestones_of(c),
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
pub fn start_sweeps(state: Weak<AppState>, stopping: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut ticks = crate::state::Ticks::every(state, stopping, SWEEP_EVERY);
        while let Some(state) = ticks.next().await {
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

/// What a notification shows, as its subscriber may see it.
pub enum Delivered {
    /// The link an event is about.
    Link(link::Model),
    /// The tracking alert an event is about, still raised on the child.
    Alert(Box<super::board::TrackedAlert>),
}

/// The record `event` is about as the subscriber of `svc` sees it, audited as viewed
/// through notifications; `None` when the subscriber cannot see it (or the alert is no
/// longer raised). The link and the child are found as their queries find them.
pub async fn delivered(
    svc: super::Service<'_>,
    event: &Event,
) -> crate::error::AppResult<Option<Delivered>> {
    use crate::domain::AuditAction;
    let actor = svc.actor()?;
    let audit = |entity_type: &str, id: i64, owner: i64| {
        svc.audit(
            AuditAction::View,
            entity_type,
            Some(id),
            Some(owner),
            serde_json::json!({ "via": "notifications" }),
        );
    };
    match &event.about {
        About::Link { link_id } => {
            match super::links::visible_link(svc.db(), actor, *link_id).await {
                Ok(l) => {
                    audit("Link", l.id, actor.link_side(&l));
                    Ok(Some(Delivered::Link(l)))
                }
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        }
        About::Alert {
            child_id,
            alert,
            as_of,
            ..
        } => {
            let found =
                super::records::find_visible::<child::Entity>(svc.db(), actor, *child_id).await;
            let c = match found {
                Ok(c) => c,
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(e),
            };
            let t = tracked(&c);
            let Some(raised) = t.alerts(*as_of).into_iter().find(|a| a.kind == *alert) else {
                return Ok(None);
            };
            audit("Child", c.id, c.authority_id);
            Ok(Some(Delivered::Alert(Box::new(
                super::board::TrackedAlert {
                    alert: raised,
                    projected_a1_days: t.days_in_care(*as_of),
                    child: c,
                },
            ))))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::{MilestoneDates, MilestoneDraft};

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    pub(crate) fn waiting(order: &str) -> TrackedChild {
        TrackedChild {
            child_id: 7,
            authority_id: 3,
            milestones: MilestoneDates::recorded(MilestoneDraft {
                entered_care_on: Some(d("2024-01-10")),
                adoption_plan_on: Some(d("2024-02-01")),
                shobpa_decision_on: Some(d("2024-03-01")),
                placement_order_on: Some(d(order)),
                ..Default::default()
            }),
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
            milestones: MilestoneDates::recorded(MilestoneDraft {
                placement_order_on: None,
                ..*waiting("2024-04-01").milestones
            }),
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
            milestones: MilestoneDates::recorded(MilestoneDraft {
                match_decision_on: Some(d("2024-08-01")),
                ..*after.milestones
            }),
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
}
