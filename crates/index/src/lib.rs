//! The index stage: embeds every image of a `<class>/<image>` folder (normally `train/`)
//! and keeps the vectors in `index/`, described by `index/index.json`.
//!
//! Building is incremental: a vector is reused whenever an image with the same SHA-256
//! was embedded before in the same way, so re-running after adding images only embeds
//! the new ones. An index made with another embedder or preprocessing is refused unless
//! the caller asks for a rebuild. Nothing is committed until the new vector file and
//! `index.json` are complete, so a run killed half-way leaves the previous index intact.
//!
//! [`Index`] opens a finished index for searching, memory-mapping its vectors.

mod build;
mod pixel;
mod store;

pub use build::{IndexOptions, IndexReport, build_index};
pub use pixel::PixelEmbedder;
pub use store::Index;

use std::path::PathBuf;

use picseek_imaging::ImageError;
use picseek_manifest::ManifestError;

/// The layout version of `index/` this code reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// Which embedder turns images into vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedderChoice {
    /// Raw pixels of the image resized to `size` x `size` (the tutorial's baseline).
    Pixel { size: u32 },
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Listing(#[from] ImageError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no index here (run `picseek index` first)")]
    Missing { path: PathBuf },
    #[error("{path}: the index is damaged: {reason} (run `picseek index --rebuild`)")]
    Damaged { path: PathBuf, reason: String },
    #[error("{path}: built with {found}, but this run uses {wanted}; pass --rebuild to rebuild it")]
    Mismatch { path: PathBuf, found: String, wanted: String },
    #[error("{path}: no image could be indexed ({skipped} file(s) skipped)")]
    NothingIndexed { path: PathBuf, skipped: usize },
}

fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> IndexError + '_ {
    move |source| IndexError::Io { path: path.to_owned(), source }
}
