//! Cache, counters, rate-limit buckets and pub/sub: the state replicas share (DESIGN §1).
//!
//! [`SharedStore`] is one interface with two implementations, chosen once at start-up:
//!
//! * **in-process** (no `REDIS_URL`, the embedded default): maps behind mutexes (cache
//!   entries expire) and a tokio broadcast channel per topic;
//! * **Redis** (`REDIS_URL`): an auto-reconnecting [`ConnectionManager`] for commands, a
//!   dedicated pub/sub connection, and a Lua script that reads and writes a leaky bucket in
//!   one step with Redis's own clock, so every replica agrees on it.
//!
//! Redis is never a single point of failure. Every command has a short deadline; the first
//! failure marks Redis *down*, and until a background probe finds it again every call
//! answers at once from a fallback: cache reads miss and writes are skipped (so reports are
//! computed afresh), counters are unknown (callers bypass whatever depends on them), buckets
//! are kept in-process (each replica limits on its own), and publications reach this
//! replica's subscribers only. Nothing needs a restart: the probe brings Redis back into use
//! by itself. Before it does, it bumps the shared *epoch* counter: writes made during the
//! outage could not bump their counters, and the epoch — part of every [`Version`] — makes
//! anything cached before the outage unreachable.
//!
//! Keys and the pub/sub channel carry a prefix (`REDIS_KEY_PREFIX`), so that deployments
//! (or test runs) sharing one Redis never see each other's state.
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, FromRedisValue, RedisResult};
use tokio::sync::broadcast;

use super::bucket::{BucketDecision, BucketLevel, LeakyBucket};
use super::metrics::{REDIS_DEGRADED, REDIS_ERRORS};

/// How long a Redis command may take before Redis counts as down.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);
/// How often a healthy Redis is pinged (so an outage is noticed without traffic).
const PROBE_WHILE_UP: Duration = Duration::from_secs(1);
/// How often an unreachable Redis is tried again.
const PROBE_WHILE_DOWN: Duration = Duration::from_millis(250);
/// Pause before reopening a lost pub/sub connection.
const RESUBSCRIBE_AFTER: Duration = Duration::from_millis(500);
/// Messages a slow subscriber may fall behind by before it misses some.
const TOPIC_CAPACITY: usize = 1024;
/// In-process cache entries kept before expired ones are swept (and, if still too many,
/// everything is dropped: it is a cache).
const LOCAL_CACHE_ENTRIES: usize = 4096;
/// In-process buckets kept before empty ones are swept.
const LOCAL_BUCKETS: usize = 10_000;

/// The counter bumped whenever Redis comes back after an outage.
const EPOCH: &str = "epoch";

/// The leaky bucket in Redis: drain by Redis's clock, pour if it fits, keep the state as
/// long as it is not empty. Mirrors [`LeakyBucket::pour`] (levels in thousandths of a point;
/// the leak rate in points a second is also thousandths a millisecond).
const BUCKET_SCRIPT: &str = r#"
local capacity = tonumber(ARGV[1]) * 1000
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3]) * 1000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held = redis.call('HMGET', KEYS[1], 'level', 'at')
local level = tonumber(held[1]) or 0
local at = tonumber(held[2]) or now
local elapsed = now - at
if elapsed < 0 then elapsed = 0 end
level = level - elapsed * rate
if level < 0 then level = 0 end
local allowed = 0
if level + cost <= capacity then
  level = level + cost
  allowed = 1
end
redis.call('HSET', KEYS[1], 'level', level, 'at', now)
redis.call('PEXPIRE', KEYS[1], math.floor(level / rate) + 1000)
return {allowed, level}
"#;

/// A counter's value under the current epoch. Two equal versions mean nothing counted has
/// changed in between; use [`fmt::Display`] (`epoch.count`) in cache keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version {
    pub epoch: i64,
    pub count: i64,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.epoch, self.count)
    }
}

/// Shared cache, counters, buckets and pub/sub. Cheap to clone.
#[derive(Clone)]
pub struct SharedStore {
    local: Arc<Local>,
    redis: Option<Arc<RedisBackend>>,
}

