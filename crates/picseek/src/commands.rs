//! One function per subcommand: turn flags into stage options, call the stage, print.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use picseek_imaging::DEFAULT_MAX_DECODE_BYTES;
use picseek_index::{AnnSettings, AnnSpace, ClipOptions, EmbedderChoice, Index, IndexOptions, build_index};
use picseek_search::{Metric, SearchRequest, Searcher, SheetQuery, evaluate};
use picseek_split::SplitOptions;

pub struct Context {
    pub data_dir: PathBuf,
    pub json: bool,
    /// Set by `run`, which prints one summary of all stages instead of each stage's.
    pub quiet: bool,
}

impl Context {
    /// Shows a stage's result: `doc` with --json, `human` output otherwise.
    fn show(&self, doc: &serde_json::Value, human: impl FnOnce()) -> anyhow::Result<()> {
        match (self.quiet, self.json) {
            (true, _) => Ok(()),
            (false, true) => print_json(doc),
            (false, false) => {
                human();
                Ok(())
            }
        }
    }

    /// A flag's path, or the stage's default under the data directory.
    fn path_or_default(&self, flag: Option<PathBuf>, default: &str) -> PathBuf {
        flag.unwrap_or_else(|| self.data_dir.join(default))
    }
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    use std::io::Write as _;
    // Not println!, which panics when the reader has gone (`picseek ... | head`).
    writeln!(std::io::stdout().lock(), "{}", serde_json::to_string_pretty(value)?)?;
    Ok(())
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
    #[arg(long, default_value = "https://www.flickr.com/search/?text={term}")]
    url_template: String,
    #[arg(long, default_value_t = 20)]
    max_per_term: usize,
    /// The Flickr size suffix every photo URL is rewritten to.
    #[arg(long, default_value = "b", value_parser = picseek_crawl::SIZE_SUFFIXES)]
    size: String,
    /// A host whose images are photos (sub-domains included); repeat for more.
    #[arg(long = "photo-host", default_value = "staticflickr.com")]
    photo_hosts: Vec<String>,
    /// Terms crawled at once, one browser session each.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    concurrency: u32,
    /// Page actions (loads, scrolls, clicks) per second per host.
    #[arg(long, default_value_t = 1.0)]
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
    #[arg(long, default_value_t = 300)]
    term_timeout: u64,
    /// `browser` (the search page in headless Chromium) or `flickr-api` (the
    /// flickr.photos.search REST method, with a key from FLICKR_API_KEY).
    #[arg(long, default_value = "browser", value_parser = ["browser", "flickr-api"])]
    source: String,
    /// The Flickr REST endpoint, for --source flickr-api.
    #[arg(long, default_value = "https://api.flickr.com/services/rest/")]
    api_url: String,
}

pub fn crawl(ctx: &Context, args: CrawlArgs) -> anyhow::Result<serde_json::Value> {
    let source = match args.source.as_str() {
        "flickr-api" => {
            let key = std::env::var("FLICKR_API_KEY").ok().filter(|k| !k.trim().is_empty());
            let Some(key) = key else { bail!("--source flickr-api needs an API key in the FLICKR_API_KEY variable") };
            picseek_crawl::Source::FlickrApi { api_url: args.api_url, key }
        }
        _ => picseek_crawl::Source::Browser,
    };
    let opts = picseek_crawl::CrawlOptions {
        categories_file: args.categories,
        urls_path: ctx.path_or_default(args.urls, "urls.json"),
        url_template: args.url_template,
        max_per_term: args.max_per_term,
        size: args.size,
        photo_hosts: args.photo_hosts,
        concurrency: args.concurrency as usize,
        rate: args.rate,
        webdriver: args.webdriver,
        headful: args.headful,
        force: args.force,
        term_timeout: std::time::Duration::from_secs(args.term_timeout),
        source,
    };
    let report = tokio::runtime::Runtime::new()?.block_on(picseek_crawl::crawl(&opts))?;
    let terms: Vec<_> = report
        .terms
        .iter()
        .map(|t| serde_json::json!({"category": t.category, "term": t.term, "skipped": t.skipped, "record": t.record}))
        .collect();
    let failed: Vec<String> = report.failed().map(|t| format!("{}/{}", t.category, t.term)).collect();
    let crawled = report.terms.iter().filter(|t| !t.skipped).count();
    let doc = serde_json::json!({"urls": opts.urls_path, "crawled": crawled, "terms": terms, "failed": failed});
    ctx.show(&doc, || {
        println!("{:<16} {:<24} {:>7} {:<10} note", "category", "term", "found", "status");
        for t in &report.terms {
            let status = if t.skipped { "done" } else { status_name(t.record.status) };
            println!(
                "{:<16} {:<24} {:>3}/{:<3} {:<10} {}",
                t.category,
                t.term,
                t.record.found,
                t.record.wanted,
                status,
                t.record.error.as_deref().unwrap_or("")
            );
        }
        println!("wrote {}", opts.urls_path.display());
    })?;
    Ok(doc)
}

