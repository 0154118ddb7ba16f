//! Fetching one URL: a request, its checks, and retries.

use std::path::Path;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use std::sync::Arc;

use picseek_manifest::{DownloadRecord, DownloadStatus, FailureReason, OptOutNote, sha256_hex, write_atomic};
use picseek_optout::{HostPace, OptOuts, Verdict, parse_retry_after};
use reqwest::StatusCode;

use crate::limiter::HostLimiter;
use crate::{DownloadOptions, Job};

/// The longest back-off, and the longest `Retry-After` honoured (a server asking for
/// more gets this much).
const MAX_DELAY: Duration = Duration::from_secs(60);

/// Why one attempt failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("HTTP {status}")]
    Http { status: u16, retry_after: Option<Duration> },
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Connection(String),
    #[error("got {got} of {expected} bytes (Content-Length)")]
    Truncated { got: u64, expected: u64 },
    #[error("larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the response is not an image (Content-Type {0:?})")]
    NotAnImage(String),
    #[error("{}", .0.opt_out.describe())]
    OptedOut(OptOutNote),
    #[error("not an http(s) URL")]
    InvalidUrl,
    #[error("{0}")]
    Write(String),
    #[error("the host refused every request for {for_secs} s (HTTP 429/503)")]
    Throttled { for_secs: u64 },
}

/// The host of an http(s) URL.
pub(crate) fn host_of(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .and_then(|u| u.host_str().map(str::to_owned))
}

impl FetchError {
    /// The reason code recorded in the manifest.
    pub(crate) fn code(&self) -> FailureReason {
        match self {
            Self::Http { status, .. } => FailureReason::Http(*status),
            Self::Timeout(_) => FailureReason::Timeout,
            Self::Connection(_) => FailureReason::Connection,
            Self::Truncated { .. } => FailureReason::Truncated,
            Self::TooLarge { .. } => FailureReason::TooLarge,
            Self::NotAnImage(_) => FailureReason::NotAnImage,
            Self::OptedOut(note) => note.opt_out.reason(),
            Self::InvalidUrl => FailureReason::InvalidUrl,
            Self::Write(_) => FailureReason::Write,
            Self::Throttled { .. } => FailureReason::Throttled,
        }
    }

    /// 429 and 503: the host asks to slow down, which is not a failure of the URL.
    fn is_refusal(&self) -> bool {
        matches!(self, Self::Http { status: 429 | 503, .. })
    }

    /// Timeouts, resets, truncated bodies, 5xx, 408 and 429 may succeed later; other
    /// 4xx and content problems will not.
    fn is_retryable(&self) -> bool {
        match self {
            Self::Http { status, .. } => *status == 408 || *status == 429 || *status >= 500,
            Self::Timeout(_) | Self::Connection(_) | Self::Truncated { .. } => true,
            _ => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Http { retry_after, .. } => retry_after.map(|d| d.min(MAX_DELAY)),
            _ => None,
        }
    }

