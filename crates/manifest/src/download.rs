//! `raw/manifest.json`: what download did with each URL.

use serde::{Deserialize, Serialize};

use crate::{DownloadOutcome, FailureReason};

/// `raw/manifest.json`: one record per URL of `urls.json`.
pub type DownloadManifest = Vec<DownloadRecord>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredDownloadRecord")]
/// What the download stage did with one URL.
pub struct DownloadRecord {
    /// The URL, as in `urls.json`.
    pub url: String,
    /// The category.
    pub category: String,
    /// The term.
    pub term: String,
    /// Whether the file is in `raw/`.
    pub status: DownloadStatus,
    /// The file, relative to the download folder (`raw/`), when `ok`.
    pub path: Option<String>,
    /// Of the file, when `ok`.
    pub sha256: Option<String>,
    /// The file's size, when `ok`.
    pub bytes: Option<u64>,
    /// The status of the last response, if any came.
    pub http_status: Option<u16>,
    /// Why it was not downloaded (`http_404`, `timeout`, `not_an_image`, `too_large`,
    /// `truncated`, `connection`, `invalid_url`, `noai`, `throttled`, `write`, `robots`,
    /// `robots-unavailable`, `tdm-reserved`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<FailureReason>,
    /// What went wrong, for a person: `<reason>: <message>`.
    pub error: Option<String>,
    /// Requests made for this URL (in the last run that tried it).
    pub attempts: u32,
    /// The photo's page, owner and licence, from `sources.json` beside `urls.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<crate::PhotoSource>,
    /// The opt-out that applied to it (robots.txt, TDMRep, `noai`): honoured (it was
    /// skipped), or overridden by a flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_out: Option<crate::OptOutNote>,
}

impl DownloadRecord {
    /// What this record counts as in summaries.
    pub fn outcome(&self) -> DownloadOutcome {
        DownloadOutcome { status: self.status, reason: self.reason }
    }
}

/// A record as it is on disk: also as versions before the typed `reason` wrote it, whose
/// reason is the code that opens `error` (read for one release).
#[derive(Deserialize)]
struct StoredDownloadRecord {
    url: String,
    category: String,
    term: String,
    status: DownloadStatus,
    path: Option<String>,
    sha256: Option<String>,
    bytes: Option<u64>,
    http_status: Option<u16>,
    #[serde(default)]
    reason: Option<FailureReason>,
    error: Option<String>,
    attempts: u32,
    #[serde(default)]
    provenance: Option<crate::PhotoSource>,
    #[serde(default)]
    opt_out: Option<crate::OptOutNote>,
}

impl From<StoredDownloadRecord> for DownloadRecord {
    fn from(s: StoredDownloadRecord) -> Self {
        let legacy_reason = || s.error.as_deref()?.split_once(':')?.0.parse().ok();
        Self {
            reason: s.reason.or_else(legacy_reason),
            url: s.url,
            category: s.category,
            term: s.term,
            status: s.status,
            path: s.path,
            sha256: s.sha256,
            bytes: s.bytes,
            http_status: s.http_status,
            error: s.error,
            attempts: s.attempts,
            provenance: s.provenance,
            opt_out: s.opt_out,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
/// How the download of one URL ended.
pub enum DownloadStatus {
    /// Downloaded and checked.
    Ok,
    /// Not downloaded; `error` says why, and a re-run tries again.
    Failed,
    /// Deliberately not downloaded: an opt-out (robots.txt, TDMRep, `noai`) applies.
    Skipped,
}

impl DownloadStatus {
    /// The name used in manifests and summaries.
    pub fn name(self) -> &'static str {
        match self {
            DownloadStatus::Ok => "ok",
            DownloadStatus::Failed => "failed",
            DownloadStatus::Skipped => "skipped",
        }
    }
}
