//! The download stage: fetches every URL of `urls.json` (`{category: {term: [url]}}`)
//! into `raw/<category>/<term>/` and accounts for each in `raw/manifest.json`.
//!
//! Downloads run concurrently (`tokio` + `reqwest`), at most a few connections per host,
//! paced per host by an adaptive limit (see the `limiter` module: it backs off
//! when a host refuses with 429 or 503 and creeps back up to `--rate`; being refused is
//! not a failure), with exponential back-off and jitter for timeouts, resets, 5xx, 408 and 429
//! (honouring `Retry-After`). A response is kept only if it is complete and is an image
//! by its bytes; it is written under a temporary name and renamed, and named after a
//! hash of its URL, so no two URLs collide and no partial file ever has a final name.
//! A re-run skips URLs already downloaded (also those a killed run finished but had not
//! yet recorded) and retries the failed ones.

mod fetch;
mod limiter;
mod naming;

pub use limiter::HostReport;
pub use naming::file_name_for_url;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use picseek_manifest::progress::Reporter;
use picseek_manifest::{
    DataDir, DownloadManifest, DownloadOutcome, DownloadRecord, DownloadStatus, FailureReason, InvalidOption,
    ManifestError, SOURCES_FILE, Shard, ShardError, SourcesManifest, UrlsManifest, folder_name, input_fingerprint,
    read_json, sha256_hex, shards_to_merge, write_json_atomic,
};
use serde::Serialize;

use crate::fetch::{FetchError, Fetcher};
use crate::limiter::HostLimiter;
use picseek_manifest::OptOutSummary;
use picseek_optout::{OptOutOptions, OptOuts};

/// How often the manifest is saved while downloading.
const SAVE_EVERY: Duration = Duration::from_secs(2);

/// What to download, where, and how politely. [`Default`] gives the documented
/// defaults (paths relative to the working directory).
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// `urls.json`: `{category: {term: [url]}}`.
    pub urls_path: PathBuf,
    /// `raw/`; the manifest is `raw/manifest.json`.
    pub out_dir: PathBuf,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// The most requests per second per host; `0`: no ceiling (still adaptive).
    pub rate: f64,
    /// Requests in flight to one host at once.
    pub connections_per_host: usize,
    /// How long a host may refuse every request (429/503) before its remaining URLs are
    /// recorded as `throttled` (a re-run tries them again).
    pub throttle_timeout: Duration,
    /// Retries after the first attempt.
    pub retries: usize,
    /// The longest one request (connect to last byte) may take.
    pub timeout: Duration,
    /// The largest file accepted, in bytes.
    pub max_bytes: u64,
    /// How robots.txt, TDMRep and `noai` are treated, and the user agent.
    pub opt_outs: OptOutOptions,
    /// The first back-off delay; it doubles with each retry (with jitter).
    pub backoff: Duration,
    /// Download only the URLs of this shard's hosts (see [`shard_of_url`]), into the
    /// shard's own manifest; [`merge_download`] then writes `raw/manifest.json`.
    pub shard: Option<Shard>,
    /// Where progress goes.
    pub progress: Reporter,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        Self {
            urls_path: DataDir::default().urls(),
            out_dir: DataDir::default().raw(),
            concurrency: 16,
            rate: 2.0,
            connections_per_host: 4,
            throttle_timeout: Duration::from_secs(600),
            retries: 3,
            timeout: Duration::from_secs(30),
            max_bytes: 20_000_000,
            opt_outs: OptOutOptions::default(),
            backoff: Duration::from_millis(500),
            shard: None,
            progress: Reporter::default(),
        }
    }
}

