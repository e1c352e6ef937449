//! The `notifications` subscription (DESIGN §6): link events and new child tracking alerts,
//! delivered to the authorities they concern, on every replica.
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
//! What is published, and when: [`crate::service::events`].
use std::sync::Arc;

use async_graphql::{Context, ID, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use serde_json::json;
use tokio::sync::broadcast;

use super::board::ChildTrackingAlert;
use super::context::{ContextExt, RequestContext};
use super::links::LinkView;
use crate::auth::Actor;
use crate::domain::AuditAction;
use crate::error::{AppError, AppResult};
use crate::infra::metrics::NOTIFICATIONS_DELIVERED;
use crate::service::Service;
use crate::service::events::{self, About, Delivered, Event, NotificationKind, topic};
use crate::state::{AppState, OpenSubscription};

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
            ctx.service().audit(
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
        let (links, children) = actor.subscription_reach(
            kinds.iter().any(|k| k.is_link()),
            kinds.contains(&NotificationKind::TrackingAlert),
        );
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

    /// The notification of `event` as the subscriber sees it (see
    /// [`events::delivered`]); `None` when the subscriber cannot see the record.
    async fn resolve(&self, event: &Event) -> AppResult<Option<Notification>> {
        let svc = Service::new(&self.state, &self.request);
        let (link, alert) = match events::delivered(svc, event).await? {
            None => return Ok(None),
            Some(Delivered::Link(l)) => (Some(LinkView(l)), None),
            Some(Delivered::Alert(a)) => (None, Some(ChildTrackingAlert::from(*a))),
        };
        Ok(Some(Notification {
            id: ID(event.id.clone()),
            kind: event.kind,
            occurred_at: event.occurred_at,
            link,
            alert,
        }))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, Utc};

    use super::*;
    use crate::domain::scorecard::TrackedChild;
    use crate::service::events::{About, Event};

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn waiting(order: &str) -> TrackedChild {
        crate::service::events::tests::waiting(order)
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
