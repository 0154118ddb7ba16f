//! The flags of `picseek export`.

use std::path::PathBuf;

use clap::Args;
use picseek_export::{ExportFormat, ExportOptions, Side};

use super::{Licenses, parse_licenses};

#[derive(Args)]
pub struct ExportArgs {
    /// imagefolder (Hugging Face `datasets`, with metadata.jsonl and a dataset card),
    /// webdataset (tar shards), parquet (one file per split, image bytes and metadata as
    /// columns) or embeddings (the index's CLIP vectors as .npy with a Parquet of paths,
    /// as clip-retrieval writes them).
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Where the export goes: a new or empty folder, or an earlier export of the same
    /// format, which is brought up to date [default: <data-dir>/export-<format>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Which side: train or test; repeat or separate with commas [default: both].
    #[arg(long = "split", value_enum, value_delimiter = ',')]
    pub sides: Vec<Side>,
    /// Only photos under these licences, as crawl's --license (`cc0,pdm,cc-by`, `open`, ...)
    /// [default: every known licence].
    #[arg(long = "license", value_parser = parse_licenses)]
    pub licenses: Option<Licenses>,
    /// Also photos whose licence is unknown (one's own photos have none); the card says so.
    #[arg(long)]
    pub include_unknown: bool,
    /// Samples per WebDataset shard, rows per Parquet row group.
    #[arg(long, default_value_t = ExportOptions::default().shard_size)]
    pub shard_size: usize,
}
