//! One function per subcommand: turn flags into the stage's options (whose defaults the
//! flags show), call the stage, and print its typed report: `--json` as it serialises,
//! otherwise as a table or a line.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use picseek_clean::{CleanOptions, CleanReport, Dedup};
use picseek_crawl::{CrawlOptions, CrawlReport, SIZE_SUFFIXES, Source, SourceKind};
use picseek_doctor::DoctorOptions;
use picseek_download::{DownloadOptions, DownloadReport};
use picseek_index::{
    AnnSettings, ClipOptions, EmbedderChoice, EmbedderKind, Index, IndexOptions, IndexReport, RecordedBuild,
};
use picseek_manifest::{ClassNaming, DataDirLock, Metric, QualityFlag, Quantization, Shard, TermStatus};
use picseek_pipeline::{RunOptions, RunReport, Stage};
use picseek_search::{SearchRequest, Searcher, SheetQuery, evaluate};
use picseek_serve::ServeOptions;
use picseek_split::{SplitOptions, SplitReport};
use serde::Serialize;
use std::collections::BTreeMap;

/// What every command shares.
pub struct Context {
    pub data_dir: PathBuf,
    pub json: bool,
}

impl Context {
    /// A flag's path, or the stage's default under the data directory.
    fn path_or_default(&self, flag: Option<PathBuf>, default: &str) -> PathBuf {
        flag.unwrap_or_else(|| self.data_dir.join(default))
    }

    /// Prints `report`: as JSON with `--json`, else through `human`.
    fn print<R: Serialize>(
        &self,
        report: &R,
        human: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        let written = if self.json {
            serde_json::to_writer_pretty(&mut out, report).map_err(std::io::Error::from).and_then(|()| writeln!(out))
        } else {
            human(&mut out)
        };
        match written.and_then(|()| out.flush()) {
            // The reader has gone (`picseek ... | head`): what it wanted, it has.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => Ok(other?),
        }
    }
}

/// Which shard a `download`, `clean` or `index` run is, if it is one.
#[derive(Args, Clone, Copy, Default)]
pub struct ShardArgs {
    /// Do only shard I of N (0-based; `auto`: the Slurm array task or Kubernetes Indexed
    /// Job index this runs as), into the stage's .shards/ folder; `picseek merge <stage>`
    /// joins the N shards once all are complete. A finished shard is skipped on re-run.
    #[arg(long, value_name = "I/N|auto")]
    shard: Option<ShardFlag>,
    /// How many shards: with `--shard auto` under Kubernetes (JOB_COMPLETION_INDEX names
    /// only the index); alone it means `--shard auto`; for `merge`, which shards to join
    /// [default for merge: the one count whose shards are there].
    #[arg(long, value_name = "N")]
    shards: Option<usize>,
}

/// `--shard`'s value.
#[derive(Clone, Copy)]
enum ShardFlag {
    Given(Shard),
    FromEnvironment,
}

impl std::str::FromStr for ShardFlag {
    type Err = picseek_manifest::ShardError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "auto" { Ok(Self::FromEnvironment) } else { s.parse().map(Self::Given) }
    }
}

impl ShardArgs {
    /// Whether the run is a shard (it takes the data directory's lock shared).
    pub fn given(&self) -> bool {
        self.shard.is_some() || self.shards.is_some()
    }

    /// The shard this run is, if any.
    fn shard(&self) -> anyhow::Result<Option<Shard>> {
        match (self.shard, self.shards) {
            (None, None) => Ok(None),
            (Some(ShardFlag::Given(shard)), None) => Ok(Some(shard)),
            (Some(ShardFlag::Given(shard)), Some(n)) if n == shard.count => Ok(Some(shard)),
            (Some(ShardFlag::Given(shard)), Some(n)) => {
                bail!("--shard {shard} and --shards {n} disagree on the number of shards")
            }
            (Some(ShardFlag::FromEnvironment) | None, count) => {
                let shard = Shard::from_environment(|name| std::env::var(name).ok(), count)
                    .map_err(|e| anyhow::anyhow!("--shard auto: {e}"))?;
                Ok(Some(shard))
            }
        }
    }

    /// For `merge`: the number of shards to join, if given.
    fn merge_count(&self) -> anyhow::Result<Option<usize>> {
        if self.shard.is_some() {
            bail!("merge joins every shard: --shard names one; give their number with --shards N");
        }
        Ok(self.shards)
    }
}

/// A shard's own lock, in its folder: the same shard never runs twice at once (a retry
/// while the first attempt still runs, say), while other shards run beside it.
fn lock_shard(stage_dir: &std::path::Path, shard: Option<Shard>, stage: &str) -> anyhow::Result<Option<DataDirLock>> {
    let Some(shard) = shard else { return Ok(None) };
    Ok(Some(DataDirLock::acquire(&shard.dir(stage_dir), &format!("{stage} --shard {shard}"))?))
}

/// The first line of a shard's summary.
fn write_shard_line(out: &mut dyn Write, shard: Option<Shard>, already_complete: bool) -> std::io::Result<()> {
    match shard {
        Some(shard) if already_complete => {
            writeln!(out, "shard {shard} already ran to the end on this input: nothing to do")
        }
        Some(shard) => writeln!(out, "shard {shard} complete; once all are, join them with picseek merge"),
        None => Ok(()),
    }
}

fn all_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[derive(Args)]
pub struct CrawlArgs {
    /// The categories file: {"category": ["term", ...], ...}.
    #[arg(long)]
    categories: PathBuf,
    /// Where to write the URLs [default: <data-dir>/urls.json].
    #[arg(long)]
    urls: Option<PathBuf>,
    /// The search page; {term} is replaced by the URL-encoded term.
    #[arg(long, default_value_t = CrawlOptions::default().url_template)]
    url_template: String,
    /// Photo URLs wanted per term.
    #[arg(long, default_value_t = CrawlOptions::default().max_per_term)]
    max_per_term: usize,
    /// The Flickr size suffix every photo URL is rewritten to.
    #[arg(long, default_value_t = CrawlOptions::default().size, value_parser = SIZE_SUFFIXES)]
    size: String,
    /// A host whose images are photos (sub-domains included); repeat for more.
    #[arg(long = "photo-host", default_values_t = CrawlOptions::default().photo_hosts)]
    photo_hosts: Vec<String>,
    /// Terms crawled at once, one browser session each.
    #[arg(long, default_value_t = CrawlOptions::default().concurrency)]
    concurrency: usize,
    /// Page actions (loads, scrolls, clicks) per second per host.
    #[arg(long, default_value_t = CrawlOptions::default().rate)]
    rate: f64,
    /// Use this running WebDriver server instead of starting chromedriver.
    #[arg(long)]
    webdriver: Option<String>,
    /// Show the browser windows.
    #[arg(long)]
    headful: bool,
    /// Crawl terms again even if urls.json already has them.
    #[arg(long)]
    force: bool,
    /// Seconds one term may take.
    #[arg(long, default_value_t = CrawlOptions::default().term_timeout.as_secs())]
    term_timeout: u64,
    /// `browser` (the search page in headless Chromium) or `flickr-api` (the
    /// flickr.photos.search REST method, with a key from FLICKR_API_KEY).
    #[arg(long, value_enum, default_value_t = SourceKind::Browser)]
    source: SourceKind,
    /// The Flickr REST endpoint, for --source flickr-api.
    #[arg(long, default_value = CrawlOptions::DEFAULT_API_URL)]
    api_url: String,
    /// Keep only photos under these licences: Flickr's ids (0 to 10) or names
    /// (all-rights-reserved, cc-by-nc-sa, cc-by-nc, cc-by-nc-nd, cc-by, cc-by-sa, cc-by-nd,
    /// no-known-copyright, us-gov, cc0, pdm) or groups (commercial, modifiable, open, cc),
    /// comma-separated [default: every licence].
    #[arg(long = "license", value_parser = parse_licenses)]
    licenses: Option<Licenses>,
}