impl DownloadOptions {
    /// Refuses options the stage cannot work with, naming the option.
    pub fn validate(&self) -> Result<(), InvalidOption> {
        if !(self.rate == 0.0 || (0.001..=100_000.0).contains(&self.rate)) {
            return Err(InvalidOption::new(
                "rate",
                format!("must be 0 (off) or from 0.001 to 100000 requests per second, not {}", self.rate),
            ));
        }
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(86_400) {
            return Err(InvalidOption::new(
                "timeout",
                format!("must be a number of seconds above 0 and at most 86400, not {}", self.timeout.as_secs_f64()),
            ));
        }
        if !(1..=512).contains(&self.concurrency) {
            return Err(InvalidOption::new("concurrency", format!("must be from 1 to 512, not {}", self.concurrency)));
        }
        if !(1..=64).contains(&self.connections_per_host) {
            return Err(InvalidOption::new(
                "connections_per_host",
                format!("must be from 1 to 64, not {}", self.connections_per_host),
            ));
        }
        if self.throttle_timeout.is_zero() {
            return Err(InvalidOption::new("throttle_timeout", "must be at least one second"));
        }
        if self.retries > 100 {
            return Err(InvalidOption::new("retries", format!("must be at most 100, not {}", self.retries)));
        }
        if self.max_bytes == 0 {
            return Err(InvalidOption::new("max_bytes", "must be at least 1"));
        }
        self.opt_outs.validate()
    }
}

/// Why the download stage could not run (a URL that fails is recorded, not an error).
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// A stop was requested (Ctrl-C or SIGTERM); the manifest keeps what was done.
    #[error(transparent)]
    Interrupted(#[from] picseek_manifest::stop::Interrupted),
    /// `urls.json` or `raw/manifest.json` cannot be read or written.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// An option the stage cannot work with.
    #[error("{0}")]
    Invalid(#[from] InvalidOption),
    /// There is no URLs file to download from.
    #[error("{path}: no such file of URLs")]
    NoUrls {
        /// The URLs file looked for.
        path: PathBuf,
    },
    /// The HTTP client could not be built.
    #[error("could not build the HTTP client: {0}")]
    Client(String),
    /// The shards cannot be merged.
    #[error(transparent)]
    Shards(#[from] ShardError),
    /// A merge found a URL of `urls.json` in no shard's manifest.
    #[error("{url}: in no shard's manifest although its shard ({shard}) is complete; run that shard again")]
    NotInShard {
        /// The URL.
        url: String,
        /// The shard that owns it.
        shard: Shard,
    },
    /// One image URL could not be fetched ([`fetch_image`]).
    #[error("{url}: {reason}")]
    Fetch {
        /// The URL.
        url: String,
        /// What went wrong, as a download record's error says it.
        reason: String,
    },
}

/// Fetches one image URL (a query image, say) with the same checks as a download: http(s)
/// only, `timeout`, `max_bytes`, a complete body that is an image by its bytes, and
/// the response's own opt-outs (`X-Robots-Tag: noai`, `tdm-reservation`) honoured as
/// `opts.opt_outs` says. One attempt, no retries: the caller is a person waiting, who
/// fetches one image as a browser would, so robots.txt (which governs crawlers) is not
/// read.
pub async fn fetch_image(url: &str, opts: &DownloadOptions) -> Result<Vec<u8>, DownloadError> {
    opts.validate()?;
    let fetcher = fetch::Fetcher::new(opts).map_err(|e| DownloadError::Client(e.to_string()))?;
    fetcher.fetch_image(url).await.map(|(body, _, _)| body).map_err(|e| {
        // In words: the status's name, or what went wrong (never the manifest's code).
        let reason = match e.code() {
            FailureReason::Http(_) => e.code().describe(),
            _ if let FetchError::OptedOut(note) = &e => note.opt_out.describe(),
            code @ (FailureReason::Timeout | FailureReason::Connection) => format!("{} ({e})", code.describe()),
            _ => e.to_string(),
        };
        DownloadError::Fetch { url: url.to_owned(), reason }
    })
}

/// What a download run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DownloadReport {
    /// `raw/manifest.json` (a shard's: `raw/.shards/<I>-of-<N>/manifest.json`).
    pub manifest: PathBuf,
    /// The shard this run was, if it was one.
    pub shard: Option<Shard>,
    /// The shard had already run to the end on this input: nothing was done.
    pub already_complete: bool,
    /// URLs in `urls.json` (a shard's: those of its hosts).
    pub urls: usize,
    /// URLs fetched (or tried) in this run.
    pub attempted: usize,
    /// URLs already downloaded by an earlier run.
    pub reused: usize,
    /// Records by status and, for the others than `ok`, by reason code:
    /// `ok`, `failed: http_404`, `skipped: noai`, ...
    pub summary: BTreeMap<DownloadOutcome, usize>,
    /// What each host contacted in this run saw: requests, refusals, its final rate.
    pub hosts: Vec<HostReport>,
    /// How opt-outs were treated and what each host declared (also `raw/opt-outs.json`).
    pub opt_outs: OptOutSummary,
    /// The whole manifest, in `urls.json` order.
    #[serde(skip)]
    pub records: Vec<DownloadRecord>,
}

impl DownloadReport {
    /// URLs downloaded, in this run or before.
    pub fn ok(&self) -> usize {
        self.summary.get(&DownloadOutcome::OK).copied().unwrap_or(0)
    }

    /// URLs that failed (skipped ones, opted out by their host, were not tried on purpose).
    pub fn failed(&self) -> usize {
        self.summary.iter().filter(|(o, _)| o.status == DownloadStatus::Failed).map(|(_, n)| n).sum()
    }

    fn finish(mut self, records: Vec<DownloadRecord>) -> Self {
        for r in &records {
            *self.summary.entry(r.outcome()).or_default() += 1;
        }
        self.urls = records.len();
        self.records = records;
        self
    }
}

/// One URL to fetch, and where its file goes (relative to `raw/`).
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub category: String,
    pub term: String,
    pub url: String,
    pub relative_path: String,
}

