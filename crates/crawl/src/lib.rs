//! The crawl stage: for every term of a categories file, opens the search page in
//! headless Chromium (over WebDriver, with `fantoccini`), scrolls and clicks "Load more
//! results" until it has enough photo URLs, and writes them, rewritten to one size, to
//! `urls.json` (`{category: {term: [url]}}`).
//!
//! Every page action (load, scroll, click) is paced per host (see the `pacing` module). `urls.json` and `crawl.json` (how each term ended) are written atomically after
//! each finished term, so an interrupted crawl keeps its finished terms and a re-run
//! skips them. picseek starts `chromedriver` itself unless given a WebDriver URL, and
//! stops it (and its browsers) on success, error and Ctrl-C. With [`Source::FlickrApi`]
//! the documented REST method replaces the browser.

mod flickr_api;
mod pacing;
mod photo_urls;
mod term;
mod webdriver;

pub use photo_urls::{SIZE_SUFFIXES, image_urls_in_page, rewrite_size_suffix};
pub use webdriver::{BrowserSession, ChromeDriver, find_program, reap_stale_profiles};

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use picseek_manifest::{
    Categories, CrawlManifest, InvalidOption, ManifestError, TermRecord, TermStatus, UrlsManifest, class_name,
    read_json, write_json_atomic,
};
use serde::Serialize;
use tokio::task::JoinSet;

use crate::pacing::HostPacer;

/// What to crawl and how. [`Default`] gives the documented defaults (paths relative to
/// the working directory; callers put them under their data directory).
#[derive(Debug, Clone)]
pub struct CrawlOptions {
    /// The categories file: `{"category": ["term", ...]}`.
    pub categories_file: PathBuf,
    /// `urls.json`; `crawl.json` is written beside it.
    pub urls_path: PathBuf,
    /// The search page, with `{term}` where the URL-encoded term goes.
    pub url_template: String,
    /// URLs wanted per term.
    pub max_per_term: usize,
    /// The size suffix every photo URL is rewritten to (`b` = large).
    pub size: String,
    /// Hosts (and their sub-domains) whose images are photos.
    pub photo_hosts: Vec<String>,
    /// Terms crawled at once, one browser session each.
    pub concurrency: usize,
    /// Page actions per second per host.
    pub rate: f64,
    /// A running WebDriver server to use instead of starting `chromedriver`.
    pub webdriver: Option<String>,
    /// Show the browser windows.
    pub headful: bool,
    /// Crawl terms again even when `urls.json` already has them.
    pub force: bool,
    /// The longest one term may take.
    pub term_timeout: Duration,
    /// Where photo URLs come from.
    pub source: Source,
    /// Keep only photos under these licences (Flickr's ids, see
    /// [`License::parse_filter`](picseek_manifest::License::parse_filter)); empty: all.
    pub licenses: Vec<u8>,
    /// How the search host's robots.txt, TDMRep and `noai` are treated, and the user
    /// agent.
    pub opt_outs: picseek_optout::OptOutOptions,
    /// Where progress goes: the terms, and each term under way.
    pub progress: picseek_manifest::progress::Reporter,
}

impl Default for CrawlOptions {
    fn default() -> Self {
        Self {
            categories_file: PathBuf::from("categories.json"),
            urls_path: picseek_manifest::DataDir::default().urls(),
            url_template: "https://www.flickr.com/search/?text={term}".into(),
            max_per_term: 20,
            size: "b".into(),
            photo_hosts: vec!["staticflickr.com".into()],
            concurrency: 4,
            rate: 1.0,
            webdriver: None,
            headful: false,
            force: false,
            term_timeout: Duration::from_secs(300),
            source: Source::Browser,
            licenses: Vec::new(),
            opt_outs: picseek_optout::OptOutOptions::default(),
            progress: Default::default(),
        }
    }
}

impl CrawlOptions {
    /// The default Flickr REST endpoint for [`Source::FlickrApi`].
    pub const DEFAULT_API_URL: &'static str = "https://api.flickr.com/services/rest/";