/// A licence filter's ids.
#[derive(Clone)]
struct Licenses(Vec<u8>);

fn parse_licenses(list: &str) -> Result<Licenses, String> {
    picseek_manifest::License::parse_filter(list).map(Licenses)
}

impl CrawlArgs {
    fn options(self, ctx: &Context) -> anyhow::Result<CrawlOptions> {
        let source = match self.source {
            SourceKind::FlickrApi => {
                let key = std::env::var("FLICKR_API_KEY").ok().filter(|k| !k.trim().is_empty());
                let Some(key) = key else {
                    bail!("--source flickr-api needs an API key in the FLICKR_API_KEY variable")
                };
                Source::FlickrApi { api_url: self.api_url, key }
            }
            SourceKind::Browser => Source::Browser,
        };
        Ok(CrawlOptions {
            categories_file: self.categories,
            urls_path: ctx.path_or_default(self.urls, "urls.json"),
            url_template: self.url_template,
            max_per_term: self.max_per_term,
            size: self.size,
            photo_hosts: self.photo_hosts,
            concurrency: self.concurrency,
            rate: self.rate,
            webdriver: self.webdriver,
            headful: self.headful,
            force: self.force,
            term_timeout: Duration::from_secs(self.term_timeout),
            source,
            licenses: self.licenses.map(|l| l.0).unwrap_or_default(),
        })
    }
}

pub fn crawl(ctx: &Context, args: CrawlArgs) -> anyhow::Result<()> {
    let opts = args.options(ctx)?;
    let report = tokio::runtime::Runtime::new()?.block_on(picseek_crawl::crawl(&opts))?;
    ctx.print(&report, |out| {
        write_crawl_table(out, &report)?;
        match report.urls_found() {
            0 => writeln!(out, "no photo URLs found: {} lists none", report.urls.display()),
            n => writeln!(out, "wrote {} ({n} photo URLs)", report.urls.display()),
        }
    })?;
    fail_on_failed_terms(&report.failed)
}

fn write_crawl_table(out: &mut dyn Write, report: &CrawlReport) -> std::io::Result<()> {
    writeln!(out, "{:<16} {:<24} {:>7} {:<10} note", "category", "term", "found", "status")?;
    for t in &report.terms {
        let status = match (t.skipped, t.record.status) {
            (true, _) => "done",
            (false, TermStatus::Complete) => "complete",
            (false, TermStatus::Exhausted) => "exhausted",
            (false, TermStatus::Failed) => "failed",
        };
        // A WebDriver message can run over several lines; the table keeps one per term.
        let note = t.record.error.as_deref().and_then(|e| e.lines().next()).unwrap_or("");
        writeln!(
            out,
            "{:<16} {:<24} {:>3}/{:<3} {:<10} {note}",
            t.category, t.term, t.record.found, t.record.wanted, status
        )?;
    }
    write_crawl_advice(out, report)
}

/// What to do about failed terms, once per kind of failure, under the table.
fn write_crawl_advice(out: &mut dyn Write, report: &CrawlReport) -> std::io::Result<()> {
    use picseek_crawl::TermFailure;
    let mut unreachable: Vec<&str> = Vec::new();
    let mut no_photos: Vec<&str> = Vec::new();
    for t in &report.terms {
        match &t.failure {
            Some(TermFailure::Unreachable { host }) if !unreachable.contains(&host.as_str()) => unreachable.push(host),
            Some(TermFailure::NoPhotos) => no_photos.push(&t.term),
            Some(TermFailure::OtherHostsOnly { hosts }) => writeln!(
                out,
                "{}: the images on the page are on {}; if those are the photos, add --photo-host {}",
                t.term,
                hosts.join(", "),
                hosts.first().map_or("HOST", String::as_str)
            )?,
            _ => {}
        }
    }
    if !unreachable.is_empty() {
        writeln!(
            out,
            "{} could not be reached (offline, or the host is down): check the network, or use --source flickr-api \
             (with FLICKR_API_KEY), or put your own images in <data-dir>/clean/<class>/ and start at `picseek split`",
            unreachable.join(", ")
        )?;
    }
    if !no_photos.is_empty() {
        writeln!(out, "no photos on the page for {}: check the spelling, or --url-template", no_photos.join(", "))?;
    }
    Ok(())
}

