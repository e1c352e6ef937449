//! The leaky bucket behind rate limiting, as pure arithmetic (no clock, no I/O).
//!
//! Each subject has a bucket holding up to `capacity` points. A request pours its cost in;
//! the bucket drains at `leak_per_second` points a second; a request that would make it
//! overflow is refused and pours nothing. This is Shopify's GraphQL cost limit: a client
//! may burst up to the capacity and then sustain the leak rate.
//!
//! Levels are kept in thousandths of a point so that the arithmetic is exact in integers:
//! in `elapsed_ms` milliseconds the bucket drains `elapsed_ms × leak_per_second`
//! thousandths. The Redis script in [`super::shared`] does the same sums, with Redis's own
//! clock, so every replica agrees on a bucket.

/// Thousandths of a point per point.
pub const MILLI: i64 = 1000;

/// A bucket's size and drain rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeakyBucket {
    /// Points the bucket holds; a request costing more can never run.
    pub capacity: u64,
    /// Points drained per second (at least 1).
    pub leak_per_second: u64,
}

/// How full a bucket was at an instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BucketLevel {
    /// Thousandths of a point held.
    pub level: i64,
    /// When, in milliseconds of the clock the caller uses.
    pub at_ms: i64,
}

/// The answer to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BucketDecision {
    pub allowed: bool,
    /// The request's cost.
    pub requested: u64,
    /// Whole points left in the bucket after the request.
    pub remaining: u64,
    /// The bucket's capacity.
    pub limit: u64,
    /// Points drained per second.
    pub restore_rate: u64,
    /// For a refused request, whole seconds until it would fit; 0 when allowed.
    pub retry_after_secs: u64,
}

impl LeakyBucket {
    /// The level of `state` after draining until `now_ms` (an empty bucket when unknown).
    pub fn drained(&self, state: Option<BucketLevel>, now_ms: i64) -> i64 {
        let Some(state) = state else { return 0 };
        let elapsed = (now_ms - state.at_ms).max(0);
        let drained = elapsed.saturating_mul(self.rate());
        (state.level - drained).max(0)
    }

    /// Pours `cost` into the bucket at `now_ms`: the new state and the decision.
    pub fn pour(
        &self,
        state: Option<BucketLevel>,
        now_ms: i64,
        cost: u64,
    ) -> (BucketLevel, BucketDecision) {
        let level = self.drained(state, now_ms);
        let poured = level + Self::milli(cost);
        let allowed = poured <= Self::milli(self.capacity);
        let level = if allowed { poured } else { level };
        (
            BucketLevel {
                level,
                at_ms: now_ms,
            },
            self.decision(allowed, level, cost),
        )
    }

    /// The decision for a request of `cost` that was (or was not) `allowed`, leaving the
    /// bucket at `level` thousandths.
    pub fn decision(&self, allowed: bool, level: i64, cost: u64) -> BucketDecision {
        let capacity = Self::milli(self.capacity);
        let remaining = ((capacity - level).max(0) / MILLI) as u64;
        let retry_after_secs = if allowed {
            0
        } else {
            // Seconds until the overflow has drained, rounded up; at least one.
            let overflow = (level + Self::milli(cost) - capacity).max(1);
            let per_second = self.rate() * MILLI;
            ((overflow + per_second - 1) / per_second).max(1) as u64
        };
        BucketDecision {
            allowed,
            requested: cost,
            remaining,
            limit: self.capacity,
            restore_rate: self.leak_per_second,
            retry_after_secs,
        }
    }

    /// Milliseconds until a bucket at `level` is empty (how long to keep its state).
    pub fn empty_after_ms(&self, level: i64) -> i64 {
        level / self.rate() + 1
    }

    /// Thousandths of a point drained per millisecond (= points per second).
    fn rate(&self) -> i64 {
        i64::try_from(self.leak_per_second.max(1)).unwrap_or(i64::MAX)
    }

    fn milli(points: u64) -> i64 {
        i64::try_from(points)
            .unwrap_or(i64::MAX / MILLI)
            .saturating_mul(MILLI)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUCKET: LeakyBucket = LeakyBucket {
        capacity: 1000,
        leak_per_second: 50,
    };

    #[test]
    fn a_new_bucket_takes_up_to_its_capacity() {
        let (state, d) = BUCKET.pour(None, 0, 1000);
        assert!(d.allowed);
        assert_eq!((d.requested, d.remaining, d.limit), (1000, 0, 1000));
        assert_eq!(state.level, 1_000_000);
        let (_, d) = BUCKET.pour(None, 0, 1001);
        assert!(!d.allowed, "more than the capacity never fits");
    }

    #[test]
    fn an_overflowing_request_is_refused_and_pours_nothing() {
        let (state, _) = BUCKET.pour(None, 0, 900);
        let (after, d) = BUCKET.pour(Some(state), 0, 200);
        assert!(!d.allowed);
        assert_eq!(after.level, 900_000, "a refused request adds nothing");
        assert_eq!(d.remaining, 100);
        // 100 points too many at 50 a second: two seconds.
        assert_eq!(d.retry_after_secs, 2);
        let (_, d) = BUCKET.pour(Some(state), 0, 101);
        assert_eq!(d.retry_after_secs, 1, "a fraction of a second rounds up");
    }

    #[test]
    fn the_bucket_drains_at_the_leak_rate() {
        let (full, _) = BUCKET.pour(None, 0, 1000);
        // Half a second drains 25 points.
        assert_eq!(BUCKET.drained(Some(full), 500), 975_000);
        let (_, d) = BUCKET.pour(Some(full), 500, 25);
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
        let (_, d) = BUCKET.pour(Some(full), 500, 26);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_secs, 1);
        // Twenty seconds empty it, and it never goes below empty.
        assert_eq!(BUCKET.drained(Some(full), 20_000), 0);
        assert_eq!(BUCKET.drained(Some(full), 3_600_000), 0);
    }

    #[test]
    fn a_clock_going_backwards_drains_nothing() {
        let (state, _) = BUCKET.pour(None, 10_000, 300);
        assert_eq!(BUCKET.drained(Some(state), 9_000), 300_000);
    }

    #[test]
    fn remaining_counts_whole_points() {
        let (state, _) = BUCKET.pour(None, 0, 10);
        // 10 points drained at 50 a second: after 110 ms, 4.5 are still in the bucket.
        let (_, d) = BUCKET.pour(Some(state), 110, 0);
        assert_eq!(BUCKET.drained(Some(state), 110), 4_500);
        assert_eq!(d.remaining, 995, "995.5 points of room is 995 whole points");
    }

    #[test]
    fn state_is_kept_until_the_bucket_is_empty() {
        assert_eq!(BUCKET.empty_after_ms(1_000_000), 20_001);
        assert_eq!(BUCKET.empty_after_ms(0), 1);
    }
}
