//! The download stage: fetches every URL of `urls.json` (`{category: {term: [url]}}`)
//! into `raw/<category>/<term>/` and accounts for each in `raw/manifest.json`.
//!
//! Downloads run concurrently (`tokio` + `reqwest`), paced per host by a `governor`
//! limiter, with exponential back-off and jitter for timeouts, resets, 5xx, 408 and 429
//! (honouring `Retry-After`). A response is kept only if it is complete and is an image
//! by its bytes; it is written under a temporary name and renamed, and named after a
//! hash of its URL, so no two URLs collide and no partial file ever has a final name.
//! A re-run skips URLs already downloaded (also those a killed run finished but had not
//! yet recorded) and retries the failed ones.

mod fetch;
mod naming;

pub use naming::file_name_for_url;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use indicatif::{ProgressBar, ProgressStyle};
use picseek_manifest::{
    DownloadManifest, DownloadRecord, DownloadStatus, ManifestError, UrlsManifest, folder_name, read_json, sha256_hex,
    write_json_atomic,
};

use crate::fetch::{FetchError, Fetcher};

/// How often the manifest is saved while downloading.
const SAVE_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct DownloadOptions {
    pub urls_path: PathBuf,
    /// `raw/`; the manifest is `raw/manifest.json`.
    pub out_dir: PathBuf,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Requests per second per host; `0` turns pacing off.
    pub rate: f64,
    /// Retries after the first attempt.
    pub retries: usize,
    /// The longest one request (connect to last byte) may take.
    pub timeout: Duration,
    pub max_bytes: u64,
    /// Skip images served with `X-Robots-Tag: noai` or `noimageai`.
    pub honour_noai: bool,
    /// The first back-off delay; it doubles with each retry (with jitter).
    pub backoff: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("--rate must be 0 (off) or from 0.001 to 100000 requests per second, not {0}")]
    BadRate(f64),
    #[error("could not build the HTTP client: {0}")]
    Client(String),
}

/// What a download run did.
#[derive(Debug, Clone, Default)]
pub struct DownloadReport {
    /// The whole manifest, in `urls.json` order.
    pub records: Vec<DownloadRecord>,
    /// URLs fetched (or tried) in this run.
    pub attempted: usize,
    /// URLs already downloaded by an earlier run.
    pub reused: usize,
}

impl DownloadReport {
    /// Records by status and, for failures, by reason code.
    pub fn summary(&self) -> Vec<(String, usize)> {
        let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
        for r in &self.records {
            let key = match (r.status, r.reason()) {
                (DownloadStatus::Ok, _) => "ok".to_owned(),
                (status, reason) => format!("{}: {}", status_name(status), reason.unwrap_or("unknown")),
            };
            *counts.entry(key).or_default() += 1;
        }
        counts.into_iter().collect()
    }
}

pub fn status_name(status: DownloadStatus) -> &'static str {
    match status {
        DownloadStatus::Ok => "ok",
        DownloadStatus::Failed => "failed",
        DownloadStatus::Skipped => "skipped",
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

/// Runs the download stage: see the crate documentation.
pub async fn download(opts: &DownloadOptions) -> Result<DownloadReport, DownloadError> {
    if !(opts.rate == 0.0 || (0.001..=100_000.0).contains(&opts.rate)) {
        return Err(DownloadError::BadRate(opts.rate));
    }
    let urls: UrlsManifest = read_json(&opts.urls_path)?;
    let manifest_path = opts.out_dir.join("manifest.json");
    let previous: DownloadManifest = if manifest_path.exists() { read_json(&manifest_path)? } else { Vec::new() };
    let mut previous: HashMap<Key, DownloadRecord> =
        previous.into_iter().map(|r| (key(&r.category, &r.term, &r.url), r)).collect();

    let mut records: Vec<Option<DownloadRecord>> = Vec::new();
    let mut jobs = Vec::new();
    let mut report = DownloadReport::default();
    for (category, terms) in &urls {
        for (term, term_urls) in terms {
            for url in term_urls {
                let relative_path =
                    format!("{}/{}/{}", folder_name(category), folder_name(term), file_name_for_url(url));
                let job = Job { category: category.clone(), term: term.clone(), url: url.clone(), relative_path };
                let earlier = previous.remove(&key(category, term, url));
                match reuse_earlier_download(&opts.out_dir, &job, earlier) {
                    Some(record) => {
                        report.reused += 1;
                        records.push(Some(record));
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
    let limiter: Option<Arc<DefaultKeyedRateLimiter<String>>> = (opts.rate > 0.0).then(|| {
        let quota = Quota::with_period(Duration::from_secs_f64(1.0 / opts.rate))
            .expect("a positive period")
            .allow_burst(NonZeroU32::MIN);
        Arc::new(RateLimiter::keyed(quota))
    });
    let progress = ProgressBar::new(jobs.len() as u64).with_message("downloading");
    progress.set_style(
        ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} {per_sec} [{elapsed} < {eta}]")
            .expect("valid template"),
    );
    let mut results = futures::stream::iter(jobs)
        .map(|(slot, job)| {
            let (fetcher, limiter) = (fetcher.clone(), limiter.clone());
            let out_dir = opts.out_dir.clone();
            async move { (slot, fetcher.fetch_with_retries(&out_dir, &job, limiter.as_deref()).await) }
        })
        .buffer_unordered(opts.concurrency.max(1));
    let mut last_save = tokio::time::Instant::now();
    while let Some((slot, record)) = results.next().await {
        if let Some(error) = &record.error {
            tracing::warn!("{}: {error}", record.url);
        }
        records[slot] = Some(record);
        progress.inc(1);
        if last_save.elapsed() >= SAVE_EVERY {
            save(&manifest_path, &records)?;
            last_save = tokio::time::Instant::now();
        }
    }
    progress.finish_and_clear();
    save(&manifest_path, &records)?;
    report.records = records.into_iter().flatten().collect();
    Ok(report)
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
        error: None,
        attempts: 1,
    })
}

impl FetchError {
    fn record(&self, job: &Job, attempts: u32) -> DownloadRecord {
        DownloadRecord {
            url: job.url.clone(),
            category: job.category.clone(),
            term: job.term.clone(),
            status: if matches!(self, FetchError::NoAi) { DownloadStatus::Skipped } else { DownloadStatus::Failed },
            path: None,
            sha256: None,
            bytes: None,
            http_status: self.http_status(),
            error: Some(format!("{}: {self}", self.code())),
            attempts,
        }
    }
}
