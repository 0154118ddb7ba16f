//! The index stage: embeds every image of a `<class>/<image>` folder (normally `train/`)
//! and keeps the vectors in `index/`, described by `index/index.json`.
//!
//! Images become vectors through `picseek-embed` (pixel rows, `u8`, always searched
//! exactly; or CLIP, unit-length `f32` rows). A CLIP index also holds one `usearch`
//! graph per metric asked for, for approximate search; the flat `f32` rows stay the
//! exact reference, and the embedding cache in `index/cache/` what re-runs reuse.
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

mod build;
mod continuing;
mod freshness;
mod recorded;
mod store;

pub use build::{IndexOptions, IndexReport, build_index, merge_index};
pub use continuing::BuildChoices;
pub use freshness::FolderChanges;
pub use picseek_ann::{AnnChoices, AnnError, AnnSettings, build_graph, candidate_count, clip_like_vectors, open_graph};
pub use picseek_manifest::{EmbedderKind, Metric, Quantization};
pub use recorded::RecordedBuild;
pub use store::Index;

use std::path::PathBuf;

use picseek_embed::{EmbedError, IdentityDifference};
use picseek_imaging::ImageError;
use picseek_manifest::{InvalidOption, ManifestError};

/// The layout version of `index/` this code reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// What can go wrong building, opening or querying an index. Every variant names the
/// file or folder; a caller decides on the variant (a damaged index, a model that does
/// not match, an unusable image), not on the text.

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A stop was requested (Ctrl-C or SIGTERM); the embedding cache keeps what was done.
    #[error(transparent)]
    Interrupted(#[from] picseek_manifest::stop::Interrupted),
    /// The folder to index cannot be listed.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// Images cannot be embedded, or queries cannot be, with the model given.
    #[error(transparent)]
    Embed(#[from] EmbedError),
    /// `index.json` cannot be read or written.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
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
    #[error("{path}: the index was built with the model in {built_with}, not the one in {model_dir} ({difference})")]
    ModelMismatch {
        /// The index folder.
        path: PathBuf,
        /// Where the model the index was built with was, as it records it.
        built_with: String,
        /// The model folder given.
        model_dir: PathBuf,
        /// The one setting that differs.
        difference: Box<IdentityDifference>,
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
    #[error(transparent)]
    Ann(#[from] AnnError),
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

#[cfg(test)]
mod tests;
