//! Per-host politeness that adapts to the host: a request rate per host that backs off
//! when the host refuses (429, 503, or a burst of resets and timeouts) and creeps back
//! up while it serves, never above the user's ceiling. Only tokio's clock is used, so
//! the rule is unit-tested on a paused clock.
//!
//! The rule is AIMD, as TCP's congestion control: on a refusal the rate is multiplied
//! by [`DECREASE`]; after each success it grows by a fixed step, [`INCREASE`] of the
//! rate it had before the last cut. Two choices differ from TCP's, for a reason:
//! - The cut is 0.8, not 0.5. A rate-limiting CDN (nginx's `limit_req`, say) keeps no
//!   queue that must drain: it refuses what comes faster than its limit and serves the
//!   rest. Sitting just below the limit is the goal, and a refusal costs only a re-queued
//!   URL, so a gentle cut and a slow climb give about nine tenths of the limit with few
//!   refusals.
//! - Two cuts with no success between them are a descent from a rate far too high (the
//!   first guess for an unpaced host, say): the second and later ones halve the rate
//!   ([`STEEP_DECREASE`]), so the pace reaches the limit in a few refusals, not a dozen.
//! - One cut per round trip: refusals of requests that were sent before the last cut say
//!   nothing new (they left at the old rate), so they do not cut again, and no request
//!   follows them until the slower pace allows.
//!
//! With no ceiling (`--rate 0`) a host starts unpaced; at its first refusal the rate is
//! set from what it served over the last second (or since its first request, when that
//! is more recent, but over no less than [`FIRST_ESTIMATE_WINDOW`]). That guess errs
//! high, never low: a guess from below would take many seconds to climb back, one from
//! above costs a few refusals, one cut per round trip. `Retry-After` pauses the host for
//! that long (at most [`MAX_PAUSE`]).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// The factor a refusal cuts the rate by.
pub(crate) const DECREASE: f64 = 0.8;
/// The factor of a cut that follows another with no success between.
pub(crate) const STEEP_DECREASE: f64 = 0.5;
/// The share of the rate before the last cut added after each success.
pub(crate) const INCREASE: f64 = 0.02;
/// The shortest span the first rate of an unpaced host is measured over.
pub(crate) const FIRST_ESTIMATE_WINDOW: Duration = Duration::from_millis(50);
/// The slowest a host is ever paced: one request a minute.
pub(crate) const MIN_RATE: f64 = 1.0 / 60.0;
/// The longest pause a `Retry-After` is honoured for.
pub(crate) const MAX_PAUSE: Duration = Duration::from_secs(300);
/// Resets or timeouts within [`ERROR_WINDOW`] that count as a refusal.
const ERROR_BURST: usize = 3;
const ERROR_WINDOW: Duration = Duration::from_secs(10);

/// What one host saw, for the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HostReport {
    /// The host.
    pub host: String,
    /// Requests sent.
    pub requests: usize,
    /// Images downloaded.
    pub ok: usize,
    /// Requests refused with 429 or 503.
    pub refused: usize,
    /// The rate it ended at, requests per second (`None`: never paced).
    pub final_rate: Option<f64>,
    /// Seconds requests spent waiting for their turn, added up.
    pub waited_seconds: f64,
    /// Whether the host refused for longer than the bound, leaving URLs `throttled`.
    pub gave_up: bool,
}

/// One host's pace.
#[derive(Debug)]
struct HostPace {
    /// Requests per second now; `None` while unpaced (no ceiling and no refusal yet).
    rate: Option<f64>,
    /// The rate before the last cut: the step of each increase is a share of it.
    rate_before_cut: f64,
    /// When its first request started.
    first_request: Option<Instant>,
    /// When its latest request started.
    last_request: Option<Instant>,
    /// Whether the host served a request since the last cut.
    served_since_cut: bool,
    /// The earliest start of the next request.
    next_slot: Instant,
    /// When the last cut happened: refusals of requests sent before it do not cut again.
    last_cut: Option<Instant>,
    /// Since when the host has refused without serving in between.
    refusing_since: Option<Instant>,
    /// Successes in the last second (for the first cut without a ceiling).
    recent_successes: VecDeque<Instant>,
    /// Resets and timeouts of the last [`ERROR_WINDOW`].
    recent_errors: VecDeque<Instant>,
    /// The shortest time between two requests, whatever the rate: the host's
    /// robots.txt `Crawl-delay`.
    floor: Option<Duration>,
    report: HostReport,
}

