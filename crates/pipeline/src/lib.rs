//! `picseek run`: the stages from crawl to index, in order, each with its own options
//! and each resuming where an earlier run stopped. It only chains the stage crates: it
//! reads their typed reports (never their JSON) and returns one [`RunReport`].
//!
//! Every stage's options are checked before anything starts, and so is the CLIP model
//! when the index stage needs it: a bad flag or a missing model fails at once, not after
//! an hour of crawling. A term whose crawl fails does not stop the others' way through
//! the pipeline; the report lists it, and the caller decides what that means for the exit
//! status. A crawl that found no URL at all stops the run.
//!
//! [`compare_models`] chains index and eval the same way for several models: `eval
//! --model A --model B`.

mod compare;

use std::collections::BTreeMap;

pub use compare::{CompareError, CompareOptions, ModelComparison, ModelTrial, compare_models};

use picseek_clean::{CleanError, CleanOptions, CleanReport};
use picseek_crawl::{CrawlError, CrawlOptions, CrawlReport};
use picseek_download::{DownloadError, DownloadOptions, DownloadReport};
use picseek_embed::{ClipEmbedder, EmbedderSettings};
use picseek_index::{IndexError, IndexOptions, IndexReport};
use picseek_manifest::InvalidOption;
use picseek_split::{SplitError, SplitOptions, SplitReport};
use serde::Serialize;

/// The stages `run` chains, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Search pages to `urls.json`.
    Crawl,
    /// `urls.json` to `raw/`.
    Download,
    /// `raw/` to `clean/`.
    Clean,
    /// `clean/` to `train/` and `test/`.
    Split,
    /// `train/` to `index/`.
    Index,
}

impl Stage {
    /// Every stage, in the order they run.
    pub const ALL: [Stage; 5] = [Stage::Crawl, Stage::Download, Stage::Clean, Stage::Split, Stage::Index];

    /// The stage's command name.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Crawl => "crawl",
            Stage::Download => "download",
            Stage::Clean => "clean",
            Stage::Split => "split",
            Stage::Index => "index",
        }
    }
}