    pub(crate) fn http_status(&self) -> Option<u16> {
        match self {
            Self::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    fn from_reqwest(e: reqwest::Error) -> Self {
        if e.is_timeout() { Self::Timeout(format!("timed out: {e}")) } else { Self::Connection(error_chain(&e)) }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A downloaded image, checked and written.
struct Fetched {
    sha256: String,
    bytes: u64,
    http_status: u16,
    /// The opt-out a flag overrode, if one applied.
    opt_out: Option<OptOutNote>,
}

impl Fetched {
    fn record(self, job: &Job, attempts: u32) -> DownloadRecord {
        DownloadRecord {
            url: job.url.clone(),
            category: job.category.clone(),
            term: job.term.clone(),
            status: DownloadStatus::Ok,
            path: Some(job.relative_path.clone()),
            sha256: Some(self.sha256),
            bytes: Some(self.bytes),
            http_status: Some(self.http_status),
            reason: None,
            error: None,
            attempts,
            provenance: None,
            opt_out: self.opt_out,
        }
    }
}

/// A host's pace in a download, for the opt-out files read from it.
struct LimiterPace<'a> {
    limiter: &'a HostLimiter,
    host: &'a str,
}

impl HostPace for LimiterPace<'_> {
    type Turn = crate::limiter::Turn;

    fn turn(&self) -> impl std::future::Future<Output = Self::Turn> {
        self.limiter.turn(self.host)
    }

    fn refused(&self, turn: &Self::Turn, retry_after: Option<Duration>) {
        self.limiter.refused(self.host, turn.started, retry_after.map(|d| d.min(MAX_DELAY)));
    }

    fn served(&self) {
        self.limiter.served(self.host);
    }

    fn floor(&self, delay: Duration) {
        self.limiter.set_floor(self.host, delay);
    }
}

pub(crate) struct Fetcher {
    client: reqwest::Client,
    opt_outs: Arc<OptOuts>,
    max_bytes: u64,
    retries: usize,
    backoff: Duration,
}

impl Fetcher {
    pub(crate) fn new(opts: &DownloadOptions) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .user_agent(opts.opt_outs.user_agent_header())
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout.min(Duration::from_secs(10)))
            .build()?;
        let opt_outs = Arc::new(OptOuts::new(opts.opt_outs.clone(), client.clone()));
        Ok(Self { client, opt_outs, max_bytes: opts.max_bytes, retries: opts.retries, backoff: opts.backoff })
    }

    /// The opt-outs this fetcher decides with (and the files it read).
    pub(crate) fn opt_outs(&self) -> &OptOuts {
        &self.opt_outs
    }

    /// Fetches `job`, taking turns on its host through `limiter`, and returns its
    /// manifest record. A refusal (429, 503) is not a failure: the URL waits for the
    /// host's slower pace and goes again, without using one of the retries, until the
    /// host has refused for longer than `throttle_timeout` (then it is `throttled`). Real
    /// errors (other 5xx, 408, resets, timeouts, truncated bodies) use the retries, with
    /// exponential back-off and jitter.
    pub(crate) async fn fetch_with_retries(
        &self,
        out_dir: &Path,
        job: &Job,
        limiter: &HostLimiter,
        in_flight: &tokio::sync::Semaphore,
        throttle_timeout: Duration,
    ) -> DownloadRecord {
        let (Some(host), Ok(url)) = (host_of(&job.url), url::Url::parse(&job.url)) else {
            return FetchError::InvalidUrl.record(job, 0);
        };
        // The host's robots.txt and tdmrep.json, read once per run on the host's pace.
        let rules = self.opt_outs.rules_for(&url, &LimiterPace { limiter, host: &host }).await;
        let overridden = match self.opt_outs.before_fetch(&rules, &url) {
            Verdict::Skip(note) => return FetchError::OptedOut(note).record(job, 0),
            Verdict::FetchOverriding(note) => Some(note),
            Verdict::Fetch => None,
        };
        let mut attempts = 0;
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(self.backoff)
            .with_max_delay(MAX_DELAY)
            .with_max_times(self.retries)
            .with_jitter()
            .build();
        loop {
            let turn = limiter.turn(&host).await;
            if limiter.has_given_up(&host) {
                return FetchError::Throttled { for_secs: throttle_timeout.as_secs() }.record(job, attempts);
            }
            // Taken only once the host's pace allows: a request waiting for a slow host
            // holds none of the global places in flight.
            let place = in_flight.acquire().await.expect("the semaphore is never closed");
            attempts += 1;
            let result = self.fetch_once(out_dir, job, overridden.clone()).await;
            let started = turn.started;
            drop((place, turn));
            let error = match result {
                Ok(fetched) => {
                    limiter.served(&host);
                    return fetched.record(job, attempts);
                }
                Err(e) => e,
            };
            if error.is_refusal() {
                let refusing_for = limiter.refused(&host, started, error.retry_after());
                tracing::debug!("{}: {error}; the host has refused for {refusing_for:?}", job.url);
                if refusing_for > throttle_timeout {
                    limiter.give_up(&host);
                    return FetchError::Throttled { for_secs: refusing_for.as_secs() }.record(job, attempts);
                }
                continue;
            }
            if matches!(error, FetchError::Timeout(_) | FetchError::Connection(_)) {
                limiter.failed(&host, started);
            }
            match backoff.next().filter(|_| error.is_retryable()) {
                Some(delay) => {
                    let delay = error.retry_after().unwrap_or(delay);
                    tracing::debug!("{}: {error}; retrying in {delay:?}", job.url);
                    tokio::time::sleep(delay).await;
                }
                None => return error.record(job, attempts),
            }
        }
    }

