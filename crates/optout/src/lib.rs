//! The web's opt-outs, decided per URL for crawl and download: robots.txt (RFC 9309),
//! the W3C TDM Reservation Protocol (`/.well-known/tdmrep.json` and the `tdm-reservation`
//! / `tdm-policy` headers), and `noai` / `noimageai` (the `X-Robots-Tag` header and a
//! page's `<meta name="robots">`).
//!
//! [`OptOuts`] reads each origin's two files once per run, through the caller's pacing
//! (so they count against the host like any request), and keeps them in the data
//! directory's `opt-outs/` for a day, as RFC 9309 allows; a robots.txt that could not be
//! read is not kept, so the next run asks again. [`OptOuts::before_fetch`] and
//! [`OptOuts::after_headers`] give the [`Verdict`] for one URL, typed and with the rule
//! that decided it ([`OptOut`]), so that every record can say why.
//!
//! It knows URLs, headers and files of rules; not stages, manifests of records or images.

mod robots;
mod tdmrep;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use picseek_manifest::{
    DataDir, FailureReason, HostOptOuts, InvalidOption, OptOut, OptOutNote, OptOutSummary, RobotsTxtState,
};
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};

pub use robots::{MAX_ROBOTS_BYTES, RobotsFile};
pub use tdmrep::{Reservation, TdmRule};

/// How opt-outs are treated. [`Default`]: all obeyed, as `picseek`.
#[derive(Debug, Clone, PartialEq)]
pub struct OptOutOptions {
    /// The product token matched against robots.txt's `User-agent` lines and sent as the
    /// product of the `User-Agent` header.
    pub user_agent: String,
    /// Read and record robots.txt, but fetch what it disallows (`--ignore-robots`).
    pub ignore_robots: bool,
    /// Record `noai` / `noimageai`, but fetch anyway (`--ignore-noai`).
    pub ignore_noai: bool,
    /// TDM policies the user holds: a reservation offering one of them is fetched.
    pub tdm_policies: Vec<String>,
    /// Where each origin's robots.txt and tdmrep.json are kept between runs.
    pub cache_dir: PathBuf,
    /// How long a kept robots.txt is used before it is read again (RFC 9309: a day).
    pub max_age: Duration,
}

impl Default for OptOutOptions {
    fn default() -> Self {
        Self {
            user_agent: Self::DEFAULT_AGENT.into(),
            ignore_robots: false,
            ignore_noai: false,
            tdm_policies: Vec::new(),
            cache_dir: DataDir::default().opt_out_cache(),
            max_age: Duration::from_secs(24 * 3600),
        }
    }
}

impl OptOutOptions {
    /// The user agent by default.
    pub const DEFAULT_AGENT: &str = "picseek";

    /// The `User-Agent` header: the agent, picseek's version and what it is.
    pub fn user_agent_header(&self) -> String {
        format!("{}/{} (personal image-retrieval dataset builder)", self.user_agent, env!("CARGO_PKG_VERSION"))
    }

    /// Refuses an agent robots.txt cannot name (RFC 9309: letters, `-` and `_`) and a
    /// policy that is not an absolute URL.
    pub fn validate(&self) -> Result<(), InvalidOption> {
        let token_chars = |c: char| c.is_ascii_alphabetic() || c == '-' || c == '_';
        if self.user_agent.is_empty() || !self.user_agent.chars().all(token_chars) {
            return Err(InvalidOption::new(
                "user_agent",
                format!("must be letters, '-' and '_' only (a robots.txt product token), not {:?}", self.user_agent),
            ));
        }
        if let Some(bad) = self.tdm_policies.iter().find(|p| url::Url::parse(p).is_err()) {
            return Err(InvalidOption::new("tdm_policies", format!("{bad:?} is not an absolute URL")));
        }
        Ok(())
    }

    /// The summary of a run with these options over `hosts`.
    pub fn summary(&self, hosts: Vec<HostOptOuts>) -> OptOutSummary {
        OptOutSummary {
            agent: self.user_agent.clone(),
            ignore_robots: self.ignore_robots,
            ignore_noai: self.ignore_noai,
            tdm_policies: self.tdm_policies.clone(),
            hosts,
        }
    }
}

