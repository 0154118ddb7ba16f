use serde::{Deserialize, Serialize};

/// `raw/manifest.json`: one record per URL of `urls.json`.
pub type DownloadManifest = Vec<DownloadRecord>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownloadRecord {
    pub url: String,
    pub category: String,
    pub term: String,
    pub status: DownloadStatus,
    /// The file, relative to the download folder (`raw/`), when `ok`.
    pub path: Option<String>,
    pub sha256: Option<String>,
    pub bytes: Option<u64>,
    /// The status of the last response, if any came.
    pub http_status: Option<u16>,
    /// `<reason>: <detail>`; the reason is a short code (`http_404`, `timeout`,
    /// `not_an_image`, `too_large`, `truncated`, `connection`, `invalid_url`, `noai`).
    pub error: Option<String>,
    pub attempts: u32,
}

impl DownloadRecord {
    /// The short reason code of a failed or skipped record.
    pub fn reason(&self) -> Option<&str> {
        self.error.as_deref().map(|e| e.split(':').next().unwrap_or(e))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DownloadStatus {
    Ok,
    Failed,
    /// Deliberately not downloaded (e.g. `X-Robots-Tag: noai`).
    Skipped,
}
