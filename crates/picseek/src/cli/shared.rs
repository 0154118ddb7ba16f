//! Flag groups several commands share: shards, the model, how an index is built.

use std::path::PathBuf;

use clap::Args;
use picseek_embed::{Device, TextLanguage};
use picseek_manifest::{EmbedderKind, Precision, Quantization, Shard};

/// Which shard a `download`, `clean` or `index` run is, if it is one.
#[derive(Args, Clone, Copy, Default)]
pub struct ShardArgs {
    /// Do only shard I of N (0-based; `auto`: the Slurm array task or Kubernetes Indexed
    /// Job index this runs as), into the stage's .shards/ folder; `picseek merge <stage>`
    /// joins the N shards once all are complete. A finished shard is skipped on re-run.
    #[arg(long, value_name = "I/N|auto")]
    pub shard: Option<ShardFlag>,
    /// How many shards: with `--shard auto` under Kubernetes (JOB_COMPLETION_INDEX names
    /// only the index); alone it means `--shard auto`; for `merge`, which shards to join
    /// [default for merge: the one count whose shards are there].
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,
}

/// `--shard`'s value.
#[derive(Clone, Copy)]
pub enum ShardFlag {
    Given(Shard),
    FromEnvironment,
}

impl std::str::FromStr for ShardFlag {
    type Err = picseek_manifest::ShardError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "auto" { Ok(Self::FromEnvironment) } else { s.parse().map(Self::Given) }
    }
}

/// How the web's opt-outs are treated, for crawl, download and run.
#[derive(Args, Clone)]
pub struct OptOutArgs {
    /// The user agent: the product token robots.txt groups are matched against, sent as
    /// the User-Agent header's product (letters, '-' and '_').
    #[arg(long, value_name = "TOKEN", default_value = picseek_optout::OptOutOptions::DEFAULT_AGENT)]
    pub user_agent: String,
    /// Read and record every host's robots.txt, but fetch what it disallows (recorded
    /// in the manifests and the export's dataset card; a warning says so).
    #[arg(long)]
    pub ignore_robots: bool,
    /// A TDM policy you hold (its URL): images whose TDMRep reservation offers this
    /// policy are downloaded, and their records say so; repeat for more.
    #[arg(long = "tdm-policy", value_name = "URL")]
    pub tdm_policies: Vec<String>,
    /// Download images even when served with X-Robots-Tag noai / noimageai (recorded).
    #[arg(long)]
    pub ignore_noai: bool,
}

/// Where the CLIP model is and how many cores it uses, for every command that runs it.
#[derive(Args, Clone)]
pub struct ModelArgs {
    /// The CLIP model folder: a Hugging Face ONNX export (vision_model.onnx,
    /// text_model.onnx, tokenizer.json, preprocessor_config.json) or an Immich / OpenCLIP
    /// one (visual/, textual/, config.json: CLIP, SigLIP, SigLIP2, NLLB-SigLIP, M-CLIP)
    /// [default: the one the index was built with, found by its SHA-256 where it was, in
    /// models/clip or beside either; else models/clip].
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub run: ModelRunArgs,
}

/// How the CLIP model runs.
#[derive(Args, Clone)]
pub struct ModelRunArgs {
    /// Cores the model may use [default: all].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Where the model runs: cpu, or cuda / cuda:N (a GPU, with ONNX Runtime's GPU build
    /// from `scripts/setup.sh --gpu`; an error if it cannot be used, never the CPU instead).
    #[arg(long, value_name = "cpu|cuda[:N]", default_value_t = Device::Cpu)]
    pub device: Device,
    /// Which of the model's files run: fp32 (vision_model.onnx, text_model.onnx, or
    /// visual/model.onnx, textual/model.onnx) or int8 (their `_quantized` copies beside
    /// them: about twice as fast on CPUs with AVX-512 VNNI, vectors within a cosine of
    /// about 0.999 of fp32's; scripts/clip/quantize.py makes them) [default: the index's,
    /// else fp32].
    #[arg(long, value_enum)]
    pub precision: Option<Precision>,
}

/// The language of text queries, for search and serve.
#[derive(Args, Clone)]
pub struct TextLanguageArgs {
    /// The language of text queries, for NLLB models, whose tokenizer reads it (`vi`,
    /// `de`, or a FLORES-200 code such as `vie_Latn`); other models need none and ignore
    /// it [default: none, as Immich without one].
    #[arg(long, value_name = "CODE")]
    pub text_language: Option<TextLanguage>,
}

/// How an index is built, for `index` and `run`: each left out continues as the
/// existing index was built (unless `--rebuild`), else takes the library's default.
#[derive(Args)]
pub struct BuildArgs {
    /// `clip` (a CLIP image encoder through ONNX Runtime) or `pixel` (raw pixels)
    /// [default: the existing index's, else clip].
    #[arg(long, value_enum)]
    pub embedder: Option<EmbedderKind>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Side of the square the pixel embedder resizes to [default: the existing index's,
    /// else 448].
    #[arg(long)]
    pub pixel_size: Option<u32>,
    /// Discard an existing index instead of extending it.
    #[arg(long)]
    pub rebuild: bool,
}

/// How the approximate-search graphs are built and searched. Left out, each follows the
/// index's size, chosen anew as it grows, so that recall@10 stays at 0.95 or better up
/// to a million images (README, "Scaling"); one given is kept by later runs.
#[derive(Args)]
pub struct AnnArgs {
    /// How graphs store vectors: f32, f16 or i8 (scores are always exact) [default: i8].
    #[arg(long, value_enum)]
    pub quantization: Option<Quantization>,
    /// Links per node in the graphs [default: 16].
    #[arg(long)]
    pub connectivity: Option<usize>,
    /// Candidates considered while adding a vector (higher: better graph, slower build)
    /// [default: 96].
    #[arg(long)]
    pub expansion_add: Option<usize>,
    /// Candidates considered while searching (higher: better recall, slower search)
    /// [default: 64, 96 past 100,000 items, 128 past 400,000].
    #[arg(long)]
    pub expansion_search: Option<usize>,
    /// Search exactly, not through the graph, while the index holds fewer items (0: always
    /// through the graph) [default: 250].
    #[arg(long, value_name = "ITEMS")]
    pub exact_below: Option<usize>,
}

/// A licence filter's ids (crawl's and search's `--license`).
#[derive(Clone)]
pub struct Licenses(pub Vec<u8>);

pub fn parse_licenses(list: &str) -> Result<Licenses, String> {
    picseek_manifest::License::parse_filter(list).map(Licenses)
}