/// Fails when a crawl report lists failed terms (after the table was shown).
pub fn fail_on_failed_terms(doc: &serde_json::Value) -> anyhow::Result<()> {
    let failed: Vec<&str> = doc["failed"].as_array().into_iter().flatten().filter_map(|t| t.as_str()).collect();
    if !failed.is_empty() {
        bail!("{} term(s) failed: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}

fn status_name(status: picseek_manifest::TermStatus) -> &'static str {
    match status {
        picseek_manifest::TermStatus::Complete => "complete",
        picseek_manifest::TermStatus::Exhausted => "exhausted",
        picseek_manifest::TermStatus::Failed => "failed",
    }
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
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=512))]
    concurrency: u32,
    /// Requests per second per host (0 = no pacing).
    #[arg(long, default_value_t = 2.0)]
    rate: f64,
    /// Retries after the first attempt (exponential back-off with jitter).
    #[arg(long, default_value_t = 3)]
    retries: usize,
    /// Seconds one request may take.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// Largest file accepted, in bytes.
    #[arg(long, default_value_t = 20_000_000)]
    max_bytes: u64,
    /// Download images even when served with X-Robots-Tag noai / noimageai.
    #[arg(long)]
    ignore_noai: bool,
}

pub fn download(ctx: &Context, args: DownloadArgs) -> anyhow::Result<serde_json::Value> {
    if !(args.timeout > 0.0 && args.timeout <= 86_400.0) {
        bail!("--timeout must be a number of seconds above 0 and at most 86400, not {}", args.timeout);
    }
    let opts = picseek_download::DownloadOptions {
        urls_path: ctx.path_or_default(args.urls, "urls.json"),
        out_dir: ctx.path_or_default(args.out, "raw"),
        concurrency: args.concurrency as usize,
        rate: args.rate,
        retries: args.retries,
        timeout: std::time::Duration::from_secs_f64(args.timeout),
        max_bytes: args.max_bytes,
        honour_noai: !args.ignore_noai,
        backoff: std::time::Duration::from_millis(500),
    };
    let report = tokio::runtime::Runtime::new()?.block_on(picseek_download::download(&opts))?;
    let summary = report.summary();
    let doc = serde_json::json!({
        "manifest": opts.out_dir.join("manifest.json"),
        "urls": report.records.len(),
        "attempted": report.attempted,
        "reused": report.reused,
        "summary": counts_object(&summary),
    });
    ctx.show(&doc, || {
        println!(
            "{} URLs: {} fetched in this run, {} already downloaded",
            report.records.len(),
            report.attempted,
            report.reused
        );
        print_counts(&summary);
        println!("wrote {}", opts.out_dir.join("manifest.json").display());
    })?;
    Ok(doc)
}

fn counts_object(counts: &[(String, usize)]) -> serde_json::Value {
    counts.iter().map(|(k, n)| (k.clone(), serde_json::Value::from(*n))).collect::<serde_json::Map<_, _>>().into()
}