/// Fails when terms failed (after the table was shown).
fn fail_on_failed_terms(failed: &[String]) -> anyhow::Result<()> {
    if !failed.is_empty() {
        bail!("{} term(s) failed: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}

#[derive(Args)]
pub struct DownloadArgs {
    /// The URLs to fetch, {"category": {"term": ["url", ...]}} [default: <data-dir>/urls.json].
    #[arg(long)]
    urls: Option<PathBuf>,
    /// Where files go [default: <data-dir>/raw].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = DownloadOptions::default().concurrency)]
    concurrency: usize,
    /// The most requests per second per host; each host's pace adapts below it when the
    /// host refuses (429/503). 0 = no ceiling (still adaptive).
    #[arg(long, default_value_t = DownloadOptions::default().rate)]
    rate: f64,
    /// Requests in flight to one host at once.
    #[arg(long, default_value_t = DownloadOptions::default().connections_per_host)]
    connections_per_host: usize,
    /// Seconds a host may refuse every request before its remaining URLs are recorded
    /// as `throttled` (a re-run resumes them).
    #[arg(long, default_value_t = DownloadOptions::default().throttle_timeout.as_secs())]
    throttle_timeout: u64,
    /// Retries after the first attempt for real errors (5xx, resets, timeouts), with
    /// exponential back-off and jitter; refusals (429/503) do not use them.
    #[arg(long, default_value_t = DownloadOptions::default().retries)]
    retries: usize,
    /// Seconds one request may take.
    #[arg(long, default_value_t = DownloadOptions::default().timeout.as_secs_f64())]
    timeout: f64,
    /// Largest file accepted, in bytes.
    #[arg(long, default_value_t = DownloadOptions::default().max_bytes)]
    max_bytes: u64,
    /// Download images even when served with X-Robots-Tag noai / noimageai.
    #[arg(long)]
    ignore_noai: bool,
    #[command(flatten)]
    pub shard: ShardArgs,
}

impl DownloadArgs {
    fn options(self, ctx: &Context) -> anyhow::Result<DownloadOptions> {
        let timeout = Duration::try_from_secs_f64(self.timeout)
            .map_err(|_| anyhow::anyhow!("--timeout must be a number of seconds above 0, not {}", self.timeout))?;
        Ok(DownloadOptions {
            urls_path: ctx.path_or_default(self.urls, "urls.json"),
            out_dir: ctx.path_or_default(self.out, "raw"),
            concurrency: self.concurrency,
            rate: self.rate,
            connections_per_host: self.connections_per_host,
            throttle_timeout: Duration::from_secs(self.throttle_timeout),
            retries: self.retries,
            timeout,
            max_bytes: self.max_bytes,
            honour_noai: !self.ignore_noai,
            shard: self.shard.shard()?,
            ..DownloadOptions::default()
        })
    }
}

pub fn download(ctx: &Context, args: DownloadArgs) -> anyhow::Result<()> {
    let opts = args.options(ctx)?;
    let _shard_lock = lock_shard(&opts.out_dir, opts.shard, "download")?;
    let report = tokio::runtime::Runtime::new()?.block_on(picseek_download::download(&opts))?;
    ctx.print(&report, |out| write_download_summary(out, &report))
}

fn write_download_summary(out: &mut dyn Write, report: &DownloadReport) -> std::io::Result<()> {
    write_shard_line(out, report.shard, report.already_complete)?;
    writeln!(
        out,
        "{} URLs: {} fetched in this run, {} already downloaded",
        report.urls, report.attempted, report.reused
    )?;
    write_counts(out, &report.summary)?;
    if !report.hosts.is_empty() {
        writeln!(
            out,
            "{:<32} {:>8} {:>6} {:>8} {:>11} {:>9}",
            "host", "requests", "ok", "refused", "final rate", "waited"
        )?;
        for h in &report.hosts {
            let rate = h.final_rate.map_or("unpaced".to_owned(), |r| format!("{r:.2}/s"));
            let note = if h.gave_up { "  gave up: throttled" } else { "" };
            writeln!(
                out,
                "{:<32} {:>8} {:>6} {:>8} {:>11} {:>8.1}s{note}",
                h.host, h.requests, h.ok, h.refused, rate, h.waited_seconds
            )?;
        }
    }
    writeln!(out, "wrote {}", report.manifest.display())
}

fn write_counts(out: &mut dyn Write, counts: &std::collections::BTreeMap<String, usize>) -> std::io::Result<()> {
    for (what, count) in counts {
        writeln!(out, "  {count:>6}  {what}")?;
    }
    Ok(())
}

#[derive(Args)]
pub struct CleanArgs {
    /// The downloaded files, or a folder of one's own in any layout (<class>/<image>, flat,
    /// nested) [default: <data-dir>/raw].
    #[arg(long = "in")]
    input: Option<PathBuf>,
    /// For a folder of one's own: where each image's class comes from: folder (the folder
    /// it is in), top (the top folder under --in) or none (one class named after --in).
    #[arg(long, value_enum, default_value_t = CleanOptions::default().classes)]
    classes: ClassNaming,
    /// Where kept images go [default: <data-dir>/clean].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Reject images whose shorter side is below this many pixels.
    #[arg(long, default_value_t = CleanOptions::default().min_side)]
    min_side: u32,
    /// exact (same bytes or pixels), near (also perceptually alike), clip (also alike to a
    /// CLIP model: --model; its vectors go to the index's embedding cache) or off.
    #[arg(long, value_enum, default_value_t = CleanOptions::default().dedup)]
    dedup: Dedup,
    /// For --dedup clip: the cosine at or above which two images are duplicates.
    #[arg(long, default_value_t = picseek_clean::ClipDedup::DEFAULT_THRESHOLD)]
    clip_threshold: f32,
    #[command(flatten)]
    model: ModelArgs,
    /// Largest Hamming distance (of 64 bits) between perceptual hashes of near duplicates
    /// (a first filter; aligned pixels decide, see --near-pixels).
    #[arg(long, default_value_t = CleanOptions::default().near_distance)]
    near_distance: u32,
    /// Largest share (0 to 1) of pixels that may differ, once aligned, between near
    /// duplicates (copies leave under 0.001; a different glyph on one template about 0.01).
    #[arg(long, default_value_t = CleanOptions::default().near_pixels)]
    near_pixels: f32,
    /// Images bigger than this when decoded (bytes) are rejected as too large.
    #[arg(long, default_value_t = CleanOptions::default().max_decode_bytes)]
    max_decode_bytes: u64,
    /// Quality flags that reject an image instead of only being recorded: dark, light,
    /// blurry, low_information, grayscale, odd_aspect_ratio, odd_size (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    reject: Vec<QualityFlag>,
    #[command(flatten)]
    pub shard: ShardArgs,
}

impl CleanArgs {
    fn options(self, ctx: &Context) -> anyhow::Result<CleanOptions> {
        let index_dir = ctx.data_dir.join("index");
        let clip = match self.dedup {
            Dedup::Clip => {
                let model_dir = match (&self.model.model, RecordedBuild::read(&index_dir).and_then(|r| r.model)) {
                    (Some(dir), _) => dir.clone(),
                    (None, Some(model)) => picseek_index::locate_model(&index_dir, &model)?,
                    (None, None) => ClipOptions::default().model_dir,
                };
                let model = ClipOptions {
                    model_dir,
                    threads: self.model.threads(),
                    device: self.model.device,
                    ..ClipOptions::default()
                };
                Some(picseek_clean::ClipDedup { model, index_dir, threshold: self.clip_threshold })
            }
            _ => None,
        };
        Ok(CleanOptions {
            input: ctx.path_or_default(self.input, "raw"),
            out: ctx.path_or_default(self.out, "clean"),
            min_side: self.min_side,
            dedup: self.dedup,
            near_distance: self.near_distance,
            near_pixels: self.near_pixels,
            classes: self.classes,
            max_decode_bytes: self.max_decode_bytes,
            reject: self.reject,
            clip,
            shard: self.shard.shard()?,
            ..CleanOptions::default()
        })
    }
}

pub fn clean(ctx: &Context, args: CleanArgs) -> anyhow::Result<()> {
    let opts = args.options(ctx)?;
    let _shard_lock = lock_shard(&opts.out, opts.shard, "clean")?;
    let report = picseek_clean::clean(&opts)?;
    if report.files == 0 && report.shard.is_none() {
        bail!("{}: no files to clean (--in names the folder of images)", opts.input.display());
    }
    ctx.print(&report, |out| write_clean_summary(out, &report))
}

fn write_clean_summary(out: &mut dyn Write, report: &CleanReport) -> std::io::Result<()> {
    write_shard_line(out, report.shard, report.already_complete)?;
    writeln!(
        out,
        "{} files: {} examined in this run, {} unchanged since the last",
        report.files, report.examined, report.reused
    )?;
    write_counts(out, &report.summary)?;
    if !report.duplicates.is_empty() {
        let kinds: Vec<String> = report.duplicates.iter().map(|(how, n)| format!("{n} {}", how.describe())).collect();
        writeln!(out, "duplicates: {} (each record's `duplicate` has the measures)", kinds.join(", "))?;
    }
    if !report.flagged.is_empty() {
        let flags: Vec<String> = report.flagged.iter().map(|(flag, n)| format!("{n} {flag}")).collect();
        writeln!(out, "flagged (kept; --reject FLAG to reject): {}", flags.join(", "))?;
    }
    writeln!(out, "wrote {}", report.manifest.display())
}

#[derive(Args)]
pub struct SplitArgs {
    /// The <class>/<image> folder to split [default: <data-dir>/clean].
    #[arg(long = "in")]
    input: Option<PathBuf>,
    /// Test images per class.
    #[arg(long, default_value_t = SplitOptions::default().test_per_class)]
    test_per_class: usize,
    /// Train images per class (0 = all the rest).
    #[arg(long, default_value_t = SplitOptions::default().train_per_class)]
    train_per_class: usize,
    /// Changes which images are drawn for each side (the same seed gives the same split).
    #[arg(long, default_value_t = SplitOptions::default().seed)]
    seed: u64,
    /// `near`: near copies (crops, resized, re-encoded, brightened, shifted copies, across
    /// classes too) always land on the same side; `off`: image by image.
    #[arg(long, default_value = "near", value_parser = ["near", "off"])]
    leakage: String,
    /// Bits (of 64) in which two images' perceptual hashes may differ to count as near
    /// copies. Every two images of a group must be this close (groups do not chain).
    #[arg(long, default_value_t = SplitOptions::default().group_distance)]
    group_distance: u32,
    /// Cosine between CLIP vectors (where <data-dir>/index/cache/ has them) at or above
    /// which two images count as near copies.
    #[arg(long, default_value_t = SplitOptions::default().group_cosine)]
    group_cosine: f32,
    /// The most images a near-copy group may keep on one side; larger groups, and any
    /// holding more than a third of a class, are cut into pieces and named.
    #[arg(long, default_value_t = SplitOptions::default().max_group)]
    max_group: usize,
}

impl SplitArgs {
    fn options(self, ctx: &Context) -> SplitOptions {
        SplitOptions {
            keep_near_copies_together: self.leakage == "near",
            group_distance: self.group_distance,
            group_cosine: self.group_cosine,
            max_group: self.max_group,
            ..split_options(ctx, self.input, self.test_per_class, self.train_per_class, self.seed)
        }
    }
}

fn split_options(
    ctx: &Context,
    input: Option<PathBuf>,
    test_per_class: usize,
    train_per_class: usize,
    seed: u64,
) -> SplitOptions {
    SplitOptions {
        input: ctx.path_or_default(input, "clean"),
        train_dir: ctx.data_dir.join("train"),
        test_dir: ctx.data_dir.join("test"),
        manifest_path: ctx.data_dir.join("split.json"),
        test_per_class,
        train_per_class,
        seed,
        embeddings_dir: Some(ctx.data_dir.join("index")),
        ..SplitOptions::default()
    }
}

pub fn split(ctx: &Context, args: SplitArgs) -> anyhow::Result<()> {
    let opts = args.options(ctx);
    let report = picseek_split::split(&opts)?;
    ctx.print(&report, |out| {
        write_split_summary(out, &report)?;
        writeln!(out, "wrote {}", opts.manifest_path.display())
    })
}

fn write_split_summary(out: &mut dyn Write, report: &SplitReport) -> std::io::Result<()> {
    let m = &report.manifest;
    let train: usize = m.classes.values().map(|c| c.train.len()).sum();
    let test: usize = m.classes.values().map(|c| c.test.len()).sum();
    writeln!(
        out,
        "split {} classes: {train} train, {test} test images ({} placed, {} unchanged, {} removed)",
        m.classes.len(),
        report.placed,
        report.unchanged,
        report.removed
    )?;
    for (class, reason) in &m.skipped_classes {
        writeln!(out, "left out class {class}: {reason}")?;
    }
    if !m.groups.is_empty() {
        let images: usize = m.groups.iter().map(Vec::len).sum();
        writeln!(out, "kept {} near-copy groups ({images} images) on one side each", m.groups.len())?;
    }
    for cut in &m.cut_groups {
        writeln!(out, "cut a near-copy group ({}): {}", cut.reason, cut.images.join(", "))?;
    }
    for (class, note) in &m.uneven_classes {
        writeln!(out, "class {class}: {note}")?;
    }
    if m.left_out > 0 {
        writeln!(
            out,
            "left out {} image(s) past --train-per-class {} (--train-per-class 0 uses them all)",
            m.left_out, m.train_per_class
        )?;
    }
    match &m.leakage_check {
        Some(check) if check.unchecked() => writeln!(
            out,
            "leakage NOT checked: none of the {} images has clean's records or a cached CLIP vector; \
             run `picseek clean --in DIR` and split its output to keep near copies on one side",
            check.images
        )?,
        Some(check) if check.compared < check.images => writeln!(
            out,
            "leakage checked for {} of {} images (the others have no clean record or CLIP vector)",
            check.compared, check.images
        )?,
        _ => {}
    }
    Ok(())
}

/// Where the CLIP model is and how many cores it uses, for every command that runs it.
#[derive(Args, Clone)]
pub struct ModelArgs {
    /// The CLIP model directory (vision_model.onnx, text_model.onnx, tokenizer.json,
    /// preprocessor_config.json) [default: the one the index was built with, found by
    /// its SHA-256 where it was, in models/clip or beside either; else models/clip].
    #[arg(long)]
    model: Option<PathBuf>,
    /// Cores the model may use [default: all].
    #[arg(long)]
    threads: Option<usize>,
    /// Where the model runs: cpu, or cuda / cuda:N (a GPU, with ONNX Runtime's GPU build
    /// from `scripts/setup.sh --gpu`; an error if it cannot be used, never the CPU instead).
    #[arg(long, value_name = "cpu|cuda[:N]", default_value_t = picseek_index::Device::Cpu)]
    device: picseek_index::Device,
}

impl ModelArgs {
    fn threads(&self) -> usize {
        self.threads.unwrap_or_else(all_cores)
    }
}

#[derive(Args)]
pub struct IndexArgs {
    /// The folder to index: <class>/<image>, a flat folder of photos or a nested tree
    /// [default: <data-dir>/train].
    #[arg(long)]
    train: Option<PathBuf>,
    /// Where each image's class comes from: folder (the folder it is in), top (the top
    /// folder under --train) or none (one class named after --train).
    #[arg(long, value_enum, default_value_t = IndexOptions::default().classes)]
    classes: ClassNaming,
    /// The index folder [default: <data-dir>/index].
    #[arg(long)]
    index: Option<PathBuf>,
    #[command(flatten)]
    build: BuildArgs,
    /// Images per model run (CLIP).
    #[arg(long, default_value_t = ClipOptions::default().batch)]
    batch: usize,
    /// Metrics to build an approximate (usearch) index for: cosine, l2, correlation;
    /// repeat or separate with commas (CLIP; l1 is always searched exactly) [default:
    /// those the index has, else cosine].
    #[arg(long = "metric", value_enum, value_delimiter = ',')]
    metrics: Vec<Metric>,
    #[command(flatten)]
    ann: AnnArgs,
    /// Images bigger than this when decoded (bytes) are skipped as too large.
    #[arg(long, default_value_t = IndexOptions::default().max_decode_bytes)]
    max_decode_bytes: u64,
    #[command(flatten)]
    pub shard: ShardArgs,
}

/// How an index is built, for `index` and `run`: each left out continues as the
/// existing index was built (unless `--rebuild`), else takes the library's default.
#[derive(Args)]
pub struct BuildArgs {
    /// `clip` (a CLIP image encoder through ONNX Runtime) or `pixel` (raw pixels)
    /// [default: the existing index's, else clip].
    #[arg(long, value_enum)]
    embedder: Option<EmbedderKind>,
    #[command(flatten)]
    model: ModelArgs,
    /// Side of the square the pixel embedder resizes to [default: the existing index's,
    /// else 448].
    #[arg(long)]
    pixel_size: Option<u32>,
    /// Discard an existing index instead of extending it.
    #[arg(long)]
    rebuild: bool,
}

/// How the approximate-search graphs are built. The defaults keep recall@10 at 0.99 or
/// better on CLIP-like data; `--quantization i8 --expansion-add 32 --expansion-search
/// 128` builds about three times faster at about 0.984. Each left out continues as the
/// existing index's graphs were built.
#[derive(Args)]
pub struct AnnArgs {
    /// How graphs store vectors: f32, f16 or i8 (scores are always exact) [default: f16].
    #[arg(long, value_enum)]
    quantization: Option<Quantization>,
    /// Links per node in the graphs [default: 16].
    #[arg(long)]
    connectivity: Option<usize>,
    /// Candidates considered while adding a vector (higher: better graph, slower build)
    /// [default: 64].
    #[arg(long)]
    expansion_add: Option<usize>,
    /// Candidates considered while searching (higher: better recall, slower search)
    /// [default: 64].
    #[arg(long)]
    expansion_search: Option<usize>,
}

impl AnnArgs {
    /// The flags given, the rest from `base`.
    fn settings(&self, base: AnnSettings) -> AnnSettings {
        AnnSettings {
            quantization: self.quantization.unwrap_or(base.quantization),
            connectivity: self.connectivity.unwrap_or(base.connectivity),
            expansion_add: self.expansion_add.unwrap_or(base.expansion_add),
            expansion_search: self.expansion_search.unwrap_or(base.expansion_search),
        }
    }
}

/// The embedder and graph settings of a build: the flags given; where one is left out,
/// the existing index's (so a re-run continues it), else the defaults.
fn build_settings(
    index_dir: &std::path::Path,
    build: &BuildArgs,
    batch: usize,
    metrics: Vec<Metric>,
    ann: &AnnArgs,
) -> anyhow::Result<(EmbedderChoice, AnnSettings)> {
    let recorded = if build.rebuild { None } else { RecordedBuild::read(index_dir) };
    let recorded = recorded.filter(|r| build.embedder.is_none_or(|kind| kind == r.embedder));
    let kind =
        build.embedder.or(recorded.as_ref().map(|r| r.embedder)).unwrap_or(IndexOptions::default().embedder.kind());
    let ann_base = recorded.as_ref().and_then(|r| r.ann).unwrap_or_default();
    let choice = match kind {
        EmbedderKind::Pixel => EmbedderChoice::Pixel {
            size: build
                .pixel_size
                .or(recorded.as_ref().map(|r| r.image_size))
                .unwrap_or(IndexOptions::DEFAULT_PIXEL_SIZE),
        },
        EmbedderKind::Clip => {
            let model_dir = match (&build.model.model, recorded.as_ref().and_then(|r| r.model.as_ref())) {
                (Some(dir), _) => dir.clone(),
                (None, Some(model)) => picseek_index::locate_model(index_dir, model)?,
                (None, None) => ClipOptions::default().model_dir,
            };
            let metrics = match (metrics.is_empty(), recorded) {
                (false, _) => metrics,
                (true, Some(r)) if !r.metrics.is_empty() => r.metrics,
                (true, _) => vec![Metric::Cosine],
            };
            EmbedderChoice::Clip {
                options: ClipOptions { model_dir, batch, threads: build.model.threads(), device: build.model.device },
                spaces: metrics,
            }
        }
    };
    Ok((choice, ann.settings(ann_base)))
}

impl IndexArgs {
    fn options(self, ctx: &Context) -> anyhow::Result<IndexOptions> {
        let index_dir = ctx.path_or_default(self.index, "index");
        let (embedder, ann) = build_settings(&index_dir, &self.build, self.batch, self.metrics, &self.ann)?;
        Ok(IndexOptions {
            train: ctx.path_or_default(self.train, "train"),
            index_dir,
            embedder,
            max_decode_bytes: self.max_decode_bytes,
            rebuild: self.build.rebuild,
            ann,
            shard: self.shard.shard()?,
            classes: self.classes,
        })
    }
}

pub fn index(ctx: &Context, args: IndexArgs) -> anyhow::Result<()> {
    let opts = args.options(ctx)?;
    let _shard_lock = lock_shard(&opts.index_dir, opts.shard, "index")?;
    let report = picseek_index::build_index(&opts)?;
    ctx.print(&report, |out| write_index_summary(out, &report))
}

fn write_index_summary(out: &mut dyn Write, report: &IndexReport) -> std::io::Result<()> {
    write_shard_line(out, report.shard, report.already_complete)?;
    if let Some(shard) = report.shard {
        return writeln!(
            out,
            "{} images of shard {shard}: {} embedded in this run, {} already",
            report.items, report.embedded, report.reused
        );
    }
    writeln!(
        out,
        "indexed {} images in {} ({} embedded, {} reused, {} skipped)",
        report.items,
        report.index.display(),
        report.embedded,
        report.reused,
        report.skipped.len()
    )?;
    write_skipped_line(out, report.skipped.iter().map(|s| s.reason.as_str()))?;
    if !report.graphs_built.is_empty() {
        let names: Vec<&str> = report.graphs_built.iter().map(|m| m.name()).collect();
        writeln!(out, "built approximate-search graphs: {}", names.join(", "))?;
    }
    Ok(())
}

/// One line for the files a stage passed over, by reason (each is named at `-v`).
fn write_skipped_line<'a>(out: &mut dyn Write, reasons: impl Iterator<Item = &'a str>) -> std::io::Result<()> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for reason in reasons {
        *counts.entry(reason).or_default() += 1;
    }
    if counts.is_empty() {
        return Ok(());
    }
    let parts: Vec<String> = counts.iter().map(|(reason, n)| format!("{n} {reason}")).collect();
    writeln!(out, "skipped: {} (-v names each file)", parts.join(", "))
}

fn open_index(ctx: &Context, flag: Option<PathBuf>) -> anyhow::Result<Index> {
    Ok(Index::open(&ctx.path_or_default(flag, "index"))?)
}

#[derive(Args)]
#[command(group = clap::ArgGroup::new("query").required(true).multiple(true).args(["image", "text", "queries"]))]
pub struct SearchArgs {
    /// A query image: a file or an http(s) URL (fetched with download's checks and
    /// limits). Repeat, and mix with --text, to combine terms; `WEIGHT:` in front weighs
    /// one (`2:fox.jpg`, `-:snow.jpg` steers away; CLIP indexes).
    #[arg(long, allow_hyphen_values = true)]
    image: Vec<String>,
    /// A text query (CLIP indexes); repeat and weigh as for --image (`-0.5:snow`). Texts
    /// longer than the model's 77 tokens are cut, with a warning.
    #[arg(long, allow_hyphen_values = true)]
    text: Vec<String>,
    /// A file of queries, one JSON object per line (`{"text": "a fox", "k": 3}`, `{"image":
    /// ["a.jpg", "-:b.jpg"]}`, `"class"`, `"id"`); `-` reads standard input. Prints one
    /// JSON result per line.
    #[arg(long, conflicts_with_all = ["image", "text", "plot"])]
    queries: Option<PathBuf>,
    /// The index folder [default: <data-dir>/index].
    #[arg(long)]
    index: Option<PathBuf>,
    /// How many results (at least 1; at most the index's size are returned).
    #[arg(short, default_value_t = SearchRequest::default().k)]
    k: usize,
    /// l1, l2, cosine or correlation.
    #[arg(long, value_enum, default_value_t = SearchRequest::default().metric)]
    metric: Metric,
    /// Brute force over every vector instead of the approximate index (pixel indexes,
    /// and metrics without an approximate index, are always searched this way).
    #[arg(long)]
    exact: bool,
    /// Only results of this class.
    #[arg(long)]
    class: Option<String>,
    /// Leave out index images that are the query image itself (the same bytes).
    #[arg(long)]
    exclude_query: bool,
    /// Print the result paths only, one per line (for scripts: `| xargs feh`).
    #[arg(long, conflicts_with = "queries")]
    paths: bool,
    #[command(flatten)]
    model: ModelArgs,
    /// Also draw the query and its results as a labelled grid into this file (.png or
    /// .jpg/.jpeg).
    #[arg(long)]
    plot: Option<PathBuf>,
}

/// `search --json`, and each line of `--queries`.
#[derive(Serialize)]
struct SearchReport<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    query: &'a str,
    metric: Metric,
    search: picseek_search::SearchMethod,
    results: &'a [picseek_search::Hit],
}

