//! The command line's definitions, for clap only: what each command and flag is and
//! says in `--help`. Turning flags into options is [`settings`](crate::settings)'s;
//! running a command, [`commands`](crate::commands)'.

mod export;
mod readers;
mod shared;
mod stages;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use export::*;
pub use readers::*;
pub use shared::*;
pub use stages::*;

#[derive(Parser)]
#[command(name = "picseek", version, about = "Build a personal image-retrieval dataset from the web and search it")]
pub struct Cli {
    /// The data directory that every stage's default paths are relative to.
    #[arg(long, global = true, default_value = "data")]
    pub data_dir: PathBuf,
    /// Print one JSON document on stdout instead of human output.
    #[arg(long, global = true)]
    pub json: bool,
    /// Exit non-zero when any item failed (a crawl term, a download URL, an image the
    /// index skipped). Without it a stage exits 0 when it did its work, its failures
    /// summarised, recorded and retried by the next run; non-zero only when it could not
    /// work at all (bad input, nothing found, interrupted).
    #[arg(long, global = true)]
    pub strict: bool,
    /// More log output (repeat for more); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Find photo URLs for each term of a categories file with headless Chromium (urls.json).
    Crawl(CrawlArgs),
    /// Download the URLs of urls.json into raw/.
    Download(DownloadArgs),
    /// Verify, convert to RGB and de-duplicate raw/ into clean/.
    Clean(CleanArgs),
    /// Split each class of clean/ into train/ and test/.
    Split(SplitArgs),
    /// Embed the images of train/ into a vector index.
    Index(IndexArgs),
    /// Find the images closest to a query: images, texts or items, alone or combined (`search fox.jpg "a red fox"`).
    Search(SearchArgs),
    /// Measure retrieval quality (P@1, P@k, mAP, queries/s) over test/.
    Eval(EvalArgs),
    /// Run crawl, download, clean, split and index in order, each resuming where it stopped.
    Run(RunArgs),
    /// Serve a local web page to search the index.
    Serve(ServeArgs),
    /// Check Chromium and its driver, ONNX Runtime, the model, disk space and the network.
    Doctor(DoctorArgs),
    /// Write one HTML page over the data directory: counts, duplicates, near copies, flags.
    Report(ReportArgs),
    /// Join the shards of download, clean or index (run with --shard I/N) into the stage's output.
    Merge(MergeArgs),
    /// Write train/ and test/ as a Hugging Face imagefolder, WebDataset shards or Parquet, or the index's vectors as .npy.
    Export(ExportArgs),
}
