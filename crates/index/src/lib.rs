//! The index stage: embeds every image of a `<class>/<image>` folder (normally `train/`)
//! and keeps the vectors in `index/`, described by `index/index.json`.
//!
//! Two embedders: [`PixelEmbedder`] (the tutorial's raw pixels, `u8` rows, always
//! searched exactly) and CLIP ([`ClipEmbedder`], unit-length `f32` rows from the image
//! encoder through ONNX Runtime). A CLIP index also holds one `usearch` graph per
//! [`AnnSpace`] asked for, for approximate search; the flat `f32` rows stay the exact
//! reference and the cache that re-runs reuse.
//!
//! Building is incremental: a vector is reused whenever an image with the same SHA-256
//! was embedded before in the same way (same embedder, model file and preprocessing),
//! so re-running after adding images only embeds the new ones. CLIP vectors are also
//! appended to an embedding cache batch by batch, so a run killed half-way resumes
//! where it stopped. An index made another
//! way is refused unless the caller asks for a rebuild. The index itself is committed
//! only when the new files and `index.json` are complete, so a run killed half-way
//! leaves the previous index intact.
//!
//! [`Index`] opens a finished index for searching, memory-mapping its vectors and graphs.

mod ann;
mod build;
mod cache;
mod clip;
mod pixel;
mod query;
mod store;

pub use ann::{AnnSettings, AnnSpace, Quantization, build_graph, candidate_count, clip_like_vectors, open_graph};
pub use build::{IndexOptions, IndexReport, build_index};
pub use clip::{ClipEmbedder, ClipOptions};
pub use pixel::PixelEmbedder;
pub use query::{ClipQueries, QueryEmbedder, QueryVector};
pub use store::Index;

use std::path::PathBuf;

use picseek_clip::ClipError;
use picseek_imaging::ImageError;
use picseek_manifest::ManifestError;

/// The layout version of `index/` this code reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// Which embedder turns images into vectors.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbedderChoice {
    /// Raw pixels of the image resized to `size` x `size` (the tutorial's baseline).
    Pixel { size: u32 },
    /// CLIP's image encoder, with one approximate-search graph per space in `spaces`.
    Clip { options: ClipOptions, spaces: Vec<AnnSpace> },
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Clip(#[from] ClipError),
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
    #[error(
        "{path}: built with {found}, but the model in {model_dir} gives {wanted}; search with the model it \
         was built with (--model DIR), or re-index with --rebuild"
    )]
    ModelMismatch { path: PathBuf, model_dir: PathBuf, found: String, wanted: String },
    #[error("{path}: no image could be indexed ({skipped} file(s) skipped)")]
    NothingIndexed { path: PathBuf, skipped: usize },
    #[error("{path}: usearch failed: {reason}")]
    Ann { path: PathBuf, reason: String },
    #[error("{0}")]
    Unsupported(String),
}

fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> IndexError + '_ {
    move |source| IndexError::Io { path: path.to_owned(), source }
}