fn print_counts(counts: &[(String, usize)]) {
    for (what, count) in counts {
        println!("  {count:>6}  {what}");
    }
}

#[derive(Args)]
pub struct CleanArgs {
    /// The downloaded files [default: <data-dir>/raw].
    #[arg(long = "in")]
    input: Option<PathBuf>,
    /// Where kept images go [default: <data-dir>/clean].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Reject images whose shorter side is below this many pixels.
    #[arg(long, default_value_t = 50)]
    min_side: u32,
    /// exact (same bytes or pixels), near (also perceptually alike) or off.
    #[arg(long, default_value = "near", value_parser = ["exact", "near", "off"])]
    dedup: String,
    /// Largest Hamming distance (of 64 bits) between perceptual hashes of near duplicates.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=64))]
    near_distance: u32,
    /// Images bigger than this when decoded (bytes) are rejected as too large.
    #[arg(long, default_value_t = DEFAULT_MAX_DECODE_BYTES)]
    max_decode_bytes: u64,
}

pub fn clean(ctx: &Context, args: CleanArgs) -> anyhow::Result<serde_json::Value> {
    let dedup = match args.dedup.as_str() {
        "off" => picseek_clean::Dedup::Off,
        "exact" => picseek_clean::Dedup::Exact,
        _ => picseek_clean::Dedup::Near,
    };
    let opts = picseek_clean::CleanOptions {
        input: ctx.path_or_default(args.input, "raw"),
        out: ctx.path_or_default(args.out, "clean"),
        min_side: args.min_side,
        dedup,
        near_distance: args.near_distance,
        max_decode_bytes: args.max_decode_bytes,
        jpeg_quality: 95,
    };
    let report = picseek_clean::clean(&opts)?;
    let summary = report.summary();
    let doc = serde_json::json!({
        "manifest": opts.out.join("manifest.json"),
        "files": report.records.len(),
        "examined": report.examined,
        "reused": report.reused,
        "summary": counts_object(&summary),
    });
    ctx.show(&doc, || {
        println!(
            "{} files: {} examined in this run, {} unchanged since the last",
            report.records.len(),
            report.examined,
            report.reused
        );
        print_counts(&summary);
        println!("wrote {}", opts.out.join("manifest.json").display());
    })?;
    Ok(doc)
}

#[derive(Args)]
pub struct SplitArgs {
    /// The <class>/<image> folder to split [default: <data-dir>/clean].
    #[arg(long = "in")]
    input: Option<PathBuf>,
    /// Test images per class.
    #[arg(long, default_value_t = 1)]
    test_per_class: usize,
    /// Train images per class (0 = all the rest).
    #[arg(long, default_value_t = 19)]
    train_per_class: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn split(ctx: &Context, args: SplitArgs) -> anyhow::Result<serde_json::Value> {
    let opts = SplitOptions {
        input: ctx.path_or_default(args.input, "clean"),
        train_dir: ctx.data_dir.join("train"),
        test_dir: ctx.data_dir.join("test"),
        manifest_path: ctx.data_dir.join("split.json"),
        test_per_class: args.test_per_class,
        train_per_class: args.train_per_class,
        seed: args.seed,
    };
    let report = picseek_split::split(&opts)?;
    for (path, reason) in &report.problems {
        tracing::warn!("ignored {}: {reason}", path.display());
    }
    let mut doc = serde_json::to_value(&report.manifest)?;
    doc["placed"] = report.placed.into();
    doc["unchanged"] = report.unchanged.into();
    doc["removed"] = report.removed.into();
    ctx.show(&doc, || {
        let m = &report.manifest;
        let train: usize = m.classes.values().map(|c| c.train.len()).sum();
        let test: usize = m.classes.values().map(|c| c.test.len()).sum();
        println!(
            "split {} classes: {train} train, {test} test images ({} placed, {} unchanged, {} removed)",
            m.classes.len(),
            report.placed,
            report.unchanged,
            report.removed
        );
        for (class, reason) in &m.skipped_classes {
            println!("left out class {class}: {reason}");
        }
        println!("wrote {}", opts.manifest_path.display());
    })?;
    Ok(doc)
}

/// Where the CLIP model is and how many cores it uses, for every command that runs it.
#[derive(Args, Clone)]
pub struct ModelArgs {
    /// The CLIP model directory (vision_model.onnx, text_model.onnx, tokenizer.json,
    /// preprocessor_config.json).
    #[arg(long, default_value = "models/clip")]
    model: PathBuf,
    /// Cores the model may use [default: all].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: Option<u32>,
}

impl ModelArgs {
    fn threads(&self) -> usize {
        self.threads.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |t| t as usize)
    }
}

