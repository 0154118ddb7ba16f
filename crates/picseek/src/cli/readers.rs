//! The flags of the commands that read the dataset: search, eval, serve, doctor and report.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use clap::Args;
use picseek_doctor::DoctorOptions;
use picseek_manifest::Metric;
use picseek_search::SearchRequest;
use picseek_serve::ServeOptions;

use super::{Licenses, ModelArgs, ModelRunArgs, TextLanguageArgs, parse_licenses};

#[derive(Args)]
#[command(group = clap::ArgGroup::new("what").required(true).multiple(true).args(["query", "image", "text", "queries"]))]
pub struct SearchArgs {
    /// What to look for: an image (a file, `-` for standard input, or an http(s) URL) or
    /// a text (CLIP indexes), told apart by whether a file or URL of that name exists;
    /// several are combined, and `WEIGHT:` weighs one (a negative weight only with --image
    /// or --text).
    #[arg(conflicts_with = "queries")]
    pub query: Vec<String>,
    /// A query image: a file, `-` (standard input) or an http(s) URL (fetched with
    /// download's checks and limits). Repeat, and mix with --text, to combine terms; `WEIGHT:` in front weighs
    /// one (`2:fox.jpg`, `-:snow.jpg` steers away; CLIP indexes).
    #[arg(long, allow_hyphen_values = true)]
    pub image: Vec<String>,
    /// A text query (CLIP indexes); repeat and weigh as for --image (`-0.5:snow`). Texts
    /// longer than the model's 77 tokens are cut, with a warning.
    #[arg(long, allow_hyphen_values = true)]
    pub text: Vec<String>,
    /// A file of queries, one JSON object per line (`{"text": "a fox", "k": 3}`, `{"image":
    /// ["a.jpg", "-:b.jpg"]}`, `"class"`, `"id"`); `-` reads standard input. Prints one
    /// JSON result per line.
    #[arg(long, conflicts_with_all = ["image", "text", "plot"])]
    pub queries: Option<PathBuf>,
    /// The index folder [default: <data-dir>/index].
    #[arg(long)]
    pub index: Option<PathBuf>,
    /// How many results (at least 1; at most the index's size are returned).
    #[arg(short, default_value_t = SearchRequest::default().k)]
    pub k: usize,
    /// l1, l2, cosine or correlation.
    #[arg(long, value_enum, default_value_t = SearchRequest::default().metric)]
    pub metric: Metric,
    /// Brute force over every vector instead of the approximate index (pixel indexes,
    /// and metrics without an approximate index, are always searched this way).
    #[arg(long)]
    pub exact: bool,
    /// Only results of this class.
    #[arg(long)]
    pub class: Option<String>,
    /// Only photos under these licences, as crawl's --license (`cc0,cc-by`, `open`, ...);
    /// needs a dataset picseek crawled, which records each photo's licence.
    #[arg(long = "license", value_parser = parse_licenses)]
    pub licenses: Option<Licenses>,
    /// Only photos of this owner (their Flickr id or name).
    #[arg(long)]
    pub owner: Option<String>,
    /// Only photos taken on or after this date (YYYY, YYYY-MM or YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub taken_after: Option<String>,
    /// Only photos taken before this date (YYYY, YYYY-MM or YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub taken_before: Option<String>,
    /// Only results at least this close: a cosine or correlation of at least it, an l1
    /// or l2 distance of at most it.
    #[arg(long, value_name = "SCORE", allow_hyphen_values = true)]
    pub min_score: Option<f64>,
    /// Leave out index images that are the query image itself (the same bytes).
    #[arg(long)]
    pub exclude_query: bool,
    /// Print the result paths only, one per line (for scripts: `| xargs feh`).
    #[arg(long, conflicts_with = "queries")]
    pub paths: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub language: TextLanguageArgs,
    /// Also draw the query and its results as a labelled grid into this file (.png or
    /// .jpg/.jpeg).
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

#[derive(Args)]
pub struct EvalArgs {
    /// The index folder [default: <data-dir>/index].
    #[arg(long)]
    pub index: Option<PathBuf>,
    /// The <class>/<image> folder of queries [default: <data-dir>/test].
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// Results per query that are scored (P@k, mAP, recall@k).
    #[arg(short, default_value_t = 5)]
    pub k: usize,
    /// l1, l2, cosine, correlation or all.
    #[arg(long, default_value = "all", value_parser = parse_metrics)]
    pub metric: Metrics,
    /// Brute force only (by default metrics with an approximate index use it, and its
    /// recall against brute force is reported).
    #[arg(long)]
    pub exact: bool,
    /// Score an index that is stale (test images in it, or its folder changed since it
    /// was built); the output says what is stale.
    #[arg(long)]
    pub allow_stale: bool,
    /// The CLIP model folder the queries go through [default: the index's]. Given twice
    /// or more: a model shoot-out instead; each model indexes --train into its own folder
    /// under <data-dir>/eval-models/ (kept, with its cache, for the next comparison), is
    /// scored on --test with cosine, and one table compares them.
    #[arg(long = "model", value_name = "DIR")]
    pub models: Vec<PathBuf>,
    /// The <class>/<image> folder each model of a shoot-out indexes [default:
    /// <data-dir>/train].
    #[arg(long, requires = "models")]
    pub train: Option<PathBuf>,
    #[command(flatten)]
    pub run: ModelRunArgs,
}

/// One metric, or all of them.
#[derive(Clone)]
pub struct Metrics(pub Vec<Metric>);

fn parse_metrics(s: &str) -> Result<Metrics, String> {
    if s.eq_ignore_ascii_case("all") {
        return Ok(Metrics(Metric::ALL.to_vec()));
    }
    s.parse::<Metric>().map(|m| Metrics(vec![m])).map_err(|e| format!("{e}, or all"))
}

#[derive(Args)]
pub struct ServeArgs {
    /// The index folder [default: <data-dir>/index].
    #[arg(long)]
    pub index: Option<PathBuf>,
    /// Where to listen; loopback unless you say otherwise.
    /// (`HOST:PORT`, `localhost:PORT`, `:PORT` or `PORT` for 127.0.0.1, `0.0.0.0:PORT` for
    /// every interface).
    #[arg(long, default_value_t = ServeOptions::default().addr, value_parser = parse_listen_addr)]
    pub addr: SocketAddr,
    /// The largest upload accepted, in bytes.
    #[arg(long, default_value_t = ServeOptions::default().max_upload)]
    pub max_upload: usize,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub language: TextLanguageArgs,
}

#[derive(Args)]
pub struct DoctorArgs {
    /// The index folder whose model is checked [default: <data-dir>/index].
    #[arg(long)]
    pub index: Option<PathBuf>,
    /// The CLIP model folder to check [default: the one the index was built with, else
    /// models/clip].
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// A host:port the crawl needs, to test the network with; repeat for more.
    #[arg(long = "network-host", default_values_t = DoctorOptions::default().network_hosts)]
    pub network_hosts: Vec<String>,
    /// Seconds each network attempt may take.
    #[arg(long, default_value_t = DoctorOptions::default().timeout.as_secs())]
    pub timeout: u64,
}

#[derive(Args)]
pub struct ReportArgs {
    /// Where the page goes [default: <data-dir>/report.html].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `--addr`: an address to listen on, as a person types it.
fn parse_listen_addr(value: &str) -> Result<SocketAddr, String> {
    let port = |p: &str| p.parse::<u16>().map_err(|_| format!("{p:?} is not a port (0 to 65535)"));
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let loopback = |p: &str| port(p).map(|p| SocketAddr::from((Ipv4Addr::LOCALHOST, p)));
    match value.rsplit_once(':') {
        Some(("" | "localhost", p)) => loopback(p),
        None => loopback(value),
        Some((host, _)) => Err(format!(
            "{host:?} is not an IP address: give 127.0.0.1:PORT (this machine), 0.0.0.0:PORT (every interface) or the address of one interface"
        )),
    }
}