    /// Refuses options the stage cannot work with, naming the option.
    pub fn validate(&self) -> Result<(), InvalidOption> {
        if !self.url_template.contains("{term}") || !self.url_template.starts_with("http") {
            return Err(InvalidOption::new(
                "url_template",
                format!("{:?} must be an http(s) URL containing {{term}}", self.url_template),
            ));
        }
        if !(0.001..=1000.0).contains(&self.rate) {
            return Err(InvalidOption::new(
                "rate",
                format!("must be from 0.001 to 1000 actions per second, not {}", self.rate),
            ));
        }
        if !(1..=64).contains(&self.concurrency) {
            return Err(InvalidOption::new("concurrency", format!("must be from 1 to 64, not {}", self.concurrency)));
        }
        if !(1..=100_000).contains(&self.max_per_term) {
            return Err(InvalidOption::new(
                "max_per_term",
                format!("must be from 1 to 100000, not {}", self.max_per_term),
            ));
        }
        if !SIZE_SUFFIXES.contains(&self.size.as_str()) {
            return Err(InvalidOption::new(
                "size",
                format!("{:?} is not a Flickr size suffix ({})", self.size, SIZE_SUFFIXES.join(", ")),
            ));
        }
        if self.term_timeout.is_zero() || self.term_timeout > Duration::from_secs(86_400) {
            return Err(InvalidOption::new(
                "term_timeout",
                format!("must be from 1 to 86400 seconds, not {}", self.term_timeout.as_secs()),
            ));
        }
        if let Some(id) = self.licenses.iter().find(|id| picseek_manifest::License::from_id(**id).is_none()) {
            return Err(InvalidOption::new("licenses", format!("{id} is not a Flickr licence id (0 to 10)")));
        }
        if self.photo_hosts.iter().any(|h| h.trim().is_empty()) || self.photo_hosts.is_empty() {
            return Err(InvalidOption::new("photo_hosts", "must name at least one host, none empty"));
        }
        Ok(())
    }
}

/// The kinds of [`Source`], for choosing one by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum SourceKind {
    /// The search page in headless Chromium.
    Browser,
    /// The `flickr.photos.search` REST method (needs an API key).
    FlickrApi,
}

/// Where photo URLs come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// The search page in headless Chromium.
    Browser,
    /// The `flickr.photos.search` REST method at `api_url`, with `key`.
    FlickrApi {
        /// The REST endpoint.
        api_url: String,
        /// The API key.
        key: String,
    },
}

/// Why the crawl could not run (a term that fails is not an error: it is reported).
#[derive(Debug, thiserror::Error)]
pub enum CrawlError {
    /// `urls.json`, `crawl.json` or the categories file cannot be read or written.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The categories file has no usable content.
    #[error("{path}: {reason}")]
    BadCategories {
        /// The categories file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An option the stage cannot work with.
    #[error("{0}")]
    Invalid(#[from] InvalidOption),
    /// `chromedriver` or Chromium is not installed.
    #[error(
        "{what} not found: install Chromium and ChromeDriver with scripts/setup.sh (Debian packages chromium and chromium-driver)"
    )]
    BrowserMissing {
        /// The program looked for.
        what: String,
    },
    /// `chromedriver` would not start.
    #[error("could not start chromedriver: {0}")]
    WebDriverStart(#[source] std::io::Error),
    /// No browser session could be opened.
    #[error("could not open a browser session: {0}")]
    Session(String),
    /// The HTTP client for the API source could not be built.
    #[error("could not build the HTTP client: {0}")]
    Client(String),
    /// Ctrl-C or SIGTERM.
    #[error("interrupted; finished terms are kept in {0}: run the same command to resume")]
    Interrupted(PathBuf),
}

/// How one term's crawl ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TermReport {
    /// The category.
    pub category: String,
    /// The term.
    pub term: String,
    /// Not crawled because an earlier run had finished it.
    pub skipped: bool,
    /// How it ended, as `crawl.json` records it.
    pub record: TermRecord,
    /// Why it failed, for callers that suggest what to do (`None` unless it failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<TermFailure>,
}

