use serde::{Deserialize, Serialize};

use crate::{Dtype, EmbedderKind, Metric, Quantization};

/// `index/index.json`: what the vectors in `index/` are and which image each belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexManifest {
    /// Bumped when the layout of `index/` changes incompatibly.
    pub format_version: u32,
    /// Which embedder made the vectors.
    pub embedder: EmbedderKind,
    /// The model file the vectors came from (`None` for the weight-free pixel embedder).
    pub model: Option<ModelIdentity>,
    /// A canonical description of the preprocessing; an index is only extended with
    /// vectors made the same way.
    pub preprocessing: String,
    /// The side in pixels of the square image the embedder sees.
    pub image_size: u32,
    pub dimension: usize,
    /// The vector file in `index/`, and its element type.
    pub vectors: VectorFile,
    /// Approximate-search graphs (`usearch` files in `index/`), one per metric space;
    /// none for pixel indexes, which are always searched exactly.
    #[serde(default)]
    pub ann: Vec<AnnFile>,
    /// Row `i` of the vector file belongs to `items[i]`, whose `key` is `i`.
    pub items: Vec<IndexItem>,
    /// Files under the indexed folder that could not be embedded, with the reason.
    #[serde(default)]
    pub skipped: Vec<SkippedFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelIdentity {
    pub name: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorFile {
    pub file: String,
    /// `u8` (pixel values) or `f32`.
    pub dtype: Dtype,
}

/// One `usearch` graph over all rows of the vector file (keys are item keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnFile {
    /// The metric the graph answers: `cosine`, `l2` or `correlation`.
    pub space: Metric,
    pub file: String,
    /// How the graph stores vectors.
    pub quantization: Quantization,
    pub connectivity: usize,
    pub expansion_add: usize,
    pub expansion_search: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexItem {
    pub key: u64,
    /// Relative to the folder that holds `index/` (the data directory), or absolute when
    /// the image lies outside it.
    pub path: String,
    pub class: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedFile {
    pub path: String,
    pub reason: String,
}