/// A search's answer, and the query it answered.
struct Answer {
    query: picseek_search::ComposedQuery,
    hits: Vec<picseek_search::Hit>,
}

fn answer(
    index: &Index,
    embedder: &picseek_index::QueryEmbedder,
    searcher: &Searcher,
    terms: &[picseek_search::QueryTerm],
    request: SearchRequest,
    exclude_query: bool,
) -> anyhow::Result<Answer> {
    let query = picseek_search::compose(index, embedder, terms)?;
    let exclude = if exclude_query { query.own_items.clone() } else { Vec::new() };
    let hits =
        searcher.search(&query.vector, &SearchRequest { exclude: &exclude, ..request }).map_err(|e| match e {
            picseek_search::SearchError::ZeroK => anyhow::anyhow!("-k must be at least 1"),
            other => other.into(),
        })?;
    Ok(Answer { query, hits })
}

pub fn search(ctx: &Context, args: SearchArgs) -> anyhow::Result<()> {
    let index = open_index(ctx, args.index.clone())?;
    if args.k > index.len() {
        tracing::warn!("-k {} is more than the {} images in the index: all of them are shown", args.k, index.len());
    }
    if let Some(changes) = index.folder_changes().filter(|c| c.any()) {
        tracing::warn!(
            "{} changed since the index was built ({}): results leave those out; run `picseek index` to update it",
            changes.folder.display(),
            changes.describe()
        );
    }
    let embedder = index.query_embedder(args.model.model.as_deref(), args.model.threads(), args.model.device)?;
    let searcher = Searcher::new(&index);
    let request = SearchRequest {
        metric: args.metric,
        k: args.k,
        class: args.class.as_deref(),
        exact: args.exact,
        ..SearchRequest::default()
    };
    let method = searcher.method(args.metric, args.exact);
    if let Some(queries) = &args.queries {
        return search_batch(queries, &index, &embedder, &searcher, request, args.exclude_query);
    }
    let terms = crate::query_terms::terms(&args.image, &args.text)?;
    let Answer { query, hits } = answer(&index, &embedder, &searcher, &terms, request, args.exclude_query)?;
    if let Some(plot) = &args.plot {
        let format = picseek_search::sheet_format(plot)?;
        let sheet_query = match terms.iter().find_map(|t| match &t.source {
            picseek_search::TermSource::Image { bytes, .. } if terms.len() == 1 => Some(bytes),
            _ => None,
        }) {
            Some(bytes) => SheetQuery::Image { label: &query.label, bytes },
            None => SheetQuery::Text(&query.label),
        };
        let sheet = picseek_search::contact_sheet(sheet_query, query_class(&index, &query).as_deref(), &hits)?;
        let mut encoded = std::io::Cursor::new(Vec::new());
        sheet.write_to(&mut encoded, format)?;
        picseek_manifest::write_atomic(plot, encoded.get_ref())?;
        tracing::info!("wrote {}", plot.display());
    }
    let report =
        SearchReport { id: None, line: None, query: &query.label, metric: args.metric, search: method, results: &hits };
    ctx.print(&report, |out| {
        if args.paths {
            for hit in &hits {
                writeln!(out, "{}", hit.path)?;
            }
            return Ok(());
        }
        let closer = if args.metric.larger_is_closer() { "larger" } else { "smaller" };
        writeln!(out, "{:>4}  {:>12}  {:<20}  path", "rank", format!("{} score", args.metric), "class")?;
        for hit in &hits {
            writeln!(out, "{:>4}  {:>12.6}  {:<20}  {}", hit.rank, hit.score, hit.class, hit.path)?;
        }
        writeln!(out, "({closer} {} scores are closer; {} search)", args.metric, method.name())
    })
}

