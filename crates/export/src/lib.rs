//! The export stage: the split dataset (`train/`, `test/`, their provenance and clean's
//! records) written where people train and share, each image with its metadata (label,
//! source, owner, licence, SHA-256, size, quality flags):
//!
//! - a Hugging Face `imagefolder` (`<split>/<class>/<image>`, a `metadata.jsonl` per
//!   split, and a `README.md` dataset card saying what is in it and where every photo
//!   came from), which `datasets.load_dataset("imagefolder", data_dir=…)` opens;
//! - WebDataset tar shards (`<split>-000000.tar`, …, each sample `<key>.jpg|png`,
//!   `<key>.cls`, `<key>.json`), with an `index.json` naming them;
//! - Parquet, one file per side with the image bytes and the metadata as columns;
//! - the index's CLIP vectors (`--format embeddings`) as `.npy` with a Parquet of paths
//!   and metadata in the same order, as clip-retrieval writes them.
//!
//! Photos can be kept by licence (as crawl's `--license`); photos whose licence is
//! unknown are left out unless asked for, and the card says which was chosen. Every file
//! is written under a temporary name and renamed when whole, so a killed export leaves
//! nothing half-written under a final name, and a re-run finishes it.

mod card;
mod embeddings;
mod imagefolder;
mod parquet_files;
mod samples;
mod webdataset;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use picseek_imaging::ImageError;
use picseek_manifest::progress::Reporter;
use picseek_manifest::{DataDir, InvalidOption, ManifestError};
use serde::Serialize;

pub use samples::{Sample, SampleMetadata};

/// The format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// A Hugging Face imagefolder with `metadata.jsonl` files and a dataset card.
    Imagefolder,
    /// WebDataset tar shards.
    Webdataset,
    /// One Parquet file per side, image bytes and metadata as columns.
    Parquet,
    /// The index's CLIP vectors as `.npy`, with a Parquet of paths and metadata.
    Embeddings,
}

/// Which side of the split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// `train/`.
    Train,
    /// `test/`.
    Test,
}

impl Side {
    /// Its folder name.
    pub fn name(self) -> &'static str {
        match self {
            Side::Train => "train",
            Side::Test => "test",
        }
    }
}

/// What to export, where, and how.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The data directory whose `train/`, `test/`, `provenance/` and `clean/` are read.
    pub data: DataDir,
    /// The folder written (made if missing; an existing one must be an earlier export).
    pub out: PathBuf,
    /// The format.
    pub format: ExportFormat,
    /// The sides exported.
    pub sides: Vec<Side>,
    /// Keep only photos under these licences (Flickr's ids); empty: every licence.
    pub licenses: Vec<u8>,
    /// Keep photos whose licence is unknown too (one's own photos have none).
    pub include_unknown: bool,
    /// Samples per WebDataset shard.
    pub shard_size: usize,
    /// Where progress goes.
    pub progress: Reporter,
}

impl Default for ExportOptions {
    /// Both sides as an imagefolder into `export/`, every licence but unknown ones,
    /// 1000 samples per shard.
    fn default() -> Self {
        Self {
            data: DataDir::default(),
            out: PathBuf::from("export"),
            format: ExportFormat::Imagefolder,
            sides: vec![Side::Train, Side::Test],
            licenses: Vec::new(),
            include_unknown: false,
            shard_size: 1000,
            progress: Reporter::default(),
        }
    }
}

