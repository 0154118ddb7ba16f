//! The flags of the commands that write the dataset: crawl, download, clean, split, index, merge and run.

use std::path::PathBuf;

use clap::Args;
use picseek_clean::{CleanOptions, Dedup};
use picseek_crawl::{CrawlOptions, SIZE_SUFFIXES, SourceKind};
use picseek_download::DownloadOptions;
use picseek_embed::ModelOptions;
use picseek_index::IndexOptions;
use picseek_manifest::{ClassNaming, Metric, QualityFlag};
use picseek_split::SplitOptions;

use super::{AnnArgs, BuildArgs, Licenses, ModelArgs, OptOutArgs, ShardArgs, parse_licenses};

#[derive(Args)]
pub struct CrawlArgs {
    /// The categories file: {"category": ["term", ...], ...}.
    #[arg(long)]
    pub categories: PathBuf,
    /// Where to write the URLs [default: <data-dir>/urls.json].
    #[arg(long)]
    pub urls: Option<PathBuf>,
    /// The search page; {term} is replaced by the URL-encoded term.
    #[arg(long, default_value_t = CrawlOptions::default().url_template)]
    pub url_template: String,
    /// Photo URLs wanted per term.
    #[arg(long, default_value_t = CrawlOptions::default().max_per_term)]
    pub max_per_term: usize,
    /// The Flickr size suffix every photo URL is rewritten to.
    #[arg(long, default_value_t = CrawlOptions::default().size, value_parser = SIZE_SUFFIXES)]
    pub size: String,
    /// A host whose images are photos (sub-domains included); repeat for more.
    #[arg(long = "photo-host", default_values_t = CrawlOptions::default().photo_hosts)]
    pub photo_hosts: Vec<String>,
    /// Terms crawled at once, one browser session each.
    #[arg(long, default_value_t = CrawlOptions::default().concurrency)]
    pub concurrency: usize,
    /// Page actions (loads, scrolls, clicks) per second per host.
    #[arg(long, default_value_t = CrawlOptions::default().rate)]
    pub rate: f64,
    /// Use this running WebDriver server instead of starting chromedriver.
    #[arg(long)]
    pub webdriver: Option<String>,
    /// Show the browser windows.
    #[arg(long)]
    pub headful: bool,
    /// Crawl terms again even if urls.json already has them.
    #[arg(long)]
    pub force: bool,
    /// Seconds one term may take.
    #[arg(long, default_value_t = CrawlOptions::default().term_timeout.as_secs())]
    pub term_timeout: u64,
    /// `browser` (the search page in headless Chromium) or `flickr-api` (the
    /// flickr.photos.search REST method, with a key from FLICKR_API_KEY).
    #[arg(long, value_enum, default_value_t = SourceKind::Browser)]
    pub source: SourceKind,
    /// The Flickr REST endpoint, for --source flickr-api.
    #[arg(long, default_value = CrawlOptions::DEFAULT_API_URL)]
    pub api_url: String,
    /// Keep only photos under these licences: Flickr's ids (0 to 10) or names
    /// (all-rights-reserved, cc-by-nc-sa, cc-by-nc, cc-by-nc-nd, cc-by, cc-by-sa, cc-by-nd,
    /// no-known-copyright, us-gov, cc0, pdm) or groups (commercial, modifiable, open, cc),
    /// comma-separated [default: every licence].
    #[arg(long = "license", value_parser = parse_licenses)]
    pub licenses: Option<Licenses>,
    #[command(flatten)]
    pub opt_outs: OptOutArgs,
}