    async fn fetch_once(
        &self,
        out_dir: &Path,
        job: &Job,
        overridden: Option<OptOutNote>,
    ) -> Result<Fetched, FetchError> {
        let (body, status, on_response) = self.fetch_image(&job.url).await?;
        let sha256 = sha256_hex(&body);
        let path = out_dir.join(&job.relative_path);
        let bytes = body.len() as u64;
        tokio::task::spawn_blocking(move || write_atomic(&path, &body))
            .await
            .map_err(|e| FetchError::Write(e.to_string()))?
            .map_err(|e| FetchError::Write(e.to_string()))?;
        Ok(Fetched { sha256, bytes, http_status: status, opt_out: on_response.or(overridden) })
    }

    /// One GET of `url`, kept only if it is complete, within the size limit, not opted
    /// out by its headers (`tdm-reservation`, `X-Robots-Tag: noai`; unless a flag
    /// overrides it, whose note comes back) and an image by its bytes: the body, status
    /// and note.
    pub(crate) async fn fetch_image(&self, url: &str) -> Result<(Vec<u8>, u16, Option<OptOutNote>), FetchError> {
        if host_of(url).is_none() {
            return Err(FetchError::InvalidUrl);
        }
        let mut response = self.client.get(url).send().await.map_err(FetchError::from_reqwest)?;
        let status = response.status();
        if status != StatusCode::OK {
            return Err(FetchError::Http {
                status: status.as_u16(),
                retry_after: parse_retry_after(response.headers()),
            });
        }
        let overridden = match self.opt_outs.after_headers(response.headers()) {
            Verdict::Skip(note) => return Err(FetchError::OptedOut(note)),
            Verdict::FetchOverriding(note) => Some(note),
            Verdict::Fetch => None,
        };
        let expected = response.content_length();
        if expected.is_some_and(|len| len > self.max_bytes) {
            return Err(FetchError::TooLarge { limit: self.max_bytes });
        }
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("none").to_owned();
        let mut body = Vec::with_capacity(expected.unwrap_or(64 * 1024).min(self.max_bytes) as usize);
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() as u64 + chunk.len() as u64 > self.max_bytes {
                        return Err(FetchError::TooLarge { limit: self.max_bytes });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    // A body cut short is reported as such when its length was promised.
                    return Err(match expected {
                        Some(expected) if !e.is_timeout() => FetchError::Truncated { got: body.len() as u64, expected },
                        _ => FetchError::from_reqwest(e),
                    });
                }
            }
        }
        if let Some(expected) = expected.filter(|&e| e != body.len() as u64) {
            return Err(FetchError::Truncated { got: body.len() as u64, expected });
        }
        if image::guess_format(&body).is_err() {
            return Err(FetchError::NotAnImage(content_type));
        }
        Ok((body, status.as_u16(), overridden))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_failures_are_retried() {
        let http = |status| FetchError::Http { status, retry_after: None };
        for status in [408, 429, 500, 503] {
            assert!(http(status).is_retryable(), "{status}");
        }
        for status in [400, 403, 404, 410] {
            assert!(!http(status).is_retryable(), "{status}");
        }
        assert!(!FetchError::NotAnImage("text/html".into()).is_retryable());
        assert!(FetchError::Truncated { got: 1, expected: 2 }.is_retryable());
    }
}