type Key = (String, String, String);

fn key(category: &str, term: &str, url: &str) -> Key {
    (category.to_owned(), term.to_owned(), url.to_owned())
}

/// Runs the download stage: see the crate documentation. The caller holds the data
/// directory's [`DataDirLock`](picseek_manifest::DataDirLock): temporaries of killed runs are removed.
/// A shard holds the data directory's lock shared and its own folder's exclusively: the
/// temporaries of killed shards are left for the merge.
pub async fn download(opts: &DownloadOptions) -> Result<DownloadReport, DownloadError> {
    opts.validate()?;
    let (urls, fingerprint) = read_urls(&opts.urls_path)?;
    let manifest_path = match opts.shard {
        Some(shard) => DataDir::stage_manifest(&shard.dir(&opts.out_dir)),
        None => {
            picseek_manifest::remove_stale_temporaries(&opts.out_dir, 3);
            DataDir::stage_manifest(&opts.out_dir)
        }
    };
    let mut report = DownloadReport { manifest: manifest_path.clone(), shard: opts.shard, ..DownloadReport::default() };
    if let Some(shard) = opts.shard {
        if shard.completed(&opts.out_dir, &fingerprint).is_some() {
            let records: DownloadManifest = read_json(&manifest_path)?;
            report.reused = records.len();
            report.already_complete = true;
            return Ok(report.finish(records));
        }
        shard.clear_completion(&opts.out_dir)?;
    }
    let sources = read_sources(&opts.urls_path);
    let with_provenance = |mut record: DownloadRecord| {
        record.provenance = sources.get(&record.url).cloned();
        record
    };
    // A shard also knows what a merged (or whole) run before it downloaded.
    let mut previous: HashMap<Key, DownloadRecord> = HashMap::new();
    for path in [DataDir::stage_manifest(&opts.out_dir), manifest_path.clone()] {
        if path.exists() {
            let records: DownloadManifest = read_json(&path)?;
            previous.extend(records.into_iter().map(|r| (key(&r.category, &r.term, &r.url), r)));
        }
    }

    let mut records: Vec<Option<DownloadRecord>> = Vec::new();
    let mut jobs = Vec::new();
    for (category, terms) in &urls {
        for (term, term_urls) in terms {
            for url in term_urls.iter().filter(|url| opts.shard.is_none_or(|s| shard_of_url(url, s.count) == s.index)) {
                let relative_path =
                    format!("{}/{}/{}", folder_name(category), folder_name(term), file_name_for_url(url));
                let job = Job { category: category.clone(), term: term.clone(), url: url.clone(), relative_path };
                let earlier = previous.remove(&key(category, term, url));
                match reuse_earlier_download(&opts.out_dir, &job, earlier) {
                    Some(record) => {
                        report.reused += 1;
                        records.push(Some(with_provenance(record)));
                    }
                    None => {
                        jobs.push((records.len(), job));
                        records.push(None);
                    }
                }
            }
        }
    }
    report.attempted = jobs.len();

    let fetcher = Arc::new(Fetcher::new(opts).map_err(|e| DownloadError::Client(e.to_string()))?);
    let limiter = Arc::new(HostLimiter::new(opts.rate, opts.connections_per_host));
    let progress = opts.progress.start("downloading", Some(jobs.len() as u64));
    // One queue per host, so a slow or throttled host only holds its own connections:
    // the global `concurrency` spreads over the hosts that are ready.
    let mut by_host: BTreeMap<String, Vec<(usize, Job)>> = BTreeMap::new();
    for (slot, job) in jobs {
        by_host.entry(fetch::host_of(&job.url).unwrap_or_default()).or_default().push((slot, job));
    }
    let global = Arc::new(tokio::sync::Semaphore::new(opts.concurrency.max(1)));
    let per_host = opts.connections_per_host.max(1);
    let host_streams = by_host.into_values().map(|host_jobs| {
        let (fetcher, limiter, global) = (fetcher.clone(), limiter.clone(), global.clone());
        let out_dir = opts.out_dir.clone();
        let throttle_timeout = opts.throttle_timeout;
        futures::stream::iter(host_jobs)
            .map(move |(slot, job)| {
                let (fetcher, limiter, global, out_dir) =
                    (fetcher.clone(), limiter.clone(), global.clone(), out_dir.clone());
                async move {
                    let given_up = fetch::host_of(&job.url).is_some_and(|h| limiter.has_given_up(&h));
                    let record = if given_up {
                        fetch::FetchError::Throttled { for_secs: throttle_timeout.as_secs() }.record(&job, 0)
                    } else {
                        fetcher.fetch_with_retries(&out_dir, &job, &limiter, &global, throttle_timeout).await
                    };
                    (slot, record)
                }
            })
            .buffer_unordered(per_host)
            .boxed()
    });
    let mut results = futures::stream::select_all(host_streams);
    let mut last_save = tokio::time::Instant::now();
    let mut stop_check = tokio::time::interval(STOP_CHECK);
    loop {
        let next = tokio::select! {
            next = results.next() => next,
            _ = stop_check.tick() => {
                if picseek_manifest::stop::requested().is_some() {
                    // Fetches under way are dropped with their partial files.
                    drop(results);
                    save(&manifest_path, &records)?;
                    if opts.shard.is_none() {
                        picseek_manifest::remove_stale_temporaries(&opts.out_dir, 3);
                    }
                    let done = records.iter().flatten().count();
                    return Err(picseek_manifest::stop::Interrupted { done, total: records.len() }.into());
                }
                continue;
            }
        };
        let Some((slot, record)) = next else { break };
        if let Some(error) = &record.error {
            tracing::debug!("{}: {error}", record.url);
        }
        if let Some(host) = fetch::host_of(&record.url) {
            progress.say(&match limiter.state(&host) {
                (Some(rate), true) => format!("downloading ({host} throttled: {rate:.2}/s)"),
                _ => "downloading".to_owned(),
            });
        }
        records[slot] = Some(with_provenance(record));
        progress.advance(1);
        if last_save.elapsed() >= SAVE_EVERY {
            save(&manifest_path, &records)?;
            last_save = tokio::time::Instant::now();
        }
    }
    report.hosts = limiter.reports();
    drop(progress);
    save(&manifest_path, &records)?;
    let done: Vec<DownloadRecord> = records.iter().flatten().cloned().collect();
    report.opt_outs = write_opt_out_summary(fetcher.opt_outs(), &manifest_path, &done)?;
    if let Some(shard) = opts.shard {
        shard.mark_complete(&opts.out_dir, &fingerprint, records.len())?;
    }
    Ok(report.finish(records.into_iter().flatten().collect()))
}