/// Why a term failed, by kind: what a caller decides on to suggest the usual fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TermFailure {
    /// The search page's (or API's) host could not be reached: offline, a name that does
    /// not resolve, a refused connection, a page that never loads.
    Unreachable {
        /// The host.
        host: String,
    },
    /// The search page was searched to its end and showed no photo.
    NoPhotos,
    /// The page shows images, but none on the photo hosts.
    OtherHostsOnly {
        /// The hosts most of them are on, most first.
        hosts: Vec<String>,
    },
    /// The host opted out: its robots.txt disallows the search page (or API) for
    /// picseek's agent, or the page says `noai`.
    OptedOut {
        /// The host.
        host: String,
        /// Which opt-out, with its rule.
        opt_out: picseek_manifest::OptOut,
    },
    /// Anything else (an HTTP error page, an API error, a timeout mid-way).
    Other,
}

/// What a crawl did, term by term.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CrawlReport {
    /// `urls.json`.
    pub urls: PathBuf,
    /// Terms crawled in this run (not skipped as done).
    pub crawled: usize,
    /// Every term of the categories file, in the order they finished.
    pub terms: Vec<TermReport>,
    /// `category/term` of every failed term.
    pub failed: Vec<String>,
}

impl CrawlReport {
    /// URLs known for all terms, found in this run or before.
    pub fn urls_found(&self) -> usize {
        self.terms.iter().map(|t| t.record.found).sum()
    }

    fn finish(mut self) -> Self {
        self.crawled = self.terms.iter().filter(|t| !t.skipped).count();
        self.failed = self
            .terms
            .iter()
            .filter(|t| t.record.status == TermStatus::Failed)
            .map(|t| format!("{}/{}", t.category, t.term))
            .collect();
        self
    }
}

/// The categories file, with every name in one Unicode form ([`class_name`]): a term
/// typed twice in two forms is one term. A term under two categories is one class (clean
/// names classes by term), which is said once.
fn read_categories(path: &Path) -> Result<Categories, CrawlError> {
    let given: Categories = read_json(path)?;
    let bad = |reason: &str| CrawlError::BadCategories { path: path.to_owned(), reason: reason.to_owned() };
    if given.is_empty() {
        return Err(bad("no categories: expected {\"category\": [\"term\", ...]}"));
    }
    let mut categories = Categories::new();
    for (category, terms) in &given {
        if category.trim().is_empty() || terms.iter().any(|t| t.trim().is_empty()) {
            return Err(bad("empty category or term name"));
        }
        let normalised: &mut Vec<String> = categories.entry(class_name(category)).or_default();
        for term in terms.iter().map(|t| class_name(t)) {
            if !normalised.contains(&term) {
                normalised.push(term);
            }
        }
    }
    let mut seen: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
    for (category, terms) in &categories {
        for term in terms {
            if let Some(first) = seen.insert(term, category) {
                tracing::warn!("{term:?} is a term of both {first:?} and {category:?}: its images form one class");
            }
        }
    }
    Ok(categories)
}

fn read_or_default<T: Default + serde::de::DeserializeOwned>(path: &Path) -> Result<T, CrawlError> {
    if path.exists() { Ok(read_json(path)?) } else { Ok(T::default()) }
}

/// Whether an earlier run finished this term: `urls.json` has enough URLs for it, or
/// `crawl.json` says the search ran out at exactly the URLs `urls.json` has, for at
/// least as many as are wanted now.
fn already_done(
    urls: &UrlsManifest,
    log: &CrawlManifest,
    category: &str,
    term: &str,
    wanted: usize,
    licenses: &[u8],
) -> Option<TermRecord> {
    let found = urls.get(category).and_then(|t| t.get(term)).map_or(0, Vec::len);
    let record = log.get(category).and_then(|t| t.get(term));
    // Crawled under another licence filter: its URLs are not the ones wanted now.
    if record.map_or(!licenses.is_empty(), |r| r.licenses != licenses) {
        return None;
    }
    if found >= wanted {
        return Some(TermRecord {
            status: TermStatus::Complete,
            found,
            wanted,
            error: None,
            licenses: licenses.to_vec(),
            opt_out: None,
        });
    }
    let record = record?;
    (record.status == TermStatus::Exhausted && record.wanted >= wanted && record.found == found).then(|| record.clone())
}