/// What one origin declared, as read at `fetched_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostRules {
    /// `scheme://host[:port]`.
    pub origin: String,
    /// Its robots.txt.
    pub robots: RobotsFile,
    /// Its `tdmrep.json` rules, if it has the file.
    pub tdmrep: Option<Vec<TdmRule>>,
    /// Seconds since the epoch.
    pub fetched_at: u64,
}

impl HostRules {
    fn robots_url(&self) -> String {
        format!("{}/robots.txt", self.origin)
    }

    fn tdmrep_url(&self) -> String {
        format!("{}/.well-known/tdmrep.json", self.origin)
    }

    /// The `Crawl-delay` that applies to `agent`: a floor on the host's pace.
    pub fn crawl_delay(&self, agent: &str) -> Option<Duration> {
        self.robots.crawl_delay(agent)
    }

    /// What its robots.txt was.
    pub fn robots_state(&self) -> RobotsTxtState {
        match self.robots {
            RobotsFile::Rules { .. } => RobotsTxtState::Rules,
            RobotsFile::None { .. } => RobotsTxtState::None,
            RobotsFile::Unavailable { .. } => RobotsTxtState::Unavailable,
        }
    }

    /// The robots.txt opt-out for `url`, if any.
    pub fn robots_opt_out(&self, agent: &str, url: &str) -> Option<OptOut> {
        let (line, rule) = self.robots.disallowing_line(agent, url)?;
        Some(match &self.robots {
            RobotsFile::Unavailable { reason } => {
                OptOut::RobotsUnavailable { robots_txt: self.robots_url(), reason: reason.clone() }
            }
            _ => OptOut::Robots { robots_txt: self.robots_url(), rule, line },
        })
    }

    /// The `tdmrep.json` reservation of `url`, if any.
    pub fn tdm_reservation(&self, url: &url::Url) -> Option<Reservation> {
        tdmrep::reservation_for(self.tdmrep.as_ref()?, &self.tdmrep_url(), url)
    }
}

/// What to do with one URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Fetch it: nothing applies.
    Fetch,
    /// Fetch it although an opt-out applies, because a flag says so (the note names it).
    FetchOverriding(OptOutNote),
    /// Do not fetch it.
    Skip(OptOutNote),
}

impl Verdict {
    /// The note to record, if any.
    pub fn note(&self) -> Option<&OptOutNote> {
        match self {
            Verdict::Fetch => None,
            Verdict::FetchOverriding(note) | Verdict::Skip(note) => Some(note),
        }
    }
}

/// The `noai` or `noimageai` directive in a robots directive list (`X-Robots-Tag`'s
/// value, or a `<meta name="robots">`'s content), if it has one; a list addressed to a
/// user agent (`otherbot: noai`) counts too, as picseek cannot tell which bots mean it.
pub fn noai_directive(directives: &str) -> Option<&'static str> {
    let lower = directives.to_ascii_lowercase();
    let mut words = lower.split([',', ' ', ':']).map(str::trim);
    words.find_map(|w| match w {
        "noai" => Some("noai"),
        "noimageai" => Some("noimageai"),
        _ => None,
    })
}

/// How the caller paces requests to one host: robots.txt and tdmrep.json are requests
/// like any other, so they wait their turn, and a refusal slows the host down.
pub trait HostPace {
    /// Held while a request runs.
    type Turn;
    /// Waits for the host's next turn.
    fn turn(&self) -> impl Future<Output = Self::Turn>;
    /// The host refused the request of `turn` (429, 503), asking to wait `retry_after`.
    fn refused(&self, turn: &Self::Turn, retry_after: Option<Duration>);
    /// The host answered.
    fn served(&self);
    /// The host's robots.txt asks for `delay` between requests: the host's slowest pace
    /// from now on.
    fn floor(&self, delay: Duration);
}

/// `Retry-After` as seconds or an HTTP date.
pub fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or_default())
}

