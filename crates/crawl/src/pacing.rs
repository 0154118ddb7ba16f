//! Politeness: page actions on one host, evenly paced.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Paces page actions (loads, scrolls, clicks) per host at `rate` per second.
///
/// Pacing when actions *start* is not enough: a browser may send the request an action
/// causes much later (a fresh Chromium took 1.5 s to begin its first navigation), which
/// bunches requests together at the server. So actions on one host never overlap, and
/// each starts at least one period after the previous one *finished*: every request an
/// action causes reaches the host before the next action begins, and no two actions
/// start closer than one period. Only tokio's clock is used, so tests can pause it.
pub(crate) struct HostPacer {
    period: Duration,
    /// Per host: when its last action finished.
    last_done: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Instant>>>>>,
}

impl HostPacer {
    /// `rate` must be from 0.001 to 1000 (checked by [`CrawlOptions::validate`](crate::CrawlOptions::validate)).
    pub(crate) fn new(rate: f64) -> Self {
        Self { period: Duration::from_secs_f64(1.0 / rate), last_done: Mutex::default() }
    }

    /// Runs `action` on `host` when the pace allows (`what` names it in debug logs).
    pub(crate) async fn act<T>(&self, host: &str, what: &str, action: impl Future<Output = T>) -> T {
        let slot = self.last_done.lock().expect("pacer lock").entry(host.to_owned()).or_default().clone();
        let mut last_done = slot.lock().await;
        if let Some(done) = *last_done {
            tokio::time::sleep_until(done + self.period).await;
        }
        let epoch_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        tracing::debug!(host, action = what, epoch_ms, "page action");
        let result = action.await;
        *last_done = Some(Instant::now());
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Starts and ends of actions that each take `busy`, run from `tasks` tasks at once.
    async fn run_actions(pacer: Arc<HostPacer>, host: &'static str, tasks: usize, busy: Duration) -> Vec<(Instant, Instant)> {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut handles = Vec::new();
        for _ in 0..tasks {
            let (pacer, log) = (pacer.clone(), log.clone());
            handles.push(tokio::spawn(async move {
                for _ in 0..3 {
                    pacer
                        .act(host, "test", async {
                            let start = Instant::now();
                            tokio::time::sleep(busy).await;
                            log.lock().unwrap().push((start, Instant::now()));
                        })
                        .await;
                }
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        let mut log = log.lock().unwrap().clone();
        log.sort();
        log
    }

    #[tokio::test(start_paused = true)]
    async fn actions_on_one_host_never_overlap_and_start_a_period_after_the_last_ended() {
        let pacer = Arc::new(HostPacer::new(2.0));
        let log = run_actions(pacer, "a.example", 3, Duration::from_millis(300)).await;
        assert_eq!(log.len(), 9);
        for pair in log.windows(2) {
            let ((_, ended), (next_start, _)) = (pair[0], pair[1]);
            assert!(next_start >= ended + Duration::from_millis(500), "{:?}", next_start - ended);
        }
        // Nine actions of 0.3 s with 0.5 s between them: exactly 8 gaps, no more waiting.
        let span = log[8].1 - log[0].0;
        assert_eq!(span, Duration::from_millis(9 * 300 + 8 * 500));
    }

    #[tokio::test(start_paused = true)]
    async fn hosts_are_paced_independently() {
        let pacer = Arc::new(HostPacer::new(1.0));
        let started = Instant::now();
        let (a, b) = tokio::join!(
            run_actions(pacer.clone(), "a.example", 1, Duration::ZERO),
            run_actions(pacer.clone(), "b.example", 1, Duration::ZERO)
        );
        // Each host: actions at 0, 1 and 2 s, side by side.
        for log in [a, b] {
            let offsets: Vec<Duration> = log.iter().map(|(s, _)| *s - started).collect();
            assert_eq!(offsets, [0, 1, 2].map(Duration::from_secs));
        }
    }
}