/// The class of the query's own image, when it is an item of the index.
fn query_class(index: &Index, query: &picseek_search::ComposedQuery) -> Option<String> {
    let items = &index.manifest().items;
    query.own_items.first().and_then(|&key| items.iter().find(|i| i.key == key)).map(|i| i.class.clone())
}

/// `--queries`: one JSON line per query, in order; a query that fails is a line with
/// its error, and the exit status says some failed.
fn search_batch(
    path: &std::path::Path,
    index: &Index,
    embedder: &picseek_index::QueryEmbedder,
    searcher: &Searcher,
    request: SearchRequest,
    exclude_query: bool,
) -> anyhow::Result<()> {
    let batch = crate::query_terms::read_batch(path)?;
    let mut out = std::io::stdout().lock();
    let mut failed = 0;
    for (line, query) in &batch {
        let result = query.as_ref().map_err(|e| anyhow::anyhow!("{e}")).and_then(|q| {
            let request =
                SearchRequest { k: q.k.unwrap_or(request.k), class: q.class.as_deref().or(request.class), ..request };
            answer(index, embedder, searcher, &q.terms()?, request, exclude_query).map(|a| (q, a))
        });
        let written = match result {
            Ok((q, a)) => {
                let report = SearchReport {
                    id: q.id.as_ref(),
                    line: Some(*line),
                    query: &a.query.label,
                    metric: request.metric,
                    search: searcher.method(request.metric, request.exact),
                    results: &a.hits,
                };
                serde_json::to_writer(&mut out, &report)
            }
            Err(e) => {
                failed += 1;
                let id = query.as_ref().ok().and_then(|q| q.id.clone());
                serde_json::to_writer(
                    &mut out,
                    &serde_json::json!({"id": id, "line": line, "error": crate::errors::one_line(&e)}),
                )
            }
        };
        match written.map_err(std::io::Error::from).and_then(|()| writeln!(out)) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            other => other?,
        }
    }
    if failed > 0 {
        bail!("{}: {failed} of {} queries failed (their lines say why)", path.display(), batch.len());
    }
    Ok(())
}