/// How often a download looks for a stop request while it waits on the network.
const STOP_CHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// `urls.json`, and the fingerprint of its bytes that shards record.
fn read_urls(path: &Path) -> Result<(UrlsManifest, String), DownloadError> {
    let bytes = std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => DownloadError::NoUrls { path: path.to_owned() },
        _ => ManifestError::Io { path: path.to_owned(), source }.into(),
    })?;
    let given: UrlsManifest = picseek_manifest::parse_json(path, &bytes)?;
    // Names in one Unicode form: a term written in two forms is one term, its URLs joined.
    let mut urls = UrlsManifest::new();
    for (category, terms) in given {
        let normalised = urls.entry(picseek_manifest::class_name(&category)).or_default();
        for (term, term_urls) in terms {
            let joined = normalised.entry(picseek_manifest::class_name(&term)).or_default();
            joined.extend(term_urls.into_iter().filter(|u| !joined.contains(u)).collect::<Vec<_>>());
        }
    }
    Ok((urls, input_fingerprint([bytes.as_slice()])))
}

/// The shard of `count` that downloads `url`: by its host, so that each host is
/// contacted by one shard only and its politeness holds across all of them (a URL
/// without a host goes to the shard of the empty host, which records it failed).
pub fn shard_of_url(url: &str, count: usize) -> usize {
    Shard::of_key(&fetch::host_of(url).unwrap_or_default().to_ascii_lowercase(), count)
}