#[derive(Args)]
pub struct IndexArgs {
    /// The <class>/<image> folder to index [default: <data-dir>/train].
    #[arg(long)]
    train: Option<PathBuf>,
    /// The index folder [default: <data-dir>/index].
    #[arg(long)]
    index: Option<PathBuf>,
    /// `clip` (a CLIP image encoder through ONNX Runtime) or `pixel` (raw pixels).
    #[arg(long, default_value = "clip", value_parser = ["clip", "pixel"])]
    embedder: String,
    #[command(flatten)]
    model: ModelArgs,
    /// Images per model run (CLIP).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=4096))]
    batch: u32,
    /// Metrics to build an approximate (usearch) index for: cosine, l2, correlation;
    /// repeat or separate with commas (CLIP; others are searched exactly).
    #[arg(long = "metric", default_value = "cosine", value_delimiter = ',')]
    metrics: Vec<AnnSpace>,
    #[command(flatten)]
    ann: AnnArgs,
    /// Side of the square the pixel embedder resizes to.
    #[arg(long, default_value_t = 448, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pixel_size: u32,
    /// Images bigger than this when decoded (bytes) are skipped as too large.
    #[arg(long, default_value_t = DEFAULT_MAX_DECODE_BYTES)]
    max_decode_bytes: u64,
    /// Discard an existing index instead of extending it.
    #[arg(long)]
    rebuild: bool,
}

/// How the approximate-search graphs are built. The defaults keep recall@10 at 0.99 or
/// better on CLIP-like data; `--quantization i8 --expansion-add 32 --expansion-search
/// 128` builds about three times faster at about 0.984.
#[derive(Args)]
pub struct AnnArgs {
    /// How graphs store vectors: f32, f16 or i8 (scores are always exact).
    #[arg(long, default_value = "f16")]
    quantization: picseek_index::Quantization,
    /// Links per node in the graphs.
    #[arg(long, default_value_t = AnnSettings::default().connectivity as u32, value_parser = clap::value_parser!(u32).range(2..=256))]
    connectivity: u32,
    /// Candidates considered while adding a vector (higher: better graph, slower build).
    #[arg(long, default_value_t = AnnSettings::default().expansion_add as u32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    expansion_add: u32,
    /// Candidates considered while searching (higher: better recall, slower search).
    #[arg(long, default_value_t = AnnSettings::default().expansion_search as u32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    expansion_search: u32,
}

impl AnnArgs {
    fn settings(&self) -> AnnSettings {
        AnnSettings {
            quantization: self.quantization,
            connectivity: self.connectivity as usize,
            expansion_add: self.expansion_add as usize,
            expansion_search: self.expansion_search as usize,
        }
    }
}

fn embedder_choice(args: &IndexArgs) -> EmbedderChoice {
    match args.embedder.as_str() {
        "pixel" => EmbedderChoice::Pixel { size: args.pixel_size },
        _ => EmbedderChoice::Clip {
            options: ClipOptions {
                model_dir: args.model.model.clone(),
                batch: args.batch as usize,
                threads: args.model.threads(),
            },
            spaces: args.metrics.clone(),
        },
    }
}