#[derive(Args)]
pub struct EvalArgs {
    /// The index folder [default: <data-dir>/index].
    #[arg(long)]
    index: Option<PathBuf>,
    /// The <class>/<image> folder of queries [default: <data-dir>/test].
    #[arg(long)]
    test: Option<PathBuf>,
    /// Results per query that are scored (P@k, mAP, recall@k).
    #[arg(short, default_value_t = 5)]
    k: usize,
    /// l1, l2, cosine, correlation or all.
    #[arg(long, default_value = "all", value_parser = parse_metrics)]
    metric: Metrics,
    /// Brute force only (by default metrics with an approximate index use it, and its
    /// recall against brute force is reported).
    #[arg(long)]
    exact: bool,
    /// Score an index that is stale (test images in it, or its folder changed since it
    /// was built); the output says what is stale.
    #[arg(long)]
    allow_stale: bool,
    #[command(flatten)]
    model: ModelArgs,
}

/// One metric, or all of them.
#[derive(Clone)]
struct Metrics(Vec<Metric>);

fn parse_metrics(s: &str) -> Result<Metrics, String> {
    if s.eq_ignore_ascii_case("all") {
        return Ok(Metrics(Metric::ALL.to_vec()));
    }
    s.parse::<Metric>().map(|m| Metrics(vec![m])).map_err(|e| format!("{e}, or all"))
}