impl SharedStore {
    /// The in-process implementation.
    pub fn in_process() -> SharedStore {
        SharedStore {
            local: Arc::new(Local::new()),
            redis: None,
        }
    }

    /// Redis at `url` (keys prefixed with `prefix`) when given, else in-process. A bad URL
    /// is an error; an unreachable Redis is not: the store starts degraded and picks Redis
    /// up as soon as it answers.
    pub async fn start(url: Option<&str>, prefix: &str) -> anyhow::Result<SharedStore> {
        match url {
            None => Ok(SharedStore::in_process()),
            Some(url) => SharedStore::redis(url, prefix).await,
        }
    }

    async fn redis(url: &str, prefix: &str) -> anyhow::Result<SharedStore> {
        let client = redis::Client::open(url).context("REDIS_URL is not a valid Redis URL")?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .context("setting up the Redis connection")?;
        let local = Arc::new(Local::new());
        let backend = Arc::new(RedisBackend {
            client,
            manager,
            prefix: prefix.to_owned(),
            up: AtomicBool::new(false),
            bucket_script: redis::Script::new(BUCKET_SCRIPT),
        });
        // A fresh replica has written nothing, so it may use Redis as it finds it; only a
        // recovery after an outage bumps the epoch.
        let mut conn = backend.manager.clone();
        let ping = tokio::time::timeout(
            COMMAND_TIMEOUT * 4,
            redis::cmd("PING").query_async::<String>(&mut conn),
        )
        .await;
        match ping {
            Ok(Ok(_)) => {
                backend.up.store(true, Ordering::Release);
                metrics::gauge!(REDIS_DEGRADED).set(0.0);
                tracing::info!("connected to Redis: cache, rate limits and events are shared");
            }
            Ok(Err(e)) => backend.went_down("connect", &e),
            Err(_) => backend.went_down("connect", &"timed out"),
        }
        tokio::spawn(probe(Arc::downgrade(&backend)));
        tokio::spawn(relay(Arc::downgrade(&backend), local.clone()));
        Ok(SharedStore {
            local,
            redis: Some(backend),
        })
    }