/// Merges the manifests of the complete shards of `opts.out_dir` (all `count`, or all
/// there are) into `raw/manifest.json`, in `urls.json` order: what one process would
/// have written. Refuses shards that are missing, unfinished or ran on another
/// `urls.json`. The caller holds the data directory's lock (no shard is running), so the
/// temporaries killed shards left are removed.
pub fn merge_download(opts: &DownloadOptions, count: Option<usize>) -> Result<DownloadReport, DownloadError> {
    let (urls, fingerprint) = read_urls(&opts.urls_path)?;
    let shards = shards_to_merge(&opts.out_dir, count, &fingerprint)?;
    picseek_manifest::remove_stale_temporaries(&opts.out_dir, 3);
    let mut by_key: HashMap<Key, DownloadRecord> = HashMap::new();
    for shard in &shards {
        let records: DownloadManifest = read_json(&DataDir::stage_manifest(&shard.dir(&opts.out_dir)))?;
        by_key.extend(records.into_iter().map(|r| (key(&r.category, &r.term, &r.url), r)));
    }
    let count = shards.len();
    let mut records = Vec::new();
    for (category, terms) in &urls {
        for (term, term_urls) in terms {
            for url in term_urls {
                let record = by_key.remove(&key(category, term, url)).ok_or_else(|| DownloadError::NotInShard {
                    url: url.clone(),
                    shard: Shard { index: shard_of_url(url, count), count },
                })?;
                records.push(record);
            }
        }
    }
    let manifest = DataDir::stage_manifest(&opts.out_dir);
    write_json_atomic(&manifest, &records)?;
    let opt_outs = OptOuts::new(opts.opt_outs.clone(), reqwest::Client::new());
    let opt_outs = write_opt_out_summary(&opt_outs, &manifest, &records)?;
    let report = DownloadReport { manifest, reused: records.len(), opt_outs, ..DownloadReport::default() };
    Ok(report.finish(records))
}