#[derive(Args)]
pub struct DownloadArgs {
    /// The URLs to fetch, {"category": {"term": ["url", ...]}} [default: <data-dir>/urls.json].
    #[arg(long)]
    pub urls: Option<PathBuf>,
    /// Where files go [default: <data-dir>/raw].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = DownloadOptions::default().concurrency)]
    pub concurrency: usize,
    /// The most requests per second per host; each host's pace adapts below it when the
    /// host refuses (429/503). 0 = no ceiling (still adaptive).
    #[arg(long, default_value_t = DownloadOptions::default().rate)]
    pub rate: f64,
    /// Requests in flight to one host at once.
    #[arg(long, default_value_t = DownloadOptions::default().connections_per_host)]
    pub connections_per_host: usize,
    /// Seconds a host may refuse every request before its remaining URLs are recorded
    /// as `throttled` (a re-run resumes them).
    #[arg(long, default_value_t = DownloadOptions::default().throttle_timeout.as_secs())]
    pub throttle_timeout: u64,
    /// Retries after the first attempt for real errors (5xx, resets, timeouts), with
    /// exponential back-off and jitter; refusals (429/503) do not use them.
    #[arg(long, default_value_t = DownloadOptions::default().retries)]
    pub retries: usize,
    /// Seconds one request may take.
    #[arg(long, default_value_t = DownloadOptions::default().timeout.as_secs_f64())]
    pub timeout: f64,
    /// Largest file accepted, in bytes.
    #[arg(long, default_value_t = DownloadOptions::default().max_bytes)]
    pub max_bytes: u64,
    #[command(flatten)]
    pub opt_outs: OptOutArgs,
    #[command(flatten)]
    pub shard: ShardArgs,
}

#[derive(Args)]
pub struct CleanArgs {
    /// The downloaded files, or a folder of one's own in any layout (<class>/<image>, flat,
    /// nested) [default: <data-dir>/raw].
    #[arg(long = "in")]
    pub input: Option<PathBuf>,
    /// For a folder of one's own: where each image's class comes from: folder (the folder
    /// it is in), top (the top folder under --in) or none (one class named after --in).
    #[arg(long, value_enum, default_value_t = CleanOptions::default().classes)]
    pub classes: ClassNaming,
    /// Where kept images go [default: <data-dir>/clean].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Reject images whose shorter side is below this many pixels.
    #[arg(long, default_value_t = CleanOptions::default().min_side)]
    pub min_side: u32,
    /// exact (same bytes or pixels), near (also perceptually alike), clip (also alike to a
    /// CLIP model: --model; its vectors go to the index's embedding cache) or off.
    #[arg(long, value_enum, default_value_t = CleanOptions::default().dedup)]
    pub dedup: Dedup,
    /// For --dedup clip: the cosine at or above which two images are duplicates.
    #[arg(long, default_value_t = picseek_clean::ClipDedup::DEFAULT_THRESHOLD)]
    pub clip_threshold: f32,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Largest Hamming distance (of 64 bits) between perceptual hashes of near duplicates
    /// (a first filter; aligned pixels decide, see --near-pixels).
    #[arg(long, default_value_t = CleanOptions::default().near_distance)]
    pub near_distance: u32,
    /// Largest share (0 to 1) of pixels that may differ, once aligned, between near
    /// duplicates (copies leave under 0.001; a different glyph on one template about 0.01).
    #[arg(long, default_value_t = CleanOptions::default().near_pixels)]
    pub near_pixels: f32,
    /// Images bigger than this when decoded (bytes) are rejected as too large.
    #[arg(long, default_value_t = CleanOptions::default().max_decode_bytes)]
    pub max_decode_bytes: u64,
    /// Quality flags that reject an image instead of only being recorded: dark, light,
    /// blurry, low_information, grayscale, odd_aspect_ratio, odd_size (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub reject: Vec<QualityFlag>,
    #[command(flatten)]
    pub shard: ShardArgs,
}