/// The adaptive per-host limiter of a download run.
pub(crate) struct HostLimiter {
    /// `None`: no ceiling.
    ceiling: Option<f64>,
    hosts: Mutex<HashMap<String, HostPace>>,
    /// Connections per host at once.
    connections: usize,
    slots: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
}

/// A request's turn: holds one of its host's connections until dropped.
pub(crate) struct Turn {
    /// When the request started (after waiting).
    pub(crate) started: Instant,
    _connection: tokio::sync::OwnedSemaphorePermit,
}

impl HostLimiter {
    /// A limiter with `ceiling` requests per second per host (`0`: no ceiling, still
    /// adaptive) and at most `connections` requests in flight per host.
    pub(crate) fn new(ceiling: f64, connections: usize) -> Self {
        Self {
            ceiling: (ceiling > 0.0).then_some(ceiling),
            hosts: Mutex::default(),
            connections: connections.max(1),
            slots: Mutex::default(),
        }
    }

    fn with_host<T>(&self, host: &str, f: impl FnOnce(&mut HostPace) -> T) -> T {
        let mut hosts = self.hosts.lock().expect("limiter lock");
        let pace = hosts.entry(host.to_owned()).or_insert_with(|| HostPace {
            rate: self.ceiling,
            rate_before_cut: self.ceiling.unwrap_or(1.0),
            first_request: None,
            last_request: None,
            served_since_cut: true,
            next_slot: Instant::now(),
            last_cut: None,
            refusing_since: None,
            recent_successes: VecDeque::new(),
            recent_errors: VecDeque::new(),
            floor: None,
            report: HostReport { host: host.to_owned(), ..HostReport::default() },
        });
        f(pace)
    }

    /// Waits for a connection to `host` and for its pace, then returns the turn.
    pub(crate) async fn turn(&self, host: &str) -> Turn {
        let slots = self
            .slots
            .lock()
            .expect("limiter lock")
            .entry(host.to_owned())
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(self.connections)))
            .clone();
        let asked = Instant::now();
        let connection = slots.acquire_owned().await.expect("the semaphore is never closed");
        // A cut while this request waited moves its slot: take the slot only when due.
        loop {
            let slot = self.with_host(host, |pace| {
                let now = Instant::now();
                if pace.next_slot > now {
                    return Some(pace.next_slot);
                }
                let period = pace.rate.map(|rate| Duration::from_secs_f64(1.0 / rate));
                if let Some(period) = period.max(pace.floor) {
                    pace.next_slot = now + period;
                }
                pace.report.requests += 1;
                pace.first_request.get_or_insert(now);
                pace.last_request = Some(now);
                None
            });
            match slot {
                Some(at) => tokio::time::sleep_until(at).await,
                None => break,
            }
        }
        let started = Instant::now();
        self.with_host(host, |pace| pace.report.waited_seconds += (started - asked).as_secs_f64());
        Turn { started, _connection: connection }
    }

    /// Requests to `host` start at least `floor` apart from now on, whatever its rate
    /// (its robots.txt's `Crawl-delay`).
    pub(crate) fn set_floor(&self, host: &str, floor: Duration) {
        self.with_host(host, |pace| {
            pace.floor = Some(floor);
            if let Some(last) = pace.last_request {
                pace.next_slot = pace.next_slot.max(last + floor);
            }
        });
    }

    /// The host served the request.
    pub(crate) fn served(&self, host: &str) {
        let ceiling = self.ceiling;
        self.with_host(host, |pace| {
            let now = Instant::now();
            pace.report.ok += 1;
            pace.refusing_since = None;
            pace.served_since_cut = true;
            pace.recent_successes.push_back(now);
            while pace.recent_successes.front().is_some_and(|t| now - *t > Duration::from_secs(1)) {
                pace.recent_successes.pop_front();
            }
            if let Some(rate) = pace.rate {
                let raised = rate + INCREASE * pace.rate_before_cut;
                pace.rate = Some(ceiling.map_or(raised, |c| raised.min(c)));
            }
        });
    }

    /// The host refused a request that started at `started` (429 or 503), asking to
    /// wait `retry_after` if it said so. Returns how long the host has been refusing.
    pub(crate) fn refused(&self, host: &str, started: Instant, retry_after: Option<Duration>) -> Duration {
        self.with_host(host, |pace| {
            let now = Instant::now();
            pace.report.refused += 1;
            let since = *pace.refusing_since.get_or_insert(now);
            if pace.last_cut.is_none_or(|cut| started > cut) {
                cut(pace, now);
            }
            if let Some(wait) = retry_after {
                pace.next_slot = pace.next_slot.max(now + wait.min(MAX_PAUSE));
            }
            now - since
        })
    }

    /// A request to the host was reset or timed out: a burst of these counts as a refusal.
    pub(crate) fn failed(&self, host: &str, started: Instant) {
        self.with_host(host, |pace| {
            let now = Instant::now();
            pace.recent_errors.push_back(now);
            while pace.recent_errors.front().is_some_and(|t| now - *t > ERROR_WINDOW) {
                pace.recent_errors.pop_front();
            }
            if pace.recent_errors.len() >= ERROR_BURST && pace.last_cut.is_none_or(|cut| started > cut) {
                pace.recent_errors.clear();
                cut(pace, now);
            }
        });
    }

    /// The host refused for longer than the bound: its other URLs will not be tried.
    pub(crate) fn give_up(&self, host: &str) {
        self.with_host(host, |pace| pace.report.gave_up = true);
    }

    /// Whether `host` refused for longer than the bound.
    pub(crate) fn has_given_up(&self, host: &str) -> bool {
        self.with_host(host, |pace| pace.report.gave_up)
    }

    /// The rate `host` is paced at now (`None`: unpaced), and whether it is refusing.
    pub(crate) fn state(&self, host: &str) -> (Option<f64>, bool) {
        self.with_host(host, |pace| (pace.rate, pace.refusing_since.is_some()))
    }

    /// What each host saw, by host name.
    pub(crate) fn reports(&self) -> Vec<HostReport> {
        let hosts = self.hosts.lock().expect("limiter lock");
        let mut reports: Vec<HostReport> =
            hosts.values().map(|pace| HostReport { final_rate: pace.rate, ..pace.report.clone() }).collect();
        reports.sort_by(|a, b| a.host.cmp(&b.host));
        reports
    }
}