    /// `redis` or `in-process`.
    pub fn backend(&self) -> &'static str {
        if self.redis.is_some() {
            "redis"
        } else {
            "in-process"
        }
    }

    /// Whether Redis is configured and currently unusable (the fallbacks are in use).
    pub fn is_degraded(&self) -> bool {
        self.redis
            .as_ref()
            .is_some_and(|r| !r.up.load(Ordering::Acquire))
    }

    /// Whether Redis answers a `PING` now; `None` when no Redis is configured.
    pub async fn ping(&self) -> Option<bool> {
        let redis = self.redis.as_ref()?;
        let mut conn = redis.manager.clone();
        let answer = tokio::time::timeout(
            COMMAND_TIMEOUT,
            redis::cmd("PING").query_async::<String>(&mut conn),
        )
        .await;
        Some(matches!(answer, Ok(Ok(_))))
    }

    /// The cached value under `key`, if any (none while Redis is down).
    pub async fn cache_get(&self, key: &str) -> Option<String> {
        match &self.redis {
            None => self.local.cache_get(key),
            Some(redis) => {
                let mut cmd = redis::cmd("GET");
                cmd.arg(redis.key("cache", key));
                redis.query::<Option<String>>("get", cmd).await.flatten()
            }
        }
    }

    /// Caches `value` under `key` for `ttl` (skipped while Redis is down).
    pub async fn cache_put(&self, key: &str, value: &str, ttl: Duration) {
        match &self.redis {
            None => self.local.cache_put(key, value, ttl),
            Some(redis) => {
                let mut cmd = redis::cmd("SET");
                cmd.arg(redis.key("cache", key))
                    .arg(value)
                    .arg("PX")
                    .arg(ttl.as_millis().max(1) as u64);
                let _: Option<()> = redis.query("set", cmd).await;
            }
        }
    }

    /// The counter `name` under the current epoch; `None` while Redis is down, when nothing
    /// derived from the counter can be trusted.
    pub async fn version(&self, name: &str) -> Option<Version> {
        match &self.redis {
            None => Some(Version {
                epoch: 0,
                count: self.local.counter(name),
            }),
            Some(redis) => {
                let mut cmd = redis::cmd("MGET");
                cmd.arg(redis.key("counter", EPOCH))
                    .arg(redis.key("counter", name));
                let values: Vec<Option<i64>> = redis.query("mget", cmd).await?;
                Some(Version {
                    epoch: values.first().copied().flatten().unwrap_or(0),
                    count: values.get(1).copied().flatten().unwrap_or(0),
                })
            }
        }
    }

    /// Adds one to the counter `name`; its new value, or `None` if Redis is down (the
    /// epoch bump on recovery then stands in for the lost increment).
    pub async fn increment(&self, name: &str) -> Option<i64> {
        match &self.redis {
            None => Some(self.local.increment(name)),
            Some(redis) => {
                let mut cmd = redis::cmd("INCR");
                cmd.arg(redis.key("counter", name));
                redis.query("incr", cmd).await
            }
        }
    }

    /// Claims `name` for `ttl`: true for the one caller that claimed it first (on every
    /// replica), false while the claim stands; `None` while Redis is down, when nobody can
    /// tell. Claims expire, so one a day leaves nothing behind.
    pub async fn claim(&self, name: &str, ttl: Duration) -> Option<bool> {
        match &self.redis {
            None => Some(self.local.claim(name, ttl)),
            Some(redis) => {
                let mut cmd = redis::cmd("SET");
                cmd.arg(redis.key("claim", name))
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl.as_millis().max(1) as u64);
                let answer: Option<Option<String>> = redis.query("claim", cmd).await;
                answer.map(|set| set.is_some())
            }
        }
    }

    /// Pours `cost` into the bucket `key`: in Redis (shared by every replica) while it is
    /// up, else in this process.
    pub async fn pour(&self, key: &str, bucket: &LeakyBucket, cost: u64) -> BucketDecision {
        if let Some(redis) = &self.redis {
            let mut invocation = redis.bucket_script.prepare_invoke();
            invocation
                .key(redis.key("bucket", key))
                .arg(bucket.capacity)
                .arg(bucket.leak_per_second.max(1))
                .arg(cost);
            let mut conn = redis.manager.clone();
            let answer: Option<(i64, i64)> = redis
                .guarded("bucket", invocation.invoke_async(&mut conn))
                .await;
            if let Some((allowed, level)) = answer {
                return bucket.decision(allowed == 1, level, cost);
            }
        }
        self.local.pour(key, bucket, cost)
    }

    /// Publishes `payload` on `topic` to every replica's subscribers (this replica's only,
    /// while Redis is down).
    pub async fn publish(&self, topic: &str, payload: &str) {
        if let Some(redis) = &self.redis {
            let mut cmd = redis::cmd("PUBLISH");
            cmd.arg(redis.channel()).arg(format!("{topic}\n{payload}"));
            let published: Option<i64> = redis.query("publish", cmd).await;
            if published.is_some() {
                return;
            }
        }
        self.local.deliver(topic, payload);
    }

    /// Messages published on `topic` from now on. A subscriber that falls more than
    /// [`TOPIC_CAPACITY`] behind misses the oldest (and is told so by the receiver).
    pub fn subscribe(&self, topic: &str) -> broadcast::Receiver<String> {
        self.local.topic(topic).subscribe()
    }
}

// ---------------------------------------------------------------------------------------
// In-process
// ---------------------------------------------------------------------------------------

struct CacheEntry {
    expires: Instant,
    value: String,
}

/// The in-process implementation, also the fallback of the Redis one.
struct Local {
    /// The clock of in-process buckets.
    started: Instant,
    cache: Mutex<HashMap<String, CacheEntry>>,
    counters: Mutex<HashMap<String, i64>>,
    /// Claims and when they expire.
    claims: Mutex<HashMap<String, Instant>>,
    buckets: Mutex<HashMap<String, BucketLevel>>,
    topics: Mutex<HashMap<String, broadcast::Sender<String>>>,
}