#[derive(Args)]
pub struct SplitArgs {
    /// The <class>/<image> folder to split [default: <data-dir>/clean].
    #[arg(long = "in")]
    pub input: Option<PathBuf>,
    /// Test images per class.
    #[arg(long, default_value_t = SplitOptions::default().test_per_class)]
    pub test_per_class: usize,
    /// Train images per class (0 = all the rest).
    #[arg(long, default_value_t = SplitOptions::default().train_per_class)]
    pub train_per_class: usize,
    /// Changes which images are drawn for each side (the same seed gives the same split).
    #[arg(long, default_value_t = SplitOptions::default().seed)]
    pub seed: u64,
    /// `near`: near copies (crops, resized, re-encoded, brightened, shifted copies, across
    /// classes too) always land on the same side; `off`: image by image.
    #[arg(long, default_value = "near", value_parser = ["near", "off"])]
    pub leakage: String,
    /// Bits (of 64) in which two images' perceptual hashes may differ to count as near
    /// copies. Every two images of a group must be this close (groups do not chain).
    #[arg(long, default_value_t = SplitOptions::default().group_distance)]
    pub group_distance: u32,
    /// Cosine between CLIP vectors (where <data-dir>/index/cache/ has them) at or above
    /// which two images count as near copies.
    #[arg(long, default_value_t = SplitOptions::default().group_cosine)]
    pub group_cosine: f32,
    /// The most images a near-copy group may keep on one side; larger groups, and any
    /// holding more than a third of a class, are cut into pieces and named.
    #[arg(long, default_value_t = SplitOptions::default().max_group)]
    pub max_group: usize,
}

#[derive(Args)]
pub struct IndexArgs {
    /// The folder to index: <class>/<image>, a flat folder of photos or a nested tree
    /// [default: <data-dir>/train].
    #[arg(long)]
    pub train: Option<PathBuf>,
    /// Where each image's class comes from: folder (the folder it is in), top (the top
    /// folder under --train) or none (one class named after --train).
    #[arg(long, value_enum, default_value_t = IndexOptions::default().classes)]
    pub classes: ClassNaming,
    /// The index folder [default: <data-dir>/index].
    #[arg(long)]
    pub index: Option<PathBuf>,
    #[command(flatten)]
    pub build: BuildArgs,
    /// Images per model run (CLIP).
    #[arg(long, default_value_t = ModelOptions::DEFAULT_BATCH)]
    pub batch: usize,
    /// Metrics to build an approximate (usearch) index for: cosine, l2, correlation;
    /// repeat or separate with commas (CLIP; l1 is always searched exactly) [default:
    /// those the index has, else cosine].
    #[arg(long = "metric", value_enum, value_delimiter = ',')]
    pub metrics: Vec<Metric>,
    #[command(flatten)]
    pub ann: AnnArgs,
    /// Images bigger than this when decoded (bytes) are skipped as too large.
    #[arg(long, default_value_t = IndexOptions::default().max_decode_bytes)]
    pub max_decode_bytes: u64,
    #[command(flatten)]
    pub shard: ShardArgs,
}

/// The stage `merge` joins the shards of, with the stage's own flags (paths, and for
/// clean the dedup and reject settings, which the merge applies).
#[derive(clap::Subcommand)]
pub enum MergeStage {
    /// Join the download shards into raw/manifest.json.
    Download(DownloadArgs),
    /// Join the clean shards into clean/manifest.json, deciding duplicates over all files.
    Clean(CleanArgs),
    /// Join the index shards' vectors into one index and build its graphs.
    Index(IndexArgs),
}

#[derive(Args)]
pub struct MergeArgs {
    #[command(subcommand)]
    pub stage: MergeStage,
}

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub crawl: CrawlArgs,
    /// The most download requests per second per host (0 = no ceiling; still adaptive).
    #[arg(long, default_value_t = DownloadOptions::default().rate)]
    pub download_rate: f64,
    #[command(flatten)]
    pub build: BuildArgs,
    /// Test images per class.
    #[arg(long, default_value_t = SplitOptions::default().test_per_class)]
    pub test_per_class: usize,
    /// Train images per class (0 = all the rest).
    #[arg(long, default_value_t = SplitOptions::default().train_per_class)]
    pub train_per_class: usize,
}