pub fn eval(ctx: &Context, args: EvalArgs) -> anyhow::Result<()> {
    if args.k == 0 {
        bail!("-k must be at least 1");
    }
    let index = open_index(ctx, args.index)?;
    let embedder = index.query_embedder(args.model.model.as_deref(), args.model.threads(), args.model.device)?;
    let test_dir = ctx.path_or_default(args.test, "test");
    let report = match evaluate(&index, &embedder, &test_dir, args.k, &args.metric.0, args.exact, args.allow_stale) {
        Err(e @ picseek_search::SearchError::StaleIndex { .. }) => {
            bail!("{e}; run `picseek index` to build it again (or --allow-stale to score it anyway)")
        }
        other => other.with_context(|| format!("evaluating on {}", test_dir.display()))?,
    };
    if report.queries == 0 {
        bail!("{}: no usable query image", test_dir.display());
    }
    ctx.print(&report, |out| {
        if let Some(stale) = &report.stale {
            writeln!(out, "--allow-stale: scoring a stale index ({}); the scores overstate", stale.describe())?;
        }
        writeln!(out, "{} queries against {} images, k = {}", report.queries, report.index_items, report.k)?;
        writeln!(
            out,
            "{:<12} {:<12} {:>7} {:>7} {:>7} {:>10} {:>10}",
            "metric",
            "search",
            "P@1",
            format!("P@{}", report.k),
            "mAP",
            format!("recall@{}", report.k),
            "queries/s"
        )?;
        for m in &report.metrics {
            let recall = m.recall_at_k.map_or("-".to_owned(), |r| format!("{r:.3}"));
            let search = m.search.name();
            writeln!(
                out,
                "{:<12} {:<12} {:>7.3} {:>7.3} {:>7.3} {:>10} {:>10.1}",
                m.metric.name(),
                search,
                m.precision_at_1,
                m.precision_at_k,
                m.mean_average_precision,
                recall,
                m.queries_per_second
            )?;
        }
        Ok(())
    })
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
    stage: MergeStage,
}

/// Checks that every shard of the stage is complete, then writes the stage's ordinary
/// outputs, the same as one process would have.
pub fn merge(ctx: &Context, args: MergeArgs) -> anyhow::Result<()> {
    match args.stage {
        MergeStage::Download(args) => {
            let count = args.shard.merge_count()?;
            let opts = DownloadArgs { shard: ShardArgs::default(), ..args }.options(ctx)?;
            let report = picseek_download::merge_download(&opts, count)?;
            ctx.print(&report, |out| write_download_summary(out, &report))
        }
        MergeStage::Clean(args) => {
            let count = args.shard.merge_count()?;
            let opts = CleanArgs { shard: ShardArgs::default(), ..args }.options(ctx)?;
            let report = picseek_clean::merge_clean(&opts, count)?;
            ctx.print(&report, |out| write_clean_summary(out, &report))
        }
        MergeStage::Index(args) => {
            let count = args.shard.merge_count()?;
            let opts = IndexArgs { shard: ShardArgs::default(), ..args }.options(ctx)?;
            let report = picseek_index::merge_index(&opts, count)?;
            ctx.print(&report, |out| write_index_summary(out, &report))
        }
    }
}

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    crawl: CrawlArgs,
    /// The most download requests per second per host (0 = no ceiling; still adaptive).
    #[arg(long, default_value_t = DownloadOptions::default().rate)]
    download_rate: f64,
    #[command(flatten)]
    build: BuildArgs,
    /// Test images per class.
    #[arg(long, default_value_t = SplitOptions::default().test_per_class)]
    test_per_class: usize,
    /// Train images per class (0 = all the rest).
    #[arg(long, default_value_t = SplitOptions::default().train_per_class)]
    train_per_class: usize,
}

/// The flag of `run` that sets `option` of `stage`, where it is not the stage's own.
pub fn run_flag(stage: Stage, option: &str) -> Option<&'static str> {
    match (stage, option) {
        (Stage::Download, "rate") => Some("--download-rate"),
        _ => None,
    }
}

/// Runs crawl, download, clean, split and index in order (see `picseek-pipeline`) and
/// prints the crawl's table and one summary. Failed crawl terms make the exit status
/// non-zero at the end.
pub fn run(ctx: &Context, args: RunArgs) -> anyhow::Result<()> {
    let crawl = args.crawl.options(ctx)?;
    let index_dir = ctx.data_dir.join("index");
    let no_graph_flags =
        AnnArgs { quantization: None, connectivity: None, expansion_add: None, expansion_search: None };
    let (embedder, ann) =
        build_settings(&index_dir, &args.build, ClipOptions::default().batch, Vec::new(), &no_graph_flags)?;
    let opts = RunOptions {
        download: DownloadOptions {
            urls_path: crawl.urls_path.clone(),
            out_dir: ctx.data_dir.join("raw"),
            rate: args.download_rate,
            ..DownloadOptions::default()
        },
        crawl,
        clean: CleanOptions {
            input: ctx.data_dir.join("raw"),
            out: ctx.data_dir.join("clean"),
            ..CleanOptions::default()
        },
        split: split_options(ctx, None, args.test_per_class, args.train_per_class, SplitOptions::default().seed),
        index: IndexOptions {
            train: ctx.data_dir.join("train"),
            index_dir,
            embedder,
            rebuild: args.build.rebuild,
            ann,
            ..IndexOptions::default()
        },
    };
    let announce = |stage: Stage| {
        let i = Stage::ALL.iter().position(|s| *s == stage).unwrap_or(0);
        eprintln!("==> [{}/{}] {}", i + 1, Stage::ALL.len(), stage.name());
    };
    let report = match picseek_pipeline::run(&opts, announce) {
        Ok(report) => report,
        Err(picseek_pipeline::RunError::NothingFound { crawl, failed }) => {
            if !ctx.json {
                write_crawl_table(&mut std::io::stderr().lock(), &crawl)?;
            }
            let cause = if failed.is_empty() {
                "the crawl found no photo URLs".to_owned()
            } else {
                format!("{} term(s) failed: {}", failed.len(), failed.join(", "))
            };
            bail!("{cause}: nothing to download, so the run stops here");
        }
        Err(e) => return Err(e.into()),
    };
    ctx.print(&report, |out| write_run_summary(out, &report))?;
    fail_on_failed_terms(report.failed_terms())
}