impl ExportOptions {
    /// Refuses options the stage cannot work with, naming the option.
    pub fn validate(&self) -> Result<(), InvalidOption> {
        if self.sides.is_empty() {
            return Err(InvalidOption::new("sides", "names no side: give train, test or both"));
        }
        if !(1..=1_000_000).contains(&self.shard_size) {
            return Err(InvalidOption::new(
                "shard_size",
                format!("must be from 1 to 1000000, not {}", self.shard_size),
            ));
        }
        Ok(())
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportReport {
    /// The folder written.
    pub out: PathBuf,
    /// Samples written, by side.
    pub samples: BTreeMap<String, usize>,
    /// Images left out by the licence filter, by licence (`unknown` for none).
    pub left_out: BTreeMap<String, usize>,
    /// The files written (shards, metadata, the card), relative to `out`.
    pub files: Vec<String>,
    /// Files already in place from an earlier run, not written again.
    pub reused: usize,
}

/// Why an export could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A side to export is missing: the split was not made.
    #[error("{path}: no such folder; run `picseek split` first")]
    NoSplit {
        /// The side's folder.
        path: PathBuf,
    },
    /// The output folder holds something else than an earlier export.
    #[error("{path}: not empty and not an earlier picseek export: choose another --out, or empty it")]
    NotAnExport {
        /// The folder.
        path: PathBuf,
    },
    /// An earlier export of another format is in the folder.
    #[error("{path}: holds a {found} export: choose another --out for {wanted}")]
    OtherFormat {
        /// The folder.
        path: PathBuf,
        /// The format it holds.
        found: String,
        /// The format asked for.
        wanted: String,
    },
    /// A side's images cannot be listed or read.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A manifest cannot be read or written.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A file cannot be written (a full disk, say).
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// An option the stage cannot work with.
    #[error("{0}")]
    Invalid(#[from] InvalidOption),
    /// The index cannot be opened.
    #[error(transparent)]
    Index(#[from] picseek_index::IndexError),
    /// Embeddings out need CLIP vectors.
    #[error("{path}: a pixel index; embeddings are exported from a CLIP index (`picseek index --embedder clip`)")]
    NotClip {
        /// The index folder.
        path: PathBuf,
    },
    /// The licence filter left nothing.
    #[error("nothing to export: the licence filter left out every image ({left_out})")]
    Nothing {
        /// What it left out, by licence.
        left_out: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io { path: path.to_owned(), source }
}

/// The file that marks a folder as a picseek export, and of which format.
const MARKER: &str = ".picseek-export.json";

#[derive(Serialize, serde::Deserialize)]
struct Marker {
    format: String,
}

/// Exports the split: see the crate documentation.
pub fn export(opts: &ExportOptions) -> Result<ExportReport, ExportError> {
    opts.validate()?;
    let format_name =
        serde_json::to_value(opts.format).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    claim_folder(&opts.out, &format_name)?;
    // What a killed export left half-written (the caller holds the data directory's lock).
    picseek_manifest::remove_stale_temporaries(&opts.out, 3);
    let mut report = ExportReport { out: opts.out.clone(), ..ExportReport::default() };
    let write_sides = match opts.format {
        ExportFormat::Embeddings => {
            embeddings::write(opts, &mut report)?;
            return Ok(report);
        }
        ExportFormat::Imagefolder => imagefolder::write,
        ExportFormat::Webdataset => webdataset::write,
        ExportFormat::Parquet => parquet_files::write,
    };
    // Read once, when the first side is found.
    let mut flags = None;
    let mut sides = Vec::new();
    for &side in &opts.sides {
        let dir = match side {
            Side::Train => opts.data.train(),
            Side::Test => opts.data.test(),
        };
        if !dir.is_dir() {
            return Err(ExportError::NoSplit { path: dir });
        }
        let flags = match &mut flags {
            Some(flags) => flags,
            None => flags.insert(samples::quality_flags(&opts.data)?),
        };
        let (kept, left_out) = samples::collect(flags, side, &dir, &opts.licenses, opts.include_unknown)?;
        for (license, n) in left_out {
            *report.left_out.entry(license).or_default() += n;
        }
        report.samples.insert(side.name().to_owned(), kept.len());
        sides.push((side, kept));
    }
    let total: usize = sides.iter().map(|(_, s)| s.len()).sum();
    if total == 0 {
        let left: Vec<String> = report.left_out.iter().map(|(l, n)| format!("{n} {l}")).collect();
        return Err(ExportError::Nothing { left_out: left.join(", ") });
    }
    let progress = opts.progress.start("exporting", Some(total as u64));
    write_sides(opts, &sides, progress.as_ref(), &mut report)?;
    Ok(report)
}

/// Makes `out` an export folder of `format`, refusing one that holds anything else.
fn claim_folder(out: &Path, format: &str) -> Result<(), ExportError> {
    let marker = out.join(MARKER);
    match picseek_manifest::read_json::<Marker>(&marker) {
        Ok(found) if found.format == format => return Ok(()),
        Ok(found) => {
            return Err(ExportError::OtherFormat { path: out.to_owned(), found: found.format, wanted: format.into() });
        }
        Err(_) if marker.exists() => return Err(ExportError::NotAnExport { path: out.to_owned() }),
        Err(_) => {}
    }
    let empty = match std::fs::read_dir(out) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(ExportError::Io { path: out.to_owned(), source: e }),
    };
    if !empty {
        return Err(ExportError::NotAnExport { path: out.to_owned() });
    }
    std::fs::create_dir_all(out).map_err(io_error(out))?;
    picseek_manifest::write_json_atomic(&marker, &Marker { format: format.into() })?;
    Ok(())
}