/// Attempts at a robots.txt the host refuses (429, 503) before it counts as unavailable.
const ROBOTS_ATTEMPTS: usize = 4;

/// The opt-outs of a run: each origin's rules, read once, and the verdicts.
pub struct OptOuts {
    options: OptOutOptions,
    client: reqwest::Client,
    origins: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Arc<HostRules>>>>>,
}

impl OptOuts {
    /// Opt-outs as `options` say, read through `client` (the caller's, with its user
    /// agent and timeouts).
    pub fn new(options: OptOutOptions, client: reqwest::Client) -> Self {
        Self { options, client, origins: Mutex::default() }
    }

    /// The options.
    pub fn options(&self) -> &OptOutOptions {
        &self.options
    }

    /// The rules of `url`'s origin: kept from an earlier run if younger than
    /// `max_age`, else read now (robots.txt, then tdmrep.json), each request on the
    /// host's `pace`, which also learns the host's `Crawl-delay`. One read per origin
    /// per run, however many callers ask at once.
    pub async fn rules_for(&self, url: &url::Url, pace: &impl HostPace) -> Arc<HostRules> {
        let origin = url.origin().ascii_serialization();
        let cell = self.origins.lock().expect("opt-out lock").entry(origin.clone()).or_default().clone();
        cell.get_or_init(|| async { Arc::new(self.read_rules(&origin, pace).await) }).await.clone()
    }

