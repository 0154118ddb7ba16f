//! `raw/manifest.json`: what download did with each URL.

use serde::{Deserialize, Serialize};

/// `raw/manifest.json`: one record per URL of `urls.json`.
pub type DownloadManifest = Vec<DownloadRecord>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// `<reason>: <detail>`; the reason is a short code (`http_404`, `timeout`,
    /// `not_an_image`, `too_large`, `truncated`, `connection`, `invalid_url`, `noai`).
    pub error: Option<String>,
    /// Requests made for this URL (in the last run that tried it).
    pub attempts: u32,
    /// The photo's page, owner and licence, from `sources.json` beside `urls.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<crate::PhotoSource>,
}

impl DownloadRecord {
    /// The short reason code of a failed or skipped record.
    pub fn reason(&self) -> Option<&str> {
        self.error.as_deref().map(|e| e.split(':').next().unwrap_or(e))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
/// How the download of one URL ended.
pub enum DownloadStatus {
    /// Downloaded and checked.
    Ok,
    /// Not downloaded; `error` says why, and a re-run tries again.
    Failed,
    /// Deliberately not downloaded (e.g. `X-Robots-Tag: noai`).
    Skipped,
}
