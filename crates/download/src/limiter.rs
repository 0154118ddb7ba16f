//! Per-host pacing of requests, on tokio's clock (so tests can pause it).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Spaces the requests to each host at least one period apart, with no burst: each
/// request reserves the next free slot of its host, so waiting requests go out in the
/// order they asked and a host never sees more than the rate in any window.
pub(crate) struct HostLimiter {
    period: Duration,
    /// Per host: the earliest moment the next request may start.
    next_slot: Mutex<HashMap<String, Instant>>,
}

impl HostLimiter {
    /// A limiter at `rate` requests per second per host (positive, checked by
    /// [`DownloadOptions::validate`](crate::DownloadOptions::validate)).
    pub(crate) fn new(rate: f64) -> Self {
        Self { period: Duration::from_secs_f64(1.0 / rate), next_slot: Mutex::default() }
    }

    /// Waits until a request to `host` may start.
    pub(crate) async fn until_ready(&self, host: &str) {
        let slot = {
            let mut next = self.next_slot.lock().expect("limiter lock");
            let now = Instant::now();
            let slot = next.get(host).copied().unwrap_or(now).max(now);
            next.insert(host.to_owned(), slot + self.period);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    async fn start_times(limiter: Arc<HostLimiter>, host: &'static str, requests: usize) -> Vec<Duration> {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..requests {
            let limiter = limiter.clone();
            tasks.push(tokio::spawn(async move {
                limiter.until_ready(host).await;
                Instant::now() - started
            }));
        }
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap());
        }
        times.sort();
        times
    }

    #[tokio::test(start_paused = true)]
    async fn requests_to_one_host_are_spaced_by_the_period_with_no_burst() {
        let limiter = Arc::new(HostLimiter::new(2.0));
        let times = start_times(limiter, "a.example", 6).await;
        let expected: Vec<Duration> = (0..6).map(|i| Duration::from_millis(500 * i)).collect();
        assert_eq!(times, expected);
    }

    #[tokio::test(start_paused = true)]
    async fn hosts_do_not_wait_for_each_other() {
        let limiter = Arc::new(HostLimiter::new(1.0));
        let (a, b) = tokio::join!(start_times(limiter.clone(), "a.example", 3), start_times(limiter, "b.example", 3));
        let expected: Vec<Duration> = (0..3).map(Duration::from_secs).collect();
        assert_eq!((a, b), (expected.clone(), expected));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_host_does_not_save_up_a_burst() {
        let limiter = HostLimiter::new(1.0);
        limiter.until_ready("a.example").await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        let before = Instant::now();
        limiter.until_ready("a.example").await;
        limiter.until_ready("a.example").await;
        assert_eq!(Instant::now() - before, Duration::from_secs(1));
    }
}