    /// The rules of each origin of `urls`, in order: as this run read them, else as an
    /// earlier run kept them (an origin never read is left out).
    pub fn known_rules<'a>(&self, urls: impl IntoIterator<Item = &'a str>) -> Vec<HostRules> {
        let origins: std::collections::BTreeSet<String> = urls
            .into_iter()
            .filter_map(|u| url::Url::parse(u).ok())
            .map(|u| u.origin().ascii_serialization())
            .filter(|o| o != "null")
            .collect();
        let read = self.origins.lock().expect("opt-out lock").clone();
        origins
            .into_iter()
            .filter_map(|origin| match read.get(&origin).and_then(|c| c.get()) {
                Some(rules) => Some((**rules).clone()),
                None => self.kept(&origin),
            })
            .collect()
    }

    /// The kept rules of `origin`, if a run read them (whatever their age).
    pub fn kept(&self, origin: &str) -> Option<HostRules> {
        let path = self.cache_path(origin);
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }

    fn cache_path(&self, origin: &str) -> PathBuf {
        let name: String =
            origin.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect();
        self.options.cache_dir.join(format!("{name}.json"))
    }

    async fn read_rules(&self, origin: &str, pace: &impl HostPace) -> HostRules {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if let Some(kept) = self.kept(origin).filter(|k| k.origin == origin)
            && now.saturating_sub(kept.fetched_at) < self.options.max_age.as_secs()
            && kept.robots_state() != RobotsTxtState::Unavailable
        {
            tracing::debug!("{origin}: robots.txt and tdmrep.json as read {} s ago", now - kept.fetched_at);
            if let Some(delay) = kept.crawl_delay(&self.options.user_agent) {
                pace.floor(delay);
            }
            return kept;
        }
        let robots = self.read_robots(origin, pace).await;
        if let Some(delay) = robots.crawl_delay(&self.options.user_agent) {
            pace.floor(delay);
        }
        let tdmrep = self.read_tdmrep(origin, pace).await;
        let rules = HostRules { origin: origin.to_owned(), robots, tdmrep, fetched_at: now };
        if rules.robots_state() != RobotsTxtState::Unavailable {
            let path = self.cache_path(origin);
            if let Err(e) = picseek_manifest::write_json_atomic(&path, &rules) {
                tracing::warn!("{e}; {origin}'s robots.txt will be read again next run");
            }
        }
        rules
    }

    /// robots.txt, asked again (on the host's slower pace) while the host refuses.
    async fn read_robots(&self, origin: &str, pace: &impl HostPace) -> RobotsFile {
        let url = format!("{origin}/robots.txt");
        let mut attempts = 0;
        let response = loop {
            let turn = pace.turn().await;
            attempts += 1;
            let response = match self.client.get(&url).send().await {
                Ok(response) => response,
                Err(e) => return RobotsFile::Unavailable { reason: describe_error(&e) },
            };
            if !matches!(response.status().as_u16(), 429 | 503) {
                pace.served();
                break response;
            }
            pace.refused(&turn, parse_retry_after(response.headers()));
            if attempts == ROBOTS_ATTEMPTS {
                return RobotsFile::Unavailable { reason: format!("HTTP {}", response.status().as_u16()) };
            }
        };
        let status = response.status().as_u16();
        match status {
            200..=299 => match response.bytes().await {
                Ok(bytes) => {
                    let bytes = &bytes[..bytes.len().min(MAX_ROBOTS_BYTES)];
                    RobotsFile::Rules { body: String::from_utf8_lossy(bytes).into_owned() }
                }
                Err(e) => RobotsFile::Unavailable { reason: describe_error(&e) },
            },
            400..=499 => RobotsFile::None { http_status: status },
            _ => RobotsFile::Unavailable { reason: format!("HTTP {status}") },
        }
    }

    async fn read_tdmrep(&self, origin: &str, pace: &impl HostPace) -> Option<Vec<TdmRule>> {
        let url = format!("{origin}/.well-known/tdmrep.json");
        let turn = pace.turn().await;
        let response = self.client.get(&url).send().await.ok()?;
        match response.status().as_u16() {
            429 | 503 => pace.refused(&turn, parse_retry_after(response.headers())),
            _ => pace.served(),
        }
        drop(turn);
        let response = Some(response).filter(|r| r.status().is_success())?;
        let body = response.text().await.ok()?;
        Some(tdmrep::parse_rules(&body, &url))
    }

    /// The verdict on `url` before it is fetched, from its origin's `rules`.
    pub fn before_fetch(&self, rules: &HostRules, url: &url::Url) -> Verdict {
        if let Some(opt_out) = rules.robots_opt_out(&self.options.user_agent, url.as_str()) {
            return self.decide(opt_out, self.options.ignore_robots.then(|| "--ignore-robots".to_owned()));
        }
        match rules.tdm_reservation(url) {
            Some(reservation) => self.reserved(reservation),
            None => Verdict::Fetch,
        }
    }

    /// The verdict on a response, from its headers (`tdm-reservation`, `X-Robots-Tag`).
    pub fn after_headers(&self, headers: &HeaderMap) -> Verdict {
        if let Some(reservation) = tdmrep::reservation_in_headers(headers) {
            return self.reserved(reservation);
        }
        let tags = headers.get_all("x-robots-tag").iter().filter_map(|v| v.to_str().ok());
        match tags.filter_map(noai_directive).next() {
            Some(directive) => self.noai(directive, "the X-Robots-Tag header"),
            None => Verdict::Fetch,
        }
    }

    /// The verdict for `directive` (`noai`, `noimageai`) declared by `declared_by`.
    pub fn noai(&self, directive: &str, declared_by: &str) -> Verdict {
        let opt_out = OptOut::NoAi { directive: directive.to_owned(), declared_by: declared_by.to_owned() };
        self.decide(opt_out, self.options.ignore_noai.then(|| "--ignore-noai".to_owned()))
    }

    fn reserved(&self, reservation: Reservation) -> Verdict {
        let held = reservation.policy.as_ref().filter(|p| self.options.tdm_policies.contains(p));
        let overridden_by = held.map(|policy| format!("--tdm-policy {policy}"));
        let opt_out = OptOut::TdmReserved { declared_by: reservation.declared_by, policy: reservation.policy };
        self.decide(opt_out, overridden_by)
    }

    fn decide(&self, opt_out: OptOut, overridden_by: Option<String>) -> Verdict {
        match overridden_by {
            Some(flag) => Verdict::FetchOverriding(OptOutNote { opt_out, overridden_by: Some(flag) }),
            None => Verdict::Skip(OptOutNote { opt_out, overridden_by: None }),
        }
    }

    /// One row per origin this run read, with what its URLs met: `notes` are the
    /// opt-out notes of the records, with each record's URL.
    pub fn host_summaries<'a>(
        &self,
        notes: impl IntoIterator<Item = (&'a str, &'a OptOutNote)>,
        rules: &[HostRules],
    ) -> Vec<HostOptOuts> {
        let mut rows: Vec<HostOptOuts> = rules
            .iter()
            .map(|r| HostOptOuts {
                origin: r.origin.clone(),
                robots_txt: r.robots_state(),
                crawl_delay_seconds: r.crawl_delay(&self.options.user_agent).map(|d| d.as_secs_f64()),
                tdmrep_json: r.tdmrep.is_some(),
                fetched_at: r.fetched_at,
                ..HostOptOuts::default()
            })
            .collect();
        for (url, note) in notes {
            let origin = url::Url::parse(url).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
            let Some(row) = rows.iter_mut().find(|r| r.origin == origin) else { continue };
            match note.overridden_by {
                Some(_) => row.overridden += 1,
                None => *row.skipped.entry(note.opt_out.reason().to_string()).or_default() += 1,
            }
        }
        rows
    }
}