fn write_run_summary(out: &mut dyn Write, report: &RunReport) -> std::io::Result<()> {
    let s = &report.summary;
    write_crawl_table(out, &report.stages.crawl)?;
    writeln!(out)?;
    writeln!(out, "{:<14} {:>6}   ({} terms crawled in this run)", "URLs found", s.urls_found, s.terms_crawled_now)?;
    writeln!(out, "{:<14} {:>6}   ({} fetched in this run)", "downloaded", s.downloaded, s.fetched_now)?;
    writeln!(out, "{:<14} {:>6}   ({} examined in this run)", "kept", s.kept, s.examined_now)?;
    for (reason, n) in &s.rejected {
        writeln!(out, "{:<14} {:>6}", format!("rejected: {reason}"), n)?;
    }
    writeln!(out, "{:<14} {:>6}", "classes", s.classes)?;
    writeln!(out, "{:<14} {:>6}   ({} embedded in this run)", "indexed", s.indexed, s.embedded_now)
}

#[derive(Args)]
pub struct ServeArgs {
    /// The index folder [default: <data-dir>/index].
    #[arg(long)]
    index: Option<PathBuf>,
    /// Where to listen; loopback unless you say otherwise.
    #[arg(long, default_value_t = ServeOptions::default().addr)]
    addr: std::net::SocketAddr,
    /// The largest upload accepted, in bytes.
    #[arg(long, default_value_t = ServeOptions::default().max_upload)]
    max_upload: usize,
    #[command(flatten)]
    model: ModelArgs,
}

pub fn serve(ctx: &Context, args: ServeArgs) -> anyhow::Result<()> {
    let opts = ServeOptions {
        index_dir: ctx.path_or_default(args.index, "index"),
        addr: args.addr,
        max_upload: args.max_upload,
        model_dir: args.model.model.clone(),
        threads: args.model.threads(),
        device: args.model.device,
    };
    let announce = |addr| eprintln!("picseek: serving {} on http://{addr}/ (Ctrl-C stops)", opts.index_dir.display());
    tokio::runtime::Runtime::new()?.block_on(picseek_serve::serve(&opts, announce))?;
    Ok(())
}

#[derive(Args)]
pub struct DoctorArgs {
    /// The index folder whose model is checked [default: <data-dir>/index].
    #[arg(long)]
    index: Option<PathBuf>,
    /// The CLIP model folder to check [default: the one the index was built with, else
    /// models/clip].
    #[arg(long)]
    model: Option<PathBuf>,
    /// A host:port the crawl needs, to test the network with; repeat for more.
    #[arg(long = "network-host", default_values_t = DoctorOptions::default().network_hosts)]
    network_hosts: Vec<String>,
    /// Seconds each network attempt may take.
    #[arg(long, default_value_t = DoctorOptions::default().timeout.as_secs())]
    timeout: u64,
}

/// Checks what the stages need and prints each check with its fix; fails when any check
/// failed.
pub fn doctor(ctx: &Context, args: DoctorArgs) -> anyhow::Result<()> {
    let opts = DoctorOptions {
        data_dir: ctx.data_dir.clone(),
        index_dir: ctx.path_or_default(args.index, "index"),
        model_dir: args.model,
        network_hosts: args.network_hosts,
        timeout: Duration::from_secs(args.timeout.max(1)),
        ..DoctorOptions::default()
    };
    let report = picseek_doctor::doctor(&opts);
    #[derive(Serialize)]
    struct Row<'a> {
        #[serde(flatten)]
        check: &'a picseek_doctor::Check,
        #[serde(skip_serializing_if = "Option::is_none")]
        fix: Option<String>,
    }
    let rows: Vec<Row> =
        report.checks.iter().map(|check| Row { check, fix: check.problem.as_ref().map(doctor_fix) }).collect();
    ctx.print(&serde_json::json!({"checks": rows, "failed": report.failed()}), |out| {
        for row in &rows {
            let status = match row.check.status {
                picseek_doctor::Status::Ok => "ok",
                picseek_doctor::Status::Warn => "warn",
                picseek_doctor::Status::Fail => "FAIL",
            };
            writeln!(out, "{:<13} {:<5} {}", row.check.name, status, row.check.detail)?;
            if let Some(fix) = &row.fix {
                writeln!(out, "{:<19} fix: {fix}", "")?;
            }
        }
        Ok(())
    })?;
    let failed = report.checks.iter().filter(|c| c.status == picseek_doctor::Status::Fail).count();
    if failed > 0 {
        bail!("{failed} check(s) failed; each says how to fix it");
    }
    Ok(())
}

/// The usual fix for a doctor's finding, in flags and commands.
fn doctor_fix(problem: &picseek_doctor::Problem) -> String {
    use picseek_doctor::Problem;
    match problem {
        Problem::BrowserMissing | Problem::DriverMissing => {
            "run scripts/setup.sh (Debian: apt install chromium chromium-driver), \
            or give crawl --webdriver URL; crawl --source flickr-api needs no browser"
                .into()
        }
        Problem::DriverMismatch { browser, .. } => {
            format!("install the chromedriver made for Chromium {browser} (Debian's chromium-driver matches chromium)")
        }
        Problem::ProgramBroken { program } => format!("reinstall {} (scripts/setup.sh)", program.display()),
        Problem::RuntimeMissing => {
            "run scripts/setup.sh, or set ORT_DYLIB_PATH to a libonnxruntime.so of 1.31 or newer; \
            index --embedder pixel needs none"
                .into()
        }
        Problem::ModelMissing { .. } => {
            "run scripts/download-clip.sh, or pass --model DIR; index --embedder pixel needs no model".into()
        }
        Problem::ModelMismatch => {
            "pass --model DIR with the model the index was built with, or re-index with `picseek index --rebuild`"
                .into()
        }
        Problem::NoIndex => "run `picseek index` (or `picseek run`)".into(),
        Problem::IndexDamaged => "rebuild it with `picseek index --rebuild`".into(),
        Problem::LowDisk { .. } => "free some space, or point --data-dir at a bigger disk".into(),
        Problem::Offline => "check the connection (and any proxy); offline, use images of your own: put them in \
            <data-dir>/clean/<class>/ and start at `picseek split`"
            .into(),
    }
}

#[derive(Args)]
pub struct ReportArgs {
    /// Where the page goes [default: <data-dir>/report.html].
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Writes the data directory's report page and prints its numbers.
pub fn report(ctx: &Context, args: ReportArgs) -> anyhow::Result<()> {
    let opts = picseek_report::ReportOptions {
        out: ctx.path_or_default(args.out, "report.html"),
        ..picseek_report::ReportOptions::for_data_dir(&ctx.data_dir)
    };
    let report = picseek_report::report(&opts)?;
    ctx.print(&report, |out| {
        writeln!(
            out,
            "{:<24} {:>10} {:>6} {:>8} {:>6} {:>6}",
            "class", "downloaded", "kept", "rejected", "train", "test"
        )?;
        for (class, c) in &report.classes {
            let rejected: usize = c.rejected.values().sum();
            writeln!(out, "{class:<24} {:>10} {:>6} {rejected:>8} {:>6} {:>6}", c.downloaded, c.kept, c.train, c.test)?;
        }
        let flagged: usize = report.flagged.values().map(Vec::len).sum();
        writeln!(
            out,
            "{} duplicate groups, {} near-copy groups ({} crossing train and test), {flagged} flagged images",
            report.duplicate_groups.len(),
            report.split_groups.len(),
            report.crossing_groups
        )?;
        writeln!(out, "wrote {}", report.page.display())
    })
}