pub fn index(ctx: &Context, args: IndexArgs) -> anyhow::Result<serde_json::Value> {
    let opts = IndexOptions {
        train: ctx.path_or_default(args.train.clone(), "train"),
        index_dir: ctx.path_or_default(args.index.clone(), "index"),
        embedder: embedder_choice(&args),
        max_decode_bytes: args.max_decode_bytes,
        rebuild: args.rebuild,
        ann: args.ann.settings(),
    };
    let report = build_index(&opts)?;
    let doc = serde_json::json!({
        "index": opts.index_dir,
        "items": report.items,
        "embedded": report.embedded,
        "reused": report.reused,
        "graphs_built": report.graphs_built,
        "skipped": report.skipped,
    });
    ctx.show(&doc, || {
        println!(
            "indexed {} images in {} ({} embedded, {} reused, {} skipped)",
            report.items,
            opts.index_dir.display(),
            report.embedded,
            report.reused,
            report.skipped.len()
        );
        if !report.graphs_built.is_empty() {
            println!("built approximate-search graphs: {}", report.graphs_built.join(", "));
        }
    })?;
    Ok(doc)
}

fn open_index(ctx: &Context, flag: Option<PathBuf>) -> anyhow::Result<Index> {
    Ok(Index::open(&ctx.path_or_default(flag, "index"))?)
}

#[derive(Args)]
pub struct SearchArgs {
    /// The query image.
    #[arg(long, required_unless_present = "text", conflicts_with = "text")]
    image: Option<PathBuf>,
    /// A text query (needs a CLIP index).
    #[arg(long)]
    text: Option<String>,
    /// The index folder [default: <data-dir>/index].
    #[arg(long)]
    index: Option<PathBuf>,
    /// How many results.
    #[arg(short, default_value_t = 5)]
    k: usize,
    /// l1, l2, cosine or correlation.
    #[arg(long, default_value = "cosine")]
    metric: Metric,
    /// Brute force over every vector instead of the approximate index (pixel indexes,
    /// and metrics without an approximate index, are always searched this way).
    #[arg(long)]
    exact: bool,
    /// Only results of this class.
    #[arg(long)]
    class: Option<String>,
    #[command(flatten)]
    model: ModelArgs,
    /// Also draw the query beside its results, labelled, into this PNG file.
    #[arg(long)]
    plot: Option<PathBuf>,
}