/// Locks `m`; a panic elsewhere while holding it leaves plain data, still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Local {
    fn new() -> Local {
        Local {
            started: Instant::now(),
            cache: Mutex::default(),
            counters: Mutex::default(),
            claims: Mutex::default(),
            buckets: Mutex::default(),
            topics: Mutex::default(),
        }
    }

    fn cache_get(&self, key: &str) -> Option<String> {
        let mut cache = lock(&self.cache);
        match cache.get(key) {
            Some(e) if e.expires > Instant::now() => Some(e.value.clone()),
            Some(_) => {
                cache.remove(key);
                None
            }
            None => None,
        }
    }

    fn cache_put(&self, key: &str, value: &str, ttl: Duration) {
        let now = Instant::now();
        let mut cache = lock(&self.cache);
        if cache.len() >= LOCAL_CACHE_ENTRIES {
            cache.retain(|_, e| e.expires > now);
            if cache.len() >= LOCAL_CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(
            key.to_owned(),
            CacheEntry {
                expires: now + ttl,
                value: value.to_owned(),
            },
        );
    }

    fn claim(&self, name: &str, ttl: Duration) -> bool {
        let now = Instant::now();
        let mut claims = lock(&self.claims);
        claims.retain(|_, expires| *expires > now);
        match claims.entry(name.to_owned()) {
            Entry::Occupied(_) => false,
            Entry::Vacant(slot) => {
                slot.insert(now + ttl);
                true
            }
        }
    }

    fn counter(&self, name: &str) -> i64 {
        lock(&self.counters).get(name).copied().unwrap_or(0)
    }

    fn increment(&self, name: &str) -> i64 {
        let mut counters = lock(&self.counters);
        let value = counters.entry(name.to_owned()).or_insert(0);
        *value += 1;
        *value
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    fn pour(&self, key: &str, bucket: &LeakyBucket, cost: u64) -> BucketDecision {
        let now = self.now_ms();
        let mut buckets = lock(&self.buckets);
        if buckets.len() >= LOCAL_BUCKETS && !buckets.contains_key(key) {
            buckets.retain(|_, state| bucket.drained(Some(*state), now) > 0);
        }
        let (state, decision) = bucket.pour(buckets.get(key).copied(), now, cost);
        buckets.insert(key.to_owned(), state);
        decision
    }

    fn topic(&self, topic: &str) -> broadcast::Sender<String> {
        lock(&self.topics)
            .entry(topic.to_owned())
            .or_insert_with(|| broadcast::channel(TOPIC_CAPACITY).0)
            .clone()
    }

    fn deliver(&self, topic: &str, payload: &str) {
        // No subscriber is not an error.
        let _ = self.topic(topic).send(payload.to_owned());
    }
}

// ---------------------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------------------

struct RedisBackend {
    client: redis::Client,
    manager: ConnectionManager,
    prefix: String,
    /// Whether Redis is in use; false from the first failure until the probe finds it back.
    up: AtomicBool,
    bucket_script: redis::Script,
}

impl RedisBackend {
    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}:{kind}:{name}", self.prefix)
    }

    /// The one channel every topic travels on, as `topic\npayload`.
    fn channel(&self) -> String {
        format!("{}:bus", self.prefix)
    }

    /// Runs `command` unless Redis is down; a failure or timeout marks it down.
    async fn query<T: FromRedisValue>(&self, operation: &'static str, command: Cmd) -> Option<T> {
        let mut conn = self.manager.clone();
        self.guarded(
            operation,
            async move { command.query_async(&mut conn).await },
        )
        .await
    }

    /// Awaits `request` (with a deadline) unless Redis is down.
    async fn guarded<T>(
        &self,
        operation: &'static str,
        request: impl Future<Output = RedisResult<T>>,
    ) -> Option<T> {
        if !self.up.load(Ordering::Acquire) {
            return None;
        }
        match tokio::time::timeout(COMMAND_TIMEOUT, request).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(e)) => {
                self.went_down(operation, &e);
                None
            }
            Err(_) => {
                self.went_down(operation, &"timed out");
                None
            }
        }
    }

    /// Counts a failed command and, the first time, switches to the fallbacks.
    fn went_down(&self, operation: &'static str, reason: &dyn fmt::Display) {
        metrics::counter!(REDIS_ERRORS, "operation" => operation).increment(1);
        if self.up.swap(false, Ordering::AcqRel) || operation == "connect" {
            metrics::gauge!(REDIS_DEGRADED).set(1.0);
            tracing::warn!(
                operation,
                error = %reason,
                "Redis unreachable: serving degraded (reports uncached, rate limits per \
                 replica, revocations from the local copy) until it answers again"
            );
        }
    }

    /// Tries Redis again; when it answers, bumps the epoch and resumes using it.
    async fn recover(&self) {
        let mut conn = self.manager.clone();
        let epoch = self.key("counter", EPOCH);
        let attempt = async {
            redis::cmd("PING").query_async::<String>(&mut conn).await?;
            redis::cmd("INCR")
                .arg(&epoch)
                .query_async::<i64>(&mut conn)
                .await
        };
        if let Ok(Ok(epoch)) = tokio::time::timeout(COMMAND_TIMEOUT, attempt).await {
            self.up.store(true, Ordering::Release);
            metrics::gauge!(REDIS_DEGRADED).set(0.0);
            tracing::info!(
                epoch,
                "Redis reachable again: cache, rate limits and events are shared again"
            );
        }
    }
}

