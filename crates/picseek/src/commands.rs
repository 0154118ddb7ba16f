//! One function per subcommand: turn flags into stage options, call the stage, print.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use picseek_imaging::DEFAULT_MAX_DECODE_BYTES;
use picseek_index::{EmbedderChoice, Index, IndexOptions, build_index};
use picseek_search::{Metric, evaluate, search_exact};
use picseek_split::SplitOptions;

pub struct Context {
    pub data_dir: PathBuf,
    pub json: bool,
}

impl Context {
    /// A flag's path, or the stage's default under the data directory.
    fn path_or_default(&self, flag: Option<PathBuf>, default: &str) -> PathBuf {
        flag.unwrap_or_else(|| self.data_dir.join(default))
    }
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// The arguments of a subcommand that is not built yet, accepted so it can say so.
#[derive(Args)]
pub struct NotBuilt {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    args: Vec<String>,
}

pub fn not_built(name: &str, issue: u32) -> anyhow::Result<()> {
    bail!("`picseek {name}` is not built yet (tracked in issue #{issue})")
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

pub fn split(ctx: &Context, args: SplitArgs) -> anyhow::Result<()> {
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
    if ctx.json {
        return print_json(&report.manifest);
    }
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
    Ok(())
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

pub fn index(ctx: &Context, args: IndexArgs) -> anyhow::Result<()> {
    let embedder = match args.embedder.as_str() {
        "pixel" => EmbedderChoice::Pixel { size: args.pixel_size },
        _ => bail!("the CLIP embedder is not built yet (tracked in issue #5); use --embedder pixel"),
    };
    let opts = IndexOptions {
        train: ctx.path_or_default(args.train, "train"),
        index_dir: ctx.path_or_default(args.index, "index"),
        embedder,
        max_decode_bytes: args.max_decode_bytes,
        rebuild: args.rebuild,
    };
    let report = build_index(&opts)?;
    if ctx.json {
        return print_json(&serde_json::json!({
            "index": opts.index_dir,
            "items": report.items,
            "embedded": report.embedded,
            "reused": report.reused,
            "skipped": report.skipped,
        }));
    }
    println!(
        "indexed {} images in {} ({} embedded, {} reused, {} skipped)",
        report.items,
        opts.index_dir.display(),
        report.embedded,
        report.reused,
        report.skipped.len()
    );
    Ok(())
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
    /// Brute-force search (pixel indexes are always searched exactly).
    #[arg(long)]
    exact: bool,
}

pub fn search(ctx: &Context, args: SearchArgs) -> anyhow::Result<()> {
    let index = open_index(ctx, args.index)?;
    let Some(image) = args.image else {
        bail!("text queries need a CLIP index; {} is a pixel index", index.manifest().embedder)
    };
    let query = index.query_embedder().embed_file(&image)?;
    let hits = search_exact(&index, &query, args.metric, args.k);
    if ctx.json {
        return print_json(&serde_json::json!({
            "query": image,
            "metric": args.metric.name(),
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
}

pub fn eval(ctx: &Context, args: EvalArgs) -> anyhow::Result<()> {
    let metrics = match args.metric.as_str() {
        "all" => Metric::ALL.to_vec(),
        one => vec![one.parse::<Metric>().map_err(anyhow::Error::msg)?],
    };
    let index = open_index(ctx, args.index)?;
    let test_dir = ctx.path_or_default(args.test, "test");
    let report = evaluate(&index, &test_dir, args.k, &metrics).with_context(|| format!("evaluating on {}", test_dir.display()))?;
    if report.queries == 0 {
        bail!("{}: no usable query image", test_dir.display());
    }
    if ctx.json {
        return print_json(&report);
    }
    println!("{} queries against {} images, k = {}", report.queries, report.index_items, report.k);
    println!("{:<12} {:>7} {:>7} {:>7} {:>10}", "metric", "P@1", format!("P@{}", report.k), "mAP", "queries/s");
    for m in &report.metrics {
        println!(
            "{:<12} {:>7.3} {:>7.3} {:>7.3} {:>10.1}",
            m.metric, m.precision_at_1, m.precision_at_k, m.mean_average_precision, m.queries_per_second
        );
    }
    Ok(())
}