/// Writes `opt-outs.json` beside `manifest`: the options, and per host of `records` what
/// it declared (as this run read it, or an earlier run kept it) and what it cost.
fn write_opt_out_summary(
    opt_outs: &OptOuts,
    manifest: &Path,
    records: &[DownloadRecord],
) -> Result<OptOutSummary, ManifestError> {
    let rules = opt_outs.known_rules(records.iter().map(|r| r.url.as_str()));
    let notes = records.iter().filter_map(|r| r.opt_out.as_ref().map(|note| (r.url.as_str(), note)));
    let summary = opt_outs.options().summary(opt_outs.host_summaries(notes, &rules));
    let dir = manifest.parent().unwrap_or(Path::new("."));
    write_json_atomic(&DataDir::opt_out_summary(dir), &summary)?;
    Ok(summary)
}

/// `sources.json` beside `urls.json`, if crawl wrote one (a `urls.json` made elsewhere
/// has none: its photos have no known source).
fn read_sources(urls_path: &Path) -> SourcesManifest {
    let path = urls_path.with_file_name(SOURCES_FILE);
    if !path.is_file() {
        return SourcesManifest::new();
    }
    read_json(&path).unwrap_or_else(|e| {
        tracing::warn!("{e}; the downloads will not know where their photos came from");
        SourcesManifest::new()
    })
}

/// Saves the records known so far (URLs not yet done are left out until they are).
fn save(path: &Path, records: &[Option<DownloadRecord>]) -> Result<(), ManifestError> {
    let done: Vec<&DownloadRecord> = records.iter().flatten().collect();
    write_json_atomic(path, &done)
}

/// The record of a file an earlier run downloaded, if it is still there: from the old
/// manifest, or, for a run killed before it saved the manifest, from the file itself
/// (complete by construction, since files only get their final name when complete).
fn reuse_earlier_download(out_dir: &Path, job: &Job, earlier: Option<DownloadRecord>) -> Option<DownloadRecord> {
    let path = out_dir.join(&job.relative_path);
    if let Some(record) = earlier.filter(|r| r.status == DownloadStatus::Ok) {
        let on_disk = std::fs::metadata(&path).ok()?.len();
        return (Some(on_disk) == record.bytes).then_some(record);
    }
    let bytes = std::fs::read(&path).ok()?;
    image::guess_format(&bytes).ok()?;
    Some(DownloadRecord {
        url: job.url.clone(),
        category: job.category.clone(),
        term: job.term.clone(),
        status: DownloadStatus::Ok,
        path: Some(job.relative_path.clone()),
        sha256: Some(sha256_hex(&bytes)),
        bytes: Some(bytes.len() as u64),
        http_status: Some(200),
        reason: None,
        error: None,
        attempts: 1,
        provenance: None,
        opt_out: None,
    })
}