/// SIGINT (Ctrl-C) and SIGTERM, registered when created.
struct Interruption {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Interruption {
    fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// The host terms are searched on and why it cannot be reached, when it does not answer
/// at all (offline, a mistyped `--url-template`): checked once, in a few seconds, instead
/// of each term finding out through a browser. Behind a proxy the browser may reach what
/// this cannot, so nothing is checked then.
async fn search_host_unreachable(opts: &CrawlOptions) -> Option<(String, String)> {
    const PROXIES: [&str; 6] = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"];
    if PROXIES.iter().any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty())) {
        return None;
    }
    let url = match &opts.source {
        Source::Browser if opts.webdriver.is_none() => {
            term::search_page_url(&opts.url_template, "picseek", &opts.licenses).ok()?
        }
        Source::Browser => return None,
        Source::FlickrApi { api_url, .. } => url::Url::parse(api_url).ok()?,
    };
    let host = url.host_str()?.to_owned();
    let port = url.port_or_known_default()?;
    let wait = opts.term_timeout.min(Duration::from_secs(5));
    let reason = match tokio::time::timeout(wait, tokio::net::TcpStream::connect((host.as_str(), port))).await {
        Ok(Ok(_)) => return None,
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {}s", wait.as_secs()),
    };
    Some((host.clone(), format!("cannot reach {host}:{port} ({reason}): offline, or the host is down")))
}

/// The HTTP client robots.txt and tdmrep.json are read with: the crawl's user agent,
/// and a bound on each request.
fn opt_out_client(opts: &CrawlOptions) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .user_agent(opts.opt_outs.user_agent_header())
        .timeout(opts.term_timeout.min(Duration::from_secs(10)))
        .build()
}

/// Whether the host of `term`'s search page (or the API) opted out of it: its robots.txt
/// (read once per run, on the host's pace) disallows the URL for picseek's agent, or
/// TDMRep reserves it. Its `Crawl-delay` becomes the host's slowest pace.
async fn opted_out(
    opts: &CrawlOptions,
    opt_outs: &picseek_optout::OptOuts,
    pacer: &HostPacer,
    term: &str,
) -> Option<term::Failure> {
    let url = match &opts.source {
        Source::Browser => term::search_page_url(&opts.url_template, term, &opts.licenses).ok()?,
        Source::FlickrApi { api_url, .. } => url::Url::parse(api_url).ok()?,
    };
    let host = url.host_str()?.to_owned();
    let rules = opt_outs.rules_for(&url, &pacing::PagePace { pacer, host: &host }).await;
    match opt_outs.before_fetch(&rules, &url) {
        // A host that does not even serve its robots.txt is down, as far as the crawl
        // can tell; a later run asks again.
        picseek_optout::Verdict::Skip(picseek_manifest::OptOutNote {
            opt_out: picseek_manifest::OptOut::RobotsUnavailable { reason, .. },
            ..
        }) => Some(term::Failure {
            message: format!("cannot reach {host}: its robots.txt could not be read ({reason})"),
            kind: TermFailure::Unreachable { host },
        }),
        picseek_optout::Verdict::Skip(note) => Some(term::Failure {
            message: note.opt_out.describe(),
            kind: TermFailure::OptedOut { host, opt_out: note.opt_out },
        }),
        picseek_optout::Verdict::FetchOverriding(note) => {
            tracing::warn!("{url}: {} (fetched: {})", note.opt_out.describe(), note.overridden_by.unwrap_or_default());
            None
        }
        picseek_optout::Verdict::Fetch => None,
    }
}

