//! The index stage: embeds every image of a `<class>/<image>` folder (normally `train/`)
//! and keeps the vectors in `index/`, described by `index/index.json`.
//!
//! Two embedders: [`PixelEmbedder`] (the tutorial's raw pixels, `u8` rows, always
//! searched exactly) and CLIP ([`ClipEmbedder`], unit-length `f32` rows from the image
//! encoder through ONNX Runtime). A CLIP index also holds one `usearch` graph per
//! metric asked for, for approximate search; the flat `f32` rows stay the exact
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
//! [`Index`] opens a finished index for searching, memory-mapping its vectors and graphs,
//! and owns approximate search ([`Index::graph_candidates`]): callers never see usearch.
//! [`IndexIdentity`] says how an index's vectors were made, in one place.

mod ann;
mod build;
mod cache;
mod clip;
mod freshness;
mod identity;
mod pixel;
mod query;
mod recorded;
mod store;

pub use ann::{AnnSettings, build_graph, candidate_count, clip_like_vectors, open_graph};
pub use build::{IndexOptions, IndexReport, build_index, merge_index};
pub use cache::cached_embeddings;
pub use clip::{CachedClipEmbedder, ClipEmbedder, ClipOptions};
pub use freshness::FolderChanges;
pub use identity::{IdentityDifference, IndexIdentity};
pub use picseek_clip::Device;
pub use picseek_manifest::{EmbedderKind, Metric, Quantization};
pub use pixel::PixelEmbedder;
pub use query::{ClipQueries, QueryEmbedder, QueryVector};
pub use recorded::{RecordedBuild, locate_model};
pub use store::Index;

use std::path::PathBuf;

use picseek_clip::ClipError;
use picseek_imaging::ImageError;
use picseek_manifest::{InvalidOption, ManifestError, ModelIdentity};

/// `index.json` in an index folder: written last by a build, so its time is the build's.
pub fn manifest_path(index_dir: &std::path::Path) -> PathBuf {
    index_dir.join(store::MANIFEST_FILE)
}

/// The layout version of `index/` this code reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// Which embedder turns images into vectors.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbedderChoice {
    /// Raw pixels of the image resized to `size` x `size` (the tutorial's baseline).
    Pixel {
        /// The side of the square, in pixels.
        size: u32,
    },
    /// CLIP's image encoder, with one approximate-search graph per metric in `spaces`
    /// (metrics without a graph space, L1, are searched exactly and need none).
    Clip {
        /// The model and how to run it.
        options: ClipOptions,
        /// The metrics to build graphs for.
        spaces: Vec<Metric>,
    },
}

impl EmbedderChoice {
    /// Which embedder this is.
    pub fn kind(&self) -> EmbedderKind {
        match self {
            EmbedderChoice::Pixel { .. } => EmbedderKind::Pixel,
            EmbedderChoice::Clip { .. } => EmbedderKind::Clip,
        }
    }
}

/// What can go wrong building, opening or querying an index. Every variant names the
/// file or folder; a caller decides on the variant (a damaged index, a model that does
/// not match, an unusable image), not on the text.

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A stop was requested (Ctrl-C or SIGTERM); the embedding cache keeps what was done.
    #[error(transparent)]
    Interrupted(#[from] picseek_manifest::stop::Interrupted),
    #[error(transparent)]
    /// An image that cannot be used (unreadable, undecodable, too large).
    Image(#[from] ImageError),
    /// `index.json` cannot be read or written.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The CLIP model or ONNX Runtime cannot be used.
    #[error(transparent)]
    Clip(#[from] ClipError),
    /// A file of the index cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// There is no `index.json` in the folder.
    #[error("{path}: no index here")]
    Missing {
        /// The index folder.
        path: PathBuf,
    },
    /// The index's files do not agree with each other or with this version.
    #[error("{path}: the index is damaged: {reason}")]
    Damaged {
        /// The index folder.
        path: PathBuf,
        /// What does not fit.
        reason: String,
    },
    /// An existing index was made another way than this run would extend it.
    #[error("{path}: the index was built with {difference}")]
    Mismatch {
        /// The index folder.
        path: PathBuf,
        /// The one setting that differs.
        difference: IdentityDifference,
    },
    /// The model given for queries is not the one the index was built with.
    #[error("{path}: the index was built with {difference} (the model in {model_dir})")]
    ModelMismatch {
        /// The index folder.
        path: PathBuf,
        /// The model folder given.
        model_dir: PathBuf,
        /// The one setting that differs.
        difference: IdentityDifference,
    },
    /// Every file was skipped.
    #[error("{path}: no image could be indexed ({skipped} file(s) skipped)")]
    NothingIndexed {
        /// The indexed folder.
        path: PathBuf,
        /// How many files were skipped.
        skipped: usize,
    },
    /// usearch refused to build, open or search a graph.
    #[error("{path}: usearch failed: {reason}")]
    Ann {
        /// The graph file or index folder.
        path: PathBuf,
        /// usearch's message.
        reason: String,
    },
    /// The CLIP model an index was built with is neither where it was nor beside it.
    #[error("{path}: the CLIP model it was built with (vision_model.onnx of SHA-256 {}) is no longer in {} or beside it, nor in models/clip", model.sha256, model.name)]
    ModelNotFound {
        /// The index folder.
        path: PathBuf,
        /// The model the index records.
        model: ModelIdentity,
    },
    /// A text query for an index of an embedder that has no text encoder.
    #[error("text queries need a CLIP index; this one uses the {embedder} embedder")]
    NoTextEncoder {
        /// The index's embedder.
        embedder: EmbedderKind,
    },
    /// A query vector of another width than the index's rows.
    #[error("the query vector has {got} values but the index's vectors have {expected}")]
    QueryWidth {
        /// The query's width.
        got: usize,
        /// The index's width.
        expected: usize,
    },
    /// An option the index stage cannot work with.
    #[error("{0}")]
    Invalid(#[from] InvalidOption),
    /// The shards cannot be merged.
    #[error(transparent)]
    Shards(#[from] picseek_manifest::ShardError),
    /// A merge found an image that no shard embedded.
    #[error("{path}: embedded by no shard (was it added after the shards ran?); run the shards again, then merge")]
    NotEmbedded {
        /// The image.
        path: PathBuf,
    },
}

fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> IndexError + '_ {
    move |source| IndexError::Io { path: path.to_owned(), source }
}