impl FetchError {
    fn record(&self, job: &Job, attempts: u32) -> DownloadRecord {
        DownloadRecord {
            url: job.url.clone(),
            category: job.category.clone(),
            term: job.term.clone(),
            status: if matches!(self, FetchError::OptedOut(_)) {
                DownloadStatus::Skipped
            } else {
                DownloadStatus::Failed
            },
            path: None,
            sha256: None,
            bytes: None,
            http_status: self.http_status(),
            reason: Some(self.code()),
            error: Some(format!("{}: {self}", self.code())),
            attempts,
            provenance: None,
            opt_out: match self {
                FetchError::OptedOut(note) => Some(note.clone()),
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    fn job() -> Job {
        Job {
            category: "animal".into(),
            term: "Owl".into(),
            url: "http://127.0.0.1/owl.png".into(),
            relative_path: "animal/Owl/0123-owl.png".into(),
        }
    }

    fn ok_record(bytes: u64) -> DownloadRecord {
        let job = job();
        DownloadRecord {
            url: job.url,
            category: job.category,
            term: job.term,
            status: DownloadStatus::Ok,
            path: Some(job.relative_path),
            sha256: Some(sha256_hex(PNG)),
            bytes: Some(bytes),
            http_status: Some(200),
            reason: None,
            error: None,
            attempts: 2,
            provenance: None,
            opt_out: None,
        }
    }

    fn out_dir_with_file(contents: Option<&[u8]>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        if let Some(contents) = contents {
            let path = dir.path().join(job().relative_path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }
        dir
    }

    #[test]
    fn an_ok_record_whose_file_is_intact_is_reused_as_it_was() {
        let dir = out_dir_with_file(Some(PNG));
        let earlier = ok_record(PNG.len() as u64);
        assert_eq!(reuse_earlier_download(dir.path(), &job(), Some(earlier.clone())), Some(earlier));
    }

    #[test]
    fn an_ok_record_whose_file_changed_or_went_is_fetched_again() {
        let dir = out_dir_with_file(Some(PNG));
        assert_eq!(reuse_earlier_download(dir.path(), &job(), Some(ok_record(3))), None);
        let empty = out_dir_with_file(None);
        assert_eq!(reuse_earlier_download(empty.path(), &job(), Some(ok_record(PNG.len() as u64))), None);
    }

    #[test]
    fn a_file_a_killed_run_finished_is_found_without_a_record() {
        let dir = out_dir_with_file(Some(PNG));
        let found = reuse_earlier_download(dir.path(), &job(), None).unwrap();
        assert_eq!(found.status, DownloadStatus::Ok);
        assert_eq!(found.sha256.as_deref(), Some(sha256_hex(PNG).as_str()));
        assert_eq!(found.bytes, Some(PNG.len() as u64));
    }

    #[test]
    fn a_failed_record_or_a_file_that_is_no_image_is_fetched_again() {
        let dir = out_dir_with_file(Some(b"<html>"));
        assert_eq!(reuse_earlier_download(dir.path(), &job(), None), None);
        let failed = DownloadRecord { status: DownloadStatus::Failed, ..ok_record(0) };
        assert_eq!(reuse_earlier_download(dir.path(), &job(), Some(failed)), None);
    }

    #[test]
    fn each_host_is_downloaded_by_one_shard_and_every_url_by_exactly_one() {
        let urls: Vec<String> = (0..40)
            .flat_map(|h| (0..5).map(move |p| format!("https://Farm{h}.example.com:8080/{p}/photo_{p}.jpg?x={h}")))
            .chain(["not a url".to_owned(), "ftp://x/y.jpg".to_owned()])
            .collect();
        let count = 4;
        let mut shard_of_host: HashMap<String, usize> = HashMap::new();
        let mut per_shard = vec![0; count];
        for url in &urls {
            let shard = shard_of_url(url, count);
            assert_eq!(shard, shard_of_url(url, count), "deterministic");
            per_shard[shard] += 1;
            let host = fetch::host_of(url).unwrap_or_default();
            assert_eq!(*shard_of_host.entry(host).or_insert(shard), shard, "{url}: host split over shards");
        }
        assert_eq!(per_shard.iter().sum::<usize>(), urls.len());
        assert!(per_shard.iter().all(|&n| n > 0), "{per_shard:?}");
        assert_eq!(shard_of_url("http://A.example/x.jpg", count), shard_of_url("http://a.example/y.jpg", count));
    }

    #[test]
    fn options_are_checked_by_name() {
        assert!(DownloadOptions::default().validate().is_ok());
        let bad = DownloadOptions { rate: -1.0, ..DownloadOptions::default() };
        assert_eq!(bad.validate().unwrap_err().option, "rate");
        let bad = DownloadOptions { timeout: Duration::ZERO, ..DownloadOptions::default() };
        assert_eq!(bad.validate().unwrap_err().option, "timeout");
    }
}
