//! Politeness: page actions on one host, evenly paced.

use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

/// Paces page actions (loads, scrolls, clicks) per host at `rate` per second.
///
/// Every action waits on a `governor` limiter keyed by host with a burst of one. That
/// alone paces when actions *start*, but a browser may send the request an action
/// causes much later (a fresh Chromium took 1.5 s to begin its first navigation), which
/// bunches requests together at the server. So actions on one host also never overlap,
/// and each starts at least one period after the previous one finished: every request
/// an action causes reaches the host before the next action begins.
pub(crate) struct HostPacer {
    limiter: DefaultKeyedRateLimiter<String>,
    period: Duration,
    /// Per host: when its last action finished.
    last_done: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Instant>>>>>,
}

impl HostPacer {
    /// `rate` must be from 0.001 to 1000 (checked by the caller).
    pub(crate) fn new(rate: f64) -> Self {
        let period = Duration::from_secs_f64(1.0 / rate);
        let quota = Quota::with_period(period).expect("a positive period").allow_burst(NonZeroU32::MIN);
        Self { limiter: RateLimiter::keyed(quota), period, last_done: Mutex::default() }
    }

    /// Runs `action` on `host` when the pace allows (`what` names it in debug logs).
    pub(crate) async fn act<T>(&self, host: &str, what: &str, action: impl Future<Output = T>) -> T {
        let slot = self.last_done.lock().expect("pacer lock").entry(host.to_owned()).or_default().clone();
        let mut last_done = slot.lock().await;
        if let Some(done) = *last_done {
            tokio::time::sleep_until(done + self.period).await;
        }
        self.limiter.until_key_ready(&host.to_owned()).await;
        let epoch_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        tracing::debug!(host, action = what, epoch_ms, "page action");
        let result = action.await;
        *last_done = Some(Instant::now());
        result
    }
}
