//! Everything between an image and its vector, for every stage that needs one (clean's
//! `--dedup clip`, split's near-copy groups, index, search):
//!
//! - [`Embedder`]: the pixel embedder ([`PixelEmbedder`], the tutorial's raw pixels, `u8`
//!   rows) and CLIP's image encoder ([`ClipEmbedder`], unit-length `f32` rows through ONNX
//!   Runtime), behind one enum that is the single dispatch point over the two;
//! - [`ModelOptions`]: which CLIP model folder and how to run it, with the one resolver
//!   for "which model folder" ([`ModelOptions::resolved`]) and the one default for threads
//!   and device;
//! - [`EmbeddingIdentity`]: what makes two vectors comparable (embedder, model file,
//!   preprocessing);
//! - [`EmbeddingCache`]: every CLIP vector made for a data directory, by image SHA-256;
//! - [`QueryEmbedder`]: queries (images and texts) embedded like an index's rows.
//!
//! This crate knows nothing of indexes, graphs or stages: it is told where the cache
//! folder is and which model an index recorded.

mod cache;
mod clip;
mod embedder;
mod identity;
mod options;
mod pixel;
mod query;

use std::path::PathBuf;

pub use cache::{CachedClipEmbedder, EmbeddingCache, cached_embeddings};
pub use clip::{ClipEmbedder, clip_identity};
pub use embedder::{Embedder, EmbedderSettings, Prepared, Vector};
pub use identity::{EmbeddingIdentity, IdentityDifference};
pub use options::{ModelOptions, all_cores, locate_model};
pub use picseek_clip::{ClipError, Device, ModelFiles, TextLanguage, l2_normalise};
pub use picseek_manifest::EmbedderKind;
pub use pixel::PixelEmbedder;
pub use query::QueryEmbedder;

use picseek_imaging::ImageError;
use picseek_manifest::{ManifestError, ModelIdentity};

/// What can go wrong turning images into vectors. Every variant names the file or
/// folder; a caller decides on the variant, not on the text.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// An image that cannot be used (unreadable, undecodable, too large).
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The CLIP model or ONNX Runtime cannot be used.
    #[error(transparent)]
    Clip(#[from] ClipError),
    /// The description beside an embedding cache cannot be written.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A file of the embedding cache cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The CLIP model an index was built with is neither where it was nor beside it.
    #[error("{path}: the CLIP model it was built with (vision_model.onnx of SHA-256 {}) is no longer in {} or beside it, nor in {}", model.sha256, model.name, ModelOptions::DEFAULT_MODEL_DIR)]
    ModelNotFound {
        /// The index folder that recorded the model.
        path: PathBuf,
        /// The model it records.
        model: ModelIdentity,
    },
    /// A text query for an embedder that has no text encoder.
    #[error("text queries need a CLIP index; this one uses the {embedder} embedder")]
    NoTextEncoder {
        /// The embedder.
        embedder: EmbedderKind,
    },
}

fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> EmbedError + '_ {
    move |source| EmbedError::Io { path: path.to_owned(), source }
}