/// Cuts `pace`'s rate: by [`DECREASE`], or, for a host not paced yet, to what it served
/// in the last second.
fn cut(pace: &mut HostPace, now: Instant) {
    let current = pace.rate.unwrap_or_else(|| {
        let since_first = pace.first_request.map_or(Duration::ZERO, |t| now - t);
        let window = since_first.clamp(FIRST_ESTIMATE_WINDOW, Duration::from_secs(1));
        pace.recent_successes.len().max(1) as f64 / window.as_secs_f64()
    });
    pace.rate_before_cut = current;
    let factor = if pace.served_since_cut { DECREASE } else { STEEP_DECREASE };
    pace.served_since_cut = false;
    let rate = (current * factor).max(MIN_RATE);
    pace.rate = Some(rate);
    pace.last_cut = Some(now);
    pace.next_slot = pace.next_slot.max(now + Duration::from_secs_f64(1.0 / rate));
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn start_times(limiter: Arc<HostLimiter>, host: &'static str, requests: usize) -> Vec<Duration> {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..requests {
            let limiter = limiter.clone();
            tasks.push(tokio::spawn(async move {
                let turn = limiter.turn(host).await;
                turn.started - started
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
        let limiter = Arc::new(HostLimiter::new(2.0, 16));
        let times = start_times(limiter, "a.example", 6).await;
        let expected: Vec<Duration> = (0..6).map(|i| Duration::from_millis(500 * i)).collect();
        assert_eq!(times, expected);
    }

    #[tokio::test(start_paused = true)]
    async fn hosts_do_not_wait_for_each_other() {
        let limiter = Arc::new(HostLimiter::new(1.0, 16));
        let (a, b) = tokio::join!(start_times(limiter.clone(), "a.example", 3), start_times(limiter, "b.example", 3));
        let expected: Vec<Duration> = (0..3).map(Duration::from_secs).collect();
        assert_eq!((a, b), (expected.clone(), expected));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_host_does_not_save_up_a_burst() {
        let limiter = HostLimiter::new(1.0, 16);
        drop(limiter.turn("a.example").await);
        tokio::time::sleep(Duration::from_secs(10)).await;
        let before = Instant::now();
        drop(limiter.turn("a.example").await);
        drop(limiter.turn("a.example").await);
        assert_eq!(Instant::now() - before, Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_cuts_the_rate_once_and_successes_raise_it_back_to_the_ceiling_only() {
        let limiter = HostLimiter::new(10.0, 16);
        let before_cut = limiter.turn("a.example").await.started;
        let in_flight = limiter.turn("a.example").await.started;
        limiter.refused("a.example", before_cut, None);
        assert_eq!(limiter.state("a.example"), (Some(8.0), true));
        // Sent before the cut: no second cut.
        limiter.refused("a.example", in_flight, None);
        assert_eq!(limiter.state("a.example").0, Some(8.0));
        limiter.served("a.example");
        let raised = limiter.state("a.example").0.unwrap();
        assert!((raised - 8.2).abs() < 1e-9, "{raised}");
        for _ in 0..1000 {
            limiter.served("a.example");
        }
        assert_eq!(limiter.state("a.example"), (Some(10.0), false), "never above the ceiling");
        let report = &limiter.reports()[0];
        assert_eq!((report.requests, report.ok, report.refused), (2, 1001, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_cut_the_next_request_waits_for_the_slower_pace() {
        let limiter = HostLimiter::new(10.0, 16);
        let first = limiter.turn("a.example").await.started;
        limiter.refused("a.example", first, None);
        let next = limiter.turn("a.example").await.started;
        assert_eq!(next - first, Duration::from_secs_f64(1.0 / 8.0));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_pauses_the_host_and_refusing_time_is_counted_until_it_serves() {
        let limiter = HostLimiter::new(10.0, 16);
        let first = limiter.turn("a.example").await.started;
        assert_eq!(limiter.refused("a.example", first, Some(Duration::from_secs(30))), Duration::ZERO);
        let next = limiter.turn("a.example").await.started;
        assert_eq!(next - first, Duration::from_secs(30));
        assert_eq!(limiter.refused("a.example", next, None), Duration::from_secs(30));
        limiter.served("a.example");
        assert!(!limiter.state("a.example").1);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_ceiling_the_first_cut_comes_from_what_the_host_served() {
        let limiter = HostLimiter::new(0.0, 16);
        assert_eq!(limiter.state("a.example").0, None);
        let started = limiter.turn("a.example").await.started;
        tokio::time::sleep(Duration::from_secs(2)).await;
        for _ in 0..10 {
            limiter.served("a.example");
        }
        limiter.refused("a.example", started, None);
        assert_eq!(limiter.state("a.example").0, Some(8.0), "10 served in the last second");
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_right_at_the_start_guesses_high_not_low() {
        let limiter = HostLimiter::new(0.0, 16);
        let started = limiter.turn("a.example").await.started;
        limiter.served("a.example");
        limiter.refused("a.example", started, None);
        // One served within the shortest window of 50 ms: 20/s, cut to 16/s.
        assert_eq!(limiter.state("a.example").0, Some(16.0));
    }

    #[tokio::test(start_paused = true)]
    async fn refusals_with_no_success_between_halve_the_rate() {
        let limiter = HostLimiter::new(16.0, 16);
        let first = limiter.turn("a.example").await.started;
        limiter.refused("a.example", first, None);
        assert_eq!(limiter.state("a.example").0, Some(12.8));
        let second = limiter.turn("a.example").await.started;
        limiter.refused("a.example", second, None);
        assert_eq!(limiter.state("a.example").0, Some(6.4), "still refused: a steep cut");
        limiter.served("a.example");
        let third = limiter.turn("a.example").await.started;
        limiter.refused("a.example", third, None);
        let rate = limiter.state("a.example").0.unwrap();
        assert!((rate - (6.4 + INCREASE * 12.8) * DECREASE).abs() < 1e-9, "served in between: a gentle cut, {rate}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_resets_counts_as_a_refusal() {
        let limiter = HostLimiter::new(10.0, 16);
        let started = limiter.turn("a.example").await.started;
        limiter.failed("a.example", started);
        limiter.failed("a.example", started);
        assert_eq!(limiter.state("a.example").0, Some(10.0));
        limiter.failed("a.example", started);
        assert_eq!(limiter.state("a.example").0, Some(8.0));
    }

    #[tokio::test(start_paused = true)]
    async fn connections_per_host_are_bounded() {
        let limiter = Arc::new(HostLimiter::new(0.0, 2));
        let a = limiter.turn("a.example").await;
        let _b = limiter.turn("a.example").await;
        let waiting = tokio::spawn({
            let limiter = limiter.clone();
            async move { limiter.turn("a.example").await.started }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!waiting.is_finished(), "a third connection waits");
        let _other_host = limiter.turn("b.example").await;
        drop(a);
        assert!(waiting.await.unwrap() >= Instant::now() - Duration::from_millis(1));
    }
}