/// Every stage's options.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// For the crawl.
    pub crawl: CrawlOptions,
    /// For the download (its `urls_path` is normally the crawl's).
    pub download: DownloadOptions,
    /// For the clean stage.
    pub clean: CleanOptions,
    /// For the split.
    pub split: SplitOptions,
    /// For the index.
    pub index: IndexOptions,
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A stage's option cannot be used (found before anything ran).
    #[error("{}: {source}", stage.name())]
    Invalid {
        /// The stage whose option it is.
        stage: Stage,
        /// Which option, and why.
        #[source]
        source: InvalidOption,
    },
    /// The CLIP model the index stage needs cannot be used (found before anything ran).
    #[error("the index stage needs the CLIP model: {0}")]
    Model(#[source] picseek_embed::EmbedError),
    /// The crawl found no photo URL at all, so there is nothing to download.
    #[error("the crawl found no photo URLs{}", failed_terms(.failed))]
    NothingFound {
        /// The crawl's report, with each term's outcome.
        crawl: Box<CrawlReport>,
        /// `category/term` of the terms that failed.
        failed: Vec<String>,
    },
    /// The crawl could not run.
    #[error(transparent)]
    Crawl(#[from] CrawlError),
    /// The download could not run.
    #[error(transparent)]
    Download(#[from] DownloadError),
    /// The clean stage could not run.
    #[error(transparent)]
    Clean(#[from] CleanError),
    /// The split could not be made.
    #[error(transparent)]
    Split(#[from] SplitError),
    /// The index could not be built.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The async runtime could not start.
    #[error("could not start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

fn failed_terms(failed: &[String]) -> String {
    if failed.is_empty() { String::new() } else { format!(" ({} term(s) failed: {})", failed.len(), failed.join(", ")) }
}

/// The headline numbers of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunSummary {
    /// Photo URLs known for all terms.
    pub urls_found: usize,
    /// Terms crawled in this run (the others were done before).
    pub terms_crawled_now: usize,
    /// URLs downloaded, in this run or before.
    pub downloaded: usize,
    /// URLs fetched (or tried) in this run.
    pub fetched_now: usize,
    /// Images kept by the clean stage.
    pub kept: usize,
    /// Files the clean stage examined in this run.
    pub examined_now: usize,
    /// Rejected files by reason.
    pub rejected: BTreeMap<picseek_manifest::RejectReason, usize>,
    /// Classes in the split.
    pub classes: usize,
    /// Items in the index.
    pub indexed: usize,
    /// Images embedded in this run.
    pub embedded_now: usize,
}

/// Each stage's own report.
#[derive(Debug, Clone, Serialize)]
pub struct RunStages {
    /// The crawl's.
    pub crawl: CrawlReport,
    /// The download's.
    pub download: DownloadReport,
    /// The clean stage's.
    pub clean: CleanReport,
    /// The split's.
    pub split: SplitReport,
    /// The index's.
    pub index: IndexReport,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The headline numbers.
    pub summary: RunSummary,
    /// Each stage's report.
    pub stages: RunStages,
}

impl RunReport {
    /// `category/term` of the terms whose crawl failed (the run went on without them).
    pub fn failed_terms(&self) -> &[String] {
        &self.stages.crawl.failed
    }
}

/// Checks every stage's options before anything runs.
fn validate(opts: &RunOptions) -> Result<(), RunError> {
    let invalid = |stage| move |source| RunError::Invalid { stage, source };
    opts.crawl.validate().map_err(invalid(Stage::Crawl))?;
    opts.download.validate().map_err(invalid(Stage::Download))?;
    opts.clean.validate().map_err(invalid(Stage::Clean))?;
    opts.split.validate().map_err(invalid(Stage::Split))?;
    opts.index.validate().map_err(invalid(Stage::Index))
}

/// Runs crawl, download, clean, split and index in order (see the crate documentation),
/// calling `on_stage` as each begins.
pub fn run(opts: &RunOptions, mut on_stage: impl FnMut(Stage)) -> Result<RunReport, RunError> {
    validate(opts)?;
    if let EmbedderSettings::Clip(options) = &opts.index.embedder {
        ClipEmbedder::load(options, opts.index.max_decode_bytes).map_err(RunError::Model)?;
    }
    let runtime = tokio::runtime::Runtime::new().map_err(RunError::Runtime)?;

    on_stage(Stage::Crawl);
    let crawl = runtime.block_on(picseek_crawl::crawl(&opts.crawl))?;
    if crawl.urls_found() == 0 {
        let failed = crawl.failed.clone();
        return Err(RunError::NothingFound { crawl: Box::new(crawl), failed });
    }
    if !crawl.failed.is_empty() {
        tracing::warn!(
            "{} term(s) failed: {}; going on with the terms that were found",
            crawl.failed.len(),
            crawl.failed.join(", ")
        );
    }
    on_stage(Stage::Download);
    let download = runtime.block_on(picseek_download::download(&opts.download))?;
    on_stage(Stage::Clean);
    let clean = picseek_clean::clean(&opts.clean)?;
    on_stage(Stage::Split);
    let split = picseek_split::split(&opts.split)?;
    on_stage(Stage::Index);
    let index = picseek_index::build_index(&opts.index)?;

    let summary = RunSummary {
        urls_found: crawl.urls_found(),
        terms_crawled_now: crawl.crawled,
        downloaded: download.ok(),
        fetched_now: download.attempted,
        kept: clean.kept(),
        examined_now: clean.examined,
        rejected: clean.rejected(),
        classes: split.manifest.classes.len(),
        indexed: index.items,
        embedded_now: index.embedded,
    };
    Ok(RunReport { summary, stages: RunStages { crawl, download, clean, split, index } })
}