pub fn search(ctx: &Context, args: SearchArgs) -> anyhow::Result<()> {
    let index = open_index(ctx, args.index)?;
    let embedder = index.query_embedder(&args.model.model, args.model.threads())?;
    let (query, label) = match (&args.image, &args.text) {
        (Some(image), _) => (embedder.embed_image_file(image)?, image.display().to_string()),
        (None, Some(text)) if text.trim().is_empty() => bail!("--text is empty: say what to look for"),
        (None, Some(text)) => (embedder.embed_text(text)?, text.clone()),
        (None, None) => bail!("give --image FILE or --text \"...\""),
    };
    let searcher = Searcher::new(&index);
    let request = SearchRequest { metric: args.metric, k: args.k, class: args.class.as_deref(), exact: args.exact };
    let hits = searcher.search(&query, &request)?;
    let method = searcher.method_name(args.metric, args.exact);
    if let Some(plot) = &args.plot {
        let sheet_query = match &args.image {
            Some(image) => SheetQuery::Image(image),
            None => SheetQuery::Text(&label),
        };
        let sheet = picseek_search::contact_sheet(sheet_query, &hits)?;
        let mut png = std::io::Cursor::new(Vec::new());
        sheet.write_to(&mut png, image::ImageFormat::Png)?;
        picseek_manifest::write_atomic(plot, png.get_ref())?;
        tracing::info!("wrote {}", plot.display());
    }
    if ctx.json {
        return print_json(&serde_json::json!({
            "query": label,
            "metric": args.metric.name(),
            "search": method,
            "results": hits,
        }));
    }
    for hit in &hits {
        println!("{:>3}  {:>12.6}  {:<20}  {}", hit.rank, hit.score, hit.class, hit.path);
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
    #[arg(short, default_value_t = 5)]
    k: usize,
    /// l1, l2, cosine, correlation or all.
    #[arg(long, default_value = "all")]
    metric: String,
    /// Brute force only (by default metrics with an approximate index use it, and its
    /// recall against brute force is reported).
    #[arg(long)]
    exact: bool,
    #[command(flatten)]
    model: ModelArgs,
}

pub fn eval(ctx: &Context, args: EvalArgs) -> anyhow::Result<()> {
    let metrics = match args.metric.as_str() {
        "all" => Metric::ALL.to_vec(),
        one => vec![one.parse::<Metric>().map_err(anyhow::Error::msg)?],
    };
    let index = open_index(ctx, args.index)?;
    let embedder = index.query_embedder(&args.model.model, args.model.threads())?;
    let test_dir = ctx.path_or_default(args.test, "test");
    let report = evaluate(&index, &embedder, &test_dir, args.k, &metrics, args.exact)
        .with_context(|| format!("evaluating on {}", test_dir.display()))?;
    if report.queries == 0 {
        bail!("{}: no usable query image", test_dir.display());
    }
    if ctx.json {
        return print_json(&report);
    }
    println!("{} queries against {} images, k = {}", report.queries, report.index_items, report.k);
    let recall_label = format!("recall@{}", report.k);
    println!(
        "{:<12} {:<12} {:>7} {:>7} {:>7} {:>10} {:>10}",
        "metric",
        "search",
        "P@1",
        format!("P@{}", report.k),
        "mAP",
        recall_label,
        "queries/s"
    );
    for m in &report.metrics {
        let recall = m.recall_at_k.map_or("-".to_owned(), |r| format!("{r:.3}"));
        println!(
            "{:<12} {:<12} {:>7.3} {:>7.3} {:>7.3} {:>10} {:>10.1}",
            m.metric,
            m.search,
            m.precision_at_1,
            m.precision_at_k,
            m.mean_average_precision,
            recall,
            m.queries_per_second
        );
    }
    Ok(())
}

/// A stage's flags at their defaults, exactly as its own command line would give them.
#[derive(clap::Parser)]
struct Defaults<T: Args> {
    #[command(flatten)]
    args: T,
}

fn defaults<T: Args>() -> T {
    <Defaults<T> as clap::Parser>::parse_from(["picseek"]).args
}

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    crawl: CrawlArgs,
    /// Download requests per second per host (0 = no pacing).
    #[arg(long, default_value_t = 2.0)]
    download_rate: f64,
    /// `clip` or `pixel`, as for `picseek index`.
    #[arg(long, default_value = "clip", value_parser = ["clip", "pixel"])]
    embedder: String,
    #[command(flatten)]
    model: ModelArgs,
    #[arg(long, default_value_t = 448, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pixel_size: u32,
    #[arg(long, default_value_t = 1)]
    test_per_class: usize,
    /// 0 = all the rest.
    #[arg(long, default_value_t = 19)]
    train_per_class: usize,
}

