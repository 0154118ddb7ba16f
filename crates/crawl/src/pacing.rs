//! Politeness: page actions on one host, evenly paced, slower while the host throttles.

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
///
/// When a host throttles (its page says 429, 503 or "rate limit"), its period doubles,
/// up to [`MAX_PERIOD`]; each action that goes through takes a tenth of the way back to
/// the `--rate` period. Page loads are few and each is costly to lose, so the back-off is
/// steeper than the downloads' (halving, as TCP does) and the way back slow.
pub(crate) struct HostPacer {
    period: Duration,
    /// Per host: when its last action finished.
    last_done: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Instant>>>>>,
    /// Per host, while slowed down: its period now.
    slowed: Mutex<HashMap<String, Duration>>,
    /// Per host: the shortest period it allows (its robots.txt's `Crawl-delay`).
    floors: Mutex<HashMap<String, Duration>>,
}

/// A host's pace in a crawl, for the opt-out files read from it: each request is an
/// action of its own.
pub(crate) struct PagePace<'a> {
    pub(crate) pacer: &'a HostPacer,
    pub(crate) host: &'a str,
}

impl picseek_optout::HostPace for PagePace<'_> {
    type Turn = ();

    fn turn(&self) -> impl Future<Output = ()> {
        self.pacer.act(self.host, "robots.txt", async {})
    }

    fn refused(&self, _turn: &(), _retry_after: Option<Duration>) {
        self.pacer.slow_down(self.host);
    }

    fn served(&self) {
        self.pacer.recover(self.host);
    }

    fn floor(&self, delay: Duration) {
        self.pacer.set_floor(self.host, delay);
    }
}

/// The slowest a throttling host's actions are paced.
pub(crate) const MAX_PERIOD: Duration = Duration::from_secs(60);

impl HostPacer {
    /// `rate` must be from 0.001 to 1000 (checked by [`CrawlOptions::validate`](crate::CrawlOptions::validate)).
    pub(crate) fn new(rate: f64) -> Self {
        Self {
            period: Duration::from_secs_f64(1.0 / rate),
            last_done: Mutex::default(),
            slowed: Mutex::default(),
            floors: Mutex::default(),
        }
    }

    fn period_of(&self, host: &str) -> Duration {
        let period = self.slowed.lock().expect("pacer lock").get(host).copied().unwrap_or(self.period);
        self.floors.lock().expect("pacer lock").get(host).map_or(period, |floor| period.max(*floor))
    }

    /// Actions on `host` start at least `floor` apart from now on (its `Crawl-delay`).
    pub(crate) fn set_floor(&self, host: &str, floor: Duration) {
        self.floors.lock().expect("pacer lock").insert(host.to_owned(), floor);
    }

    /// The host throttled: halve its pace. Returns the new period.
    pub(crate) fn slow_down(&self, host: &str) -> Duration {
        let mut slowed = self.slowed.lock().expect("pacer lock");
        let period = slowed.get(host).copied().unwrap_or(self.period).saturating_mul(2).min(MAX_PERIOD);
        slowed.insert(host.to_owned(), period);
        period
    }

    /// An action went through: take a tenth of the way back to the normal pace.
    pub(crate) fn recover(&self, host: &str) {
        let mut slowed = self.slowed.lock().expect("pacer lock");
        if let Some(period) = slowed.get_mut(host) {
            *period = self.period + (*period - self.period).mul_f64(0.9);
            if *period <= self.period + Duration::from_millis(1) {
                slowed.remove(host);
            }
        }
    }

    /// Runs `action` on `host` when the pace allows (`what` names it in debug logs).
    pub(crate) async fn act<T>(&self, host: &str, what: &str, action: impl Future<Output = T>) -> T {
        let slot = self.last_done.lock().expect("pacer lock").entry(host.to_owned()).or_default().clone();
        let mut last_done = slot.lock().await;
        if let Some(done) = *last_done {
            tokio::time::sleep_until(done + self.period_of(host)).await;
        }
        let epoch_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        tracing::debug!(host, action = what, epoch_ms, "page action");
        let result = action.await;
        *last_done = Some(Instant::now());
        result
    }

    /// [`act`](Self::act), and the action counts as gone through (the pace recovers).
    pub(crate) async fn act_and_recover<T>(&self, host: &str, what: &str, action: impl Future<Output = T>) -> T {
        let result = self.act(host, what, action).await;
        self.recover(host);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Starts and ends of actions that each take `busy`, run from `tasks` tasks at once.
    async fn run_actions(
        pacer: Arc<HostPacer>,
        host: &'static str,
        tasks: usize,
        busy: Duration,
    ) -> Vec<(Instant, Instant)> {
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
    async fn a_throttling_host_is_slowed_down_and_recovers_slowly() {
        let pacer = HostPacer::new(1.0);
        assert_eq!(pacer.slow_down("a.example"), Duration::from_secs(2));
        assert_eq!(pacer.slow_down("a.example"), Duration::from_secs(4));
        assert_eq!(pacer.period_of("b.example"), Duration::from_secs(1), "other hosts keep their pace");
        pacer.act("a.example", "first", async {}).await;
        let before = Instant::now();
        pacer.act_and_recover("a.example", "second", async {}).await;
        assert_eq!(Instant::now() - before, Duration::from_secs(4));
        assert_eq!(pacer.period_of("a.example"), Duration::from_millis(3700));
        for _ in 0..200 {
            pacer.recover("a.example");
        }
        assert_eq!(pacer.period_of("a.example"), Duration::from_secs(1));
        for _ in 0..20 {
            pacer.slow_down("a.example");
        }
        assert_eq!(pacer.period_of("a.example"), MAX_PERIOD);
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

    #[tokio::test(start_paused = true)]
    async fn a_crawl_delay_is_a_floor_under_the_rate_and_the_recovery() {
        let pacer = HostPacer::new(10.0);
        pacer.set_floor("a.example", Duration::from_secs(3));
        assert_eq!(pacer.period_of("a.example"), Duration::from_secs(3));
        assert_eq!(pacer.period_of("b.example"), Duration::from_millis(100), "other hosts keep their pace");
        pacer.act("a.example", "first", async {}).await;
        let before = Instant::now();
        pacer.act_and_recover("a.example", "second", async {}).await;
        assert_eq!(Instant::now() - before, Duration::from_secs(3));
        // Slowed past the floor, it recovers down to the floor, not to the rate.
        for _ in 0..6 {
            pacer.slow_down("a.example");
        }
        for _ in 0..300 {
            pacer.recover("a.example");
        }
        assert_eq!(pacer.period_of("a.example"), Duration::from_secs(3));
    }
}