/// Runs the crawl stage: see the crate documentation.
pub async fn crawl(opts: &CrawlOptions) -> Result<CrawlReport, CrawlError> {
    opts.validate()?;
    let categories = read_categories(&opts.categories_file)?;
    let log_path = picseek_manifest::DataDir::crawl_log(&opts.urls_path);
    let mut urls: UrlsManifest = read_or_default(&opts.urls_path)?;
    let mut log: CrawlManifest = read_or_default(&log_path)?;
    let sources_path = opts.urls_path.with_file_name(picseek_manifest::SOURCES_FILE);
    let mut sources: picseek_manifest::SourcesManifest = read_or_default(&sources_path)?;

    let mut report = CrawlReport { urls: opts.urls_path.clone(), ..CrawlReport::default() };
    let mut todo = Vec::new();
    for (category, terms) in &categories {
        for term in terms {
            match already_done(&urls, &log, category, term, opts.max_per_term, &opts.licenses).filter(|_| !opts.force) {
                Some(record) => {
                    tracing::debug!("{category}/{term}: already crawled ({} URLs), skipped", record.found);
                    let (category, term) = (category.clone(), term.clone());
                    report.terms.push(TermReport { category, term, record, skipped: true, failure: None });
                }
                None => todo.push((category.clone(), term.clone())),
            }
        }
    }
    if todo.is_empty() {
        return Ok(report.finish());
    }

    // Listening before anything is started, so Ctrl-C or `kill` at any moment after
    // this still stops chromedriver and its browsers (they run in their own process
    // group, which the terminal's signal does not reach).
    let mut interrupted = Interruption::listen().map_err(CrawlError::WebDriverStart)?;
    // The browser's programs are looked for first: a machine without them is told so
    // whether or not the host answers.
    let chromedriver = match (&opts.source, &opts.webdriver) {
        (Source::Browser, None) => Some(
            find_program(&["chromedriver"])
                .ok_or_else(|| CrawlError::BrowserMissing { what: "chromedriver".into() })?,
        ),
        _ => None,
    };
    let chromium = find_program(&["chromium", "chromium-browser", "google-chrome"]);
    if chromedriver.is_some() && chromium.is_none() {
        return Err(CrawlError::BrowserMissing { what: "chromium".into() });
    }
    // A host that does not answer at all fails every term at once, before a browser starts.
    let unreachable = search_host_unreachable(opts).await;
    // Started here, stopped when dropped: at the end, on error, and on Ctrl-C or SIGTERM.
    let driver = match chromedriver {
        Some(program) if unreachable.is_none() => {
            reap_stale_profiles();
            Some(ChromeDriver::start(&program).await?)
        }
        _ => None,
    };
    let api_client = flickr_api::api_client(opts.term_timeout).map_err(|e| CrawlError::Client(e.to_string()))?;
    let webdriver_url =
        opts.webdriver.clone().or_else(|| driver.as_ref().map(|d| d.url().to_owned())).unwrap_or_default();

    let pacer = Arc::new(HostPacer::new(opts.rate));
    let opt_outs = Arc::new(picseek_optout::OptOuts::new(
        opts.opt_outs.clone(),
        opt_out_client(opts).map_err(|e| CrawlError::Client(e.to_string()))?,
    ));
    let overall = opts.progress.start("terms", Some(todo.len() as u64));

    // `--concurrency` workers take terms in file order from one queue; each term gets a
    // browser session of its own. Results come back over a channel and are saved as
    // they arrive.
    let workers = opts.concurrency.clamp(1, todo.len());
    let queue = Arc::new(Mutex::new(VecDeque::from(todo)));
    let (results_tx, mut results) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = JoinSet::new();
    for _ in 0..workers {
        let (opts, pacer, queue, results_tx) = (opts.clone(), pacer.clone(), queue.clone(), results_tx.clone());
        let (webdriver_url, chromium, api_client) = (webdriver_url.clone(), chromium.clone(), api_client.clone());
        let (unreachable, opt_outs) = (unreachable.clone(), opt_outs.clone());
        tasks.spawn(async move {
            loop {
                let Some((category, term)) = queue.lock().expect("queue lock").pop_front() else { break };
                let bar = opts.progress.start(&format!("{category}/{term}"), Some(opts.max_per_term as u64));
                let bar = bar.as_ref();
                let opted_out = match &unreachable {
                    None => opted_out(&opts, &opt_outs, &pacer, &term).await,
                    Some(_) => None,
                };
                let outcome = match &opts.source {
                    _ if let Some(failure) = opted_out => term::TermOutcome::failed(Vec::new(), failure),
                    _ if let Some((host, message)) = &unreachable => term::TermOutcome::failed(
                        Vec::new(),
                        term::Failure {
                            message: message.clone(),
                            kind: TermFailure::Unreachable { host: host.clone() },
                        },
                    ),
                    Source::FlickrApi { api_url, key } => {
                        flickr_api::search_term(&api_client, api_url, key, &opts, &term, &pacer, bar).await
                    }
                    Source::Browser => {
                        // --term-timeout bounds the whole term: a share is kept for closing the
                        // session, which waits on a page that never loads otherwise.
                        let close_within = (opts.term_timeout / 5).min(Duration::from_secs(5));
                        let crawl_within = opts.term_timeout - close_within;
                        let open =
                            BrowserSession::open(&webdriver_url, chromium.as_deref(), opts.headful, crawl_within);
                        match tokio::time::timeout(crawl_within, open).await {
                            Ok(Ok(session)) => {
                                let term_opts = CrawlOptions { term_timeout: crawl_within, ..opts.clone() };
                                let outcome =
                                    term::crawl_term(&session.client, &term_opts, &term, &pacer, &opt_outs, bar).await;
                                session.close(close_within).await;
                                outcome
                            }
                            Ok(Err(e)) => term::TermOutcome::failed(Vec::new(), e.to_string()),
                            Err(_) => term::TermOutcome::failed(
                                Vec::new(),
                                format!("no browser session within {}s", crawl_within.as_secs()),
                            ),
                        }
                    }
                };
                if results_tx.send((category, term, outcome)).is_err() {
                    break;
                }
            }
        });
    }
    drop(results_tx);

    let finished = async {
        while let Some((category, term, outcome)) = results.recv().await {
            let record = outcome.record(opts.max_per_term, &opts.licenses);
            match &record.error {
                Some(error) => tracing::debug!("{category}/{term}: {error}"),
                None => tracing::info!("{category}/{term}: {} URLs ({:?})", record.found, record.status),
            }
            // A failed term keeps what an earlier run found rather than losing it.
            if record.status != TermStatus::Failed || !outcome.urls.is_empty() {
                urls.entry(category.clone()).or_default().insert(term.clone(), outcome.urls);
            }
            log.entry(category.clone()).or_default().insert(term.clone(), record.clone());
            sources.extend(outcome.sources.into_iter().map(|s| (s.url.clone(), s)));
            write_json_atomic(&opts.urls_path, &urls)?;
            write_json_atomic(&sources_path, &sources)?;
            write_json_atomic(&log_path, &log)?;
            overall.advance(1);
            report.terms.push(TermReport { category, term, record, skipped: false, failure: outcome.failure });
        }
        Ok::<(), CrawlError>(())
    };
    let result = tokio::select! {
        result = finished => result,
        () = interrupted.recv() => Err(CrawlError::Interrupted(opts.urls_path.clone())),
    };
    drop(overall);
    // Workers still running (after Ctrl-C) are stopped before their browsers go.
    tasks.abort_all();
    drop(tasks);
    drop(driver);
    // In the categories file's order, not the order the terms finished in.
    let position =
        |t: &TermReport| categories.get(&t.category).and_then(|terms| terms.iter().position(|x| *x == t.term));
    report.terms.sort_by(|a, b| (&a.category, position(a)).cmp(&(&b.category, position(b))));
    result.map(|()| report.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_term_typed_in_two_unicode_forms_is_one_term() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("categories.json");
        // "Phở" precomposed and decomposed, and a term under two categories.
        std::fs::write(&path, r#"{"food": ["Ph\u1edf", "Pho\u031b\u0309", "Tea"], "drink": ["Tea"]}"#).unwrap();
        let categories = read_categories(&path).unwrap();
        assert_eq!(categories["food"], ["Ph\u{1edf}", "Tea"]);
        assert_eq!(categories["drink"], ["Tea"], "a term under two categories stays in both: one class");
    }

    fn urls(n: usize) -> UrlsManifest {
        let list = (0..n).map(|i| format!("https://live.staticflickr.com/1/{i}_s_b.jpg")).collect();
        [("animal".to_owned(), [("Owl".to_owned(), list)].into())].into()
    }

    fn log(status: TermStatus, found: usize, wanted: usize) -> CrawlManifest {
        let record = TermRecord { status, found, wanted, error: None, licenses: Vec::new(), opt_out: None };
        [("animal".to_owned(), [("Owl".to_owned(), record)].into())].into()
    }

    #[test]
    fn a_term_with_enough_urls_is_done() {
        let done = already_done(&urls(5), &CrawlManifest::new(), "animal", "Owl", 5, &[]).unwrap();
        assert_eq!((done.status, done.found), (TermStatus::Complete, 5));
        assert!(already_done(&urls(4), &CrawlManifest::new(), "animal", "Owl", 5, &[]).is_none());
        assert!(already_done(&urls(5), &CrawlManifest::new(), "animal", "Fox", 1, &[]).is_none());
    }

    #[test]
    fn an_exhausted_search_is_done_only_for_as_many_as_it_was_asked_for() {
        let exhausted = log(TermStatus::Exhausted, 3, 10);
        assert_eq!(already_done(&urls(3), &exhausted, "animal", "Owl", 10, &[]).unwrap().status, TermStatus::Exhausted);
        assert_eq!(already_done(&urls(3), &exhausted, "animal", "Owl", 8, &[]).unwrap().status, TermStatus::Exhausted);
        // More wanted than the exhausted run asked for: crawl again.
        assert!(already_done(&urls(3), &exhausted, "animal", "Owl", 20, &[]).is_none());
        // urls.json changed since (a URL removed by hand): crawl again.
        assert!(already_done(&urls(2), &exhausted, "animal", "Owl", 10, &[]).is_none());
    }

    #[test]
    fn a_term_crawled_under_another_licence_filter_is_not_done() {
        let mut filtered = log(TermStatus::Complete, 5, 5);
        filtered.get_mut("animal").unwrap().get_mut("Owl").unwrap().licenses = vec![9, 10];
        assert!(already_done(&urls(5), &filtered, "animal", "Owl", 5, &[9, 10]).is_some());
        assert!(already_done(&urls(5), &filtered, "animal", "Owl", 5, &[]).is_none());
        assert!(already_done(&urls(5), &log(TermStatus::Complete, 5, 5), "animal", "Owl", 5, &[4]).is_none());
    }

    #[test]
    fn a_failed_term_is_never_done() {
        assert!(already_done(&urls(2), &log(TermStatus::Failed, 2, 10), "animal", "Owl", 10, &[]).is_none());
    }

    #[test]
    fn options_are_checked_by_name() {
        assert!(CrawlOptions::default().validate().is_ok());
        let bad = CrawlOptions { rate: 0.0, ..CrawlOptions::default() };
        assert_eq!(bad.validate().unwrap_err().option, "rate");
        let bad = CrawlOptions { url_template: "ftp://x/{term}".into(), ..CrawlOptions::default() };
        assert_eq!(bad.validate().unwrap_err().option, "url_template");
        let bad = CrawlOptions { size: "xl".into(), ..CrawlOptions::default() };
        assert_eq!(bad.validate().unwrap_err().option, "size");
    }
}