/// Runs crawl, download, clean, split and index in order, each resuming where it
/// stopped, and prints one summary. A failed crawl term does not stop the others' way
/// through the pipeline, but makes the exit status non-zero at the end.
pub fn run(ctx: &Context, args: RunArgs) -> anyhow::Result<()> {
    let stage_ctx = Context { data_dir: ctx.data_dir.clone(), json: false, quiet: true };
    let stages = ["crawl", "download", "clean", "split", "index"];
    let announce = |i: usize| eprintln!("==> [{}/{}] {}", i + 1, stages.len(), stages[i]);

    if args.embedder == "clip" {
        // Fail now, not after an hour of crawling, when the model cannot be used.
        let options = ClipOptions { model_dir: args.model.model.clone(), batch: 1, threads: 1 };
        picseek_index::ClipEmbedder::load(&options, DEFAULT_MAX_DECODE_BYTES)
            .context("the index stage needs the CLIP model (or pass --embedder pixel)")?;
    }
    announce(0);
    let urls = args.crawl.urls.clone();
    let crawl_doc = crawl(&stage_ctx, args.crawl)?;
    let crawl_failure = fail_on_failed_terms(&crawl_doc).err();
    let found: u64 =
        crawl_doc["terms"].as_array().into_iter().flatten().filter_map(|t| t["record"]["found"].as_u64()).sum();
    if found == 0 {
        return Err(crawl_failure.unwrap_or_else(|| anyhow::anyhow!("the crawl found no photo URLs")))
            .context("nothing to download, so the run stops here");
    }
    if let Some(e) = &crawl_failure {
        tracing::warn!("{e:#}; going on with the terms that were found");
    }
    announce(1);
    let download_doc = download(&stage_ctx, DownloadArgs { urls, rate: args.download_rate, ..defaults() })?;
    announce(2);
    let clean_doc = clean(&stage_ctx, defaults())?;
    announce(3);
    let split_args =
        SplitArgs { test_per_class: args.test_per_class, train_per_class: args.train_per_class, ..defaults() };
    let split_doc = split(&stage_ctx, split_args)?;
    announce(4);
    let index_args =
        IndexArgs { embedder: args.embedder, model: args.model, pixel_size: args.pixel_size, ..defaults() };
    let index_doc = index(&stage_ctx, index_args)?;

    let count = |doc: &serde_json::Value, key: &str| doc["summary"][key].as_u64().unwrap_or(0);
    let rejected: serde_json::Map<String, serde_json::Value> = clean_doc["summary"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.strip_prefix("rejected: ")?.to_owned(), v.clone())))
        .collect();
    let summary = serde_json::json!({
        "urls_found": found,
        "terms_crawled_now": crawl_doc["crawled"],
        "downloaded": count(&download_doc, "ok"),
        "fetched_now": download_doc["attempted"],
        "kept": count(&clean_doc, "kept"),
        "examined_now": clean_doc["examined"],
        "rejected": rejected,
        "classes": split_doc["classes"].as_object().map_or(0, |c| c.len()),
        "indexed": index_doc["items"],
        "embedded_now": index_doc["embedded"],
    });
    if ctx.json {
        print_json(&serde_json::json!({
            "summary": summary,
            "stages": {"crawl": crawl_doc, "download": download_doc, "clean": clean_doc, "split": split_doc, "index": index_doc},
        }))?;
    } else {
        println!("{:<14} {:>6}   ({} terms crawled in this run)", "URLs found", found, summary["terms_crawled_now"]);
        println!(
            "{:<14} {:>6}   ({} fetched in this run)",
            "downloaded", summary["downloaded"], summary["fetched_now"]
        );
        println!("{:<14} {:>6}   ({} examined in this run)", "kept", summary["kept"], summary["examined_now"]);
        for (reason, n) in &rejected {
            println!("{:<14} {:>6}", format!("rejected: {reason}"), n);
        }
        println!("{:<14} {:>6}", "classes", summary["classes"]);
        println!("{:<14} {:>6}   ({} embedded in this run)", "indexed", summary["indexed"], summary["embedded_now"]);
    }
    crawl_failure.map_or(Ok(()), Err)
}

#[derive(Args)]
pub struct ServeArgs {
    /// The index folder [default: <data-dir>/index].
    #[arg(long)]
    index: Option<PathBuf>,
    /// Where to listen; loopback unless you say otherwise.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: std::net::SocketAddr,
    /// The largest upload accepted, in bytes.
    #[arg(long, default_value_t = 20_000_000)]
    max_upload: usize,
    #[command(flatten)]
    model: ModelArgs,
}

pub fn serve(ctx: &Context, args: ServeArgs) -> anyhow::Result<()> {
    let opts = picseek_serve::ServeOptions {
        index_dir: ctx.path_or_default(args.index, "index"),
        addr: args.addr,
        max_upload: args.max_upload,
        model_dir: args.model.model.clone(),
        threads: args.model.threads(),
    };
    let announce = |addr| eprintln!("picseek: serving {} on http://{addr}/ (Ctrl-C stops)", opts.index_dir.display());
    tokio::runtime::Runtime::new()?.block_on(picseek_serve::serve(&opts, announce))?;
    Ok(())
}
