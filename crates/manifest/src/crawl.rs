//! The categories file, `urls.json` and `crawl.json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `urls.json`: `{category: {term: [url, ...]}}`, the tutorial's `image_urls.json` shape.
pub type UrlsManifest = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// The categories file: `{category: [term, ...]}`.
pub type Categories = BTreeMap<String, Vec<String>>;

/// `crawl.json`: how the crawl of each term ended, so a re-run knows which terms are done
/// (`urls.json` keeps the tutorial's shape and has no room for it).
pub type CrawlManifest = BTreeMap<String, BTreeMap<String, TermRecord>>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// How the crawl of one term ended.
pub struct TermRecord {
    /// How it ended.
    pub status: TermStatus,
    /// URLs found.
    pub found: usize,
    /// URLs wanted.
    pub wanted: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// The licence filter the term was crawled with (Flickr's ids; empty: none), so a
    /// crawl with another filter does it again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<u8>,
    /// The opt-out that failed it: the search host's robots.txt, TDMRep, or the page's
    /// `noai`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_out: Option<crate::OptOut>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
/// How the crawl of a term ended.
pub enum TermStatus {
    /// `wanted` URLs were found.
    Complete,
    /// The search ran out of results before `wanted`.
    Exhausted,
    /// No usable results (the reason is recorded).
    Failed,
}