/// Whether a reason is an opt-out's (skipped on purpose, re-decided on every run).
pub fn is_opt_out(reason: FailureReason) -> bool {
    matches!(
        reason,
        FailureReason::Robots | FailureReason::RobotsUnavailable | FailureReason::TdmReserved | FailureReason::NoAi
    )
}

fn describe_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer in time".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_as_seconds_or_date() {
        let mut headers = HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(parse_retry_after(&headers), Some(Duration::from_secs(7)));
        let later = std::time::SystemTime::now() + Duration::from_secs(30);
        headers.insert(reqwest::header::RETRY_AFTER, httpdate::fmt_http_date(later).parse().unwrap());
        let parsed = parse_retry_after(&headers).unwrap();
        assert!(parsed > Duration::from_secs(27) && parsed <= Duration::from_secs(30), "{parsed:?}");
    }

    #[test]
    fn noai_is_found_in_any_directive_list() {
        assert_eq!(noai_directive("noindex, noai"), Some("noai"));
        assert_eq!(noai_directive("otherbot: NoImageAI"), Some("noimageai"));
        assert_eq!(noai_directive("noindex, nofollow"), None);
    }

    #[test]
    fn agents_must_be_product_tokens_and_policies_urls() {
        assert!(OptOutOptions::default().validate().is_ok());
        let bad = OptOutOptions { user_agent: "picseek/1.0".into(), ..OptOutOptions::default() };
        assert_eq!(bad.validate().unwrap_err().option, "user_agent");
        let bad = OptOutOptions { tdm_policies: vec!["policy".into()], ..OptOutOptions::default() };
        assert_eq!(bad.validate().unwrap_err().option, "tdm_policies");
    }

    fn opt_outs(options: OptOutOptions) -> OptOuts {
        OptOuts::new(options, reqwest::Client::new())
    }

    #[test]
    fn a_held_policy_overrides_only_the_reservation_that_offers_it() {
        let rules = HostRules {
            origin: "http://h.example".into(),
            robots: RobotsFile::None { http_status: 404 },
            tdmrep: Some(vec![TdmRule {
                location: "/".into(),
                reservation: 1,
                policy: Some("https://h.example/policy".into()),
            }]),
            fetched_at: 0,
        };
        let url = url::Url::parse("http://h.example/a.jpg").unwrap();
        assert!(matches!(opt_outs(OptOutOptions::default()).before_fetch(&rules, &url), Verdict::Skip(_)));
        let holding = OptOutOptions { tdm_policies: vec!["https://h.example/policy".into()], ..Default::default() };
        let Verdict::FetchOverriding(note) = opt_outs(holding).before_fetch(&rules, &url) else { panic!() };
        assert_eq!(note.overridden_by.as_deref(), Some("--tdm-policy https://h.example/policy"));
        let other = OptOutOptions { tdm_policies: vec!["https://other.example/p".into()], ..Default::default() };
        assert!(matches!(opt_outs(other).before_fetch(&rules, &url), Verdict::Skip(_)));
    }
}