/// Watches Redis: pings it while up (so an outage is noticed even without traffic) and
/// tries it again while down. Ends when the store is dropped.
async fn probe(backend: Weak<RedisBackend>) {
    loop {
        let pause = match backend.upgrade() {
            Some(b) if b.up.load(Ordering::Acquire) => PROBE_WHILE_UP,
            Some(_) => PROBE_WHILE_DOWN,
            None => return,
        };
        tokio::time::sleep(pause).await;
        let Some(b) = backend.upgrade() else { return };
        if b.up.load(Ordering::Acquire) {
            let _: Option<String> = b.query("ping", redis::cmd("PING")).await;
        } else {
            b.recover().await;
        }
    }
}

/// Relays messages from the Redis channel to this process's subscribers, reconnecting
/// whenever the subscription is lost. Ends when the store is dropped.
async fn relay(backend: Weak<RedisBackend>, local: Arc<Local>) {
    let mut lost = false;
    loop {
        let Some((client, channel)) = backend.upgrade().map(|b| (b.client.clone(), b.channel()))
        else {
            return;
        };
        let subscribed = tokio::time::timeout(COMMAND_TIMEOUT * 4, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            RedisResult::Ok(pubsub)
        })
        .await;
        if let Ok(Ok(mut pubsub)) = subscribed {
            if lost {
                tracing::info!("Redis pub/sub subscription restored");
            }
            let mut messages = pubsub.on_message();
            loop {
                tokio::select! {
                    message = messages.next() => match message {
                        Some(message) => {
                            let text = String::from_utf8_lossy(message.get_payload_bytes());
                            if let Some((topic, payload)) = text.split_once('\n') {
                                local.deliver(topic, payload);
                            }
                        }
                        None => break,
                    },
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {
                        if backend.strong_count() == 0 {
                            return;
                        }
                    }
                }
            }
            tracing::warn!("Redis pub/sub subscription lost; resubscribing");
            lost = true;
        } else if !lost {
            tracing::warn!("Redis pub/sub unavailable; retrying");
            lost = true;
        }
        tokio::time::sleep(RESUBSCRIBE_AFTER).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUCKET: LeakyBucket = LeakyBucket {
        capacity: 100,
        leak_per_second: 10,
    };

    #[tokio::test]
    async fn cached_values_expire() {
        let store = SharedStore::in_process();
        assert_eq!(store.cache_get("k").await, None);
        store.cache_put("k", "v", Duration::from_secs(60)).await;
        assert_eq!(store.cache_get("k").await.as_deref(), Some("v"));
        store
            .cache_put("short", "v", Duration::from_millis(1))
            .await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(store.cache_get("short").await, None);
    }

    #[tokio::test]
    async fn a_full_cache_drops_expired_entries_first() {
        let local = Local::new();
        local.cache_put("stale", "v", Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        for i in 0..LOCAL_CACHE_ENTRIES {
            local.cache_put(&format!("k{i}"), "v", Duration::from_secs(60));
        }
        assert!(lock(&local.cache).len() <= LOCAL_CACHE_ENTRIES);
        assert_eq!(local.cache_get("stale"), None);
        assert_eq!(
            local.cache_get(&format!("k{}", LOCAL_CACHE_ENTRIES - 1)),
            Some("v".into())
        );
    }

    #[tokio::test]
    async fn counters_count_and_versions_change_with_them() {
        let store = SharedStore::in_process();
        let before = store.version("consortium:1").await.expect("always known");
        assert_eq!(before.count, 0);
        assert_eq!(store.increment("consortium:1").await, Some(1));
        assert_eq!(store.increment("consortium:1").await, Some(2));
        let after = store.version("consortium:1").await.expect("always known");
        assert_ne!(before, after);
        assert_eq!(after.to_string(), "0.2");
        assert_eq!(
            store.version("consortium:2").await.map(|v| v.count),
            Some(0)
        );
    }

    #[tokio::test]
    async fn a_claim_is_held_by_the_first_caller_until_it_expires() {
        let store = SharedStore::in_process();
        assert_eq!(
            store.claim("day", Duration::from_millis(20)).await,
            Some(true)
        );
        assert_eq!(
            store.claim("day", Duration::from_millis(20)).await,
            Some(false)
        );
        assert_eq!(
            store.claim("other", Duration::from_secs(60)).await,
            Some(true)
        );
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(
            store.claim("day", Duration::from_secs(60)).await,
            Some(true)
        );
        assert_eq!(
            lock(&store.local.claims).len(),
            2,
            "the expired claim was dropped, not kept beside the new one"
        );
    }

    #[tokio::test]
    async fn buckets_are_per_key_and_refuse_an_overflow() {
        let store = SharedStore::in_process();
        let d = store.pour("alice", &BUCKET, 90).await;
        assert!(d.allowed);
        assert_eq!(d.remaining, 10);
        let d = store.pour("alice", &BUCKET, 50).await;
        assert!(!d.allowed);
        assert!(d.retry_after_secs >= 3, "{d:?}");
        assert!(
            store.pour("bob", &BUCKET, 50).await.allowed,
            "another subject has its own bucket"
        );
    }

    #[tokio::test]
    async fn published_messages_reach_every_subscriber_of_the_topic() {
        let store = SharedStore::in_process();
        let mut a = store.subscribe("news");
        let mut b = store.subscribe("news");
        let mut other = store.subscribe("other");
        store.publish("news", "hello").await;
        assert_eq!(a.recv().await.expect("a"), "hello");
        assert_eq!(b.recv().await.expect("b"), "hello");
        assert!(other.try_recv().is_err());
        assert_eq!(store.ping().await, None, "nothing to ping in-process");
        assert!(!store.is_degraded());
    }

    #[tokio::test]
    async fn an_unreachable_redis_degrades_instead_of_failing() {
        // Nothing listens on port 1.
        let store = SharedStore::start(Some("redis://127.0.0.1:1"), "t")
            .await
            .expect("starts degraded");
        assert_eq!(store.backend(), "redis");
        assert!(store.is_degraded());
        assert_eq!(store.ping().await, Some(false));
        store.cache_put("k", "v", Duration::from_secs(60)).await;
        assert_eq!(store.cache_get("k").await, None, "no cache while degraded");
        assert_eq!(store.version("c").await, None);
        assert!(store.pour("alice", &BUCKET, 60).await.allowed);
        assert!(
            !store.pour("alice", &BUCKET, 60).await.allowed,
            "the in-process bucket still limits"
        );
        let mut rx = store.subscribe("news");
        store.publish("news", "local").await;
        assert_eq!(rx.recv().await.expect("delivered locally"), "local");
    }

    #[tokio::test]
    async fn a_bad_redis_url_is_refused() {
        assert!(SharedStore::start(Some("not a url"), "t").await.is_err());
    }
}
