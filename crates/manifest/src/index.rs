//! `index/index.json`: how an index was made, what it holds and where its files are.

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
    /// Values per vector.
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
    /// The folder indexed and how its images got their classes, so that readers can
    /// tell when it has changed since; `None` in indexes made before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<IndexedFolder>,
}

/// The folder an index was built from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexedFolder {
    /// Relative to the folder that holds `index/` (the data directory), or absolute
    /// when it lies outside it, as item paths are.
    pub path: String,
    /// How its images got their classes.
    pub classes: crate::ClassNaming,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
/// The model file an index's vectors came from.
pub struct ModelIdentity {
    /// Where it was (for people; not compared).
    pub name: String,
    /// The SHA-256 of the image encoder's file: what is compared.
    pub sha256: String,
    /// Which of the export's files made the vectors (fp32 where an index predates it).
    #[serde(default)]
    pub precision: crate::Precision,
    /// How its folder is laid out (the Hugging Face export where an index predates it).
    #[serde(default)]
    pub layout: crate::ModelLayout,
    /// How it was trained, as its configuration says (CLIP where an index predates it).
    #[serde(default)]
    pub family: crate::ModelFamily,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// The flat vector file.
pub struct VectorFile {
    /// Its name in `index/`.
    pub file: String,
    /// `u8` (pixel values) or `f32`.
    pub dtype: Dtype,
}

/// One `usearch` graph over all rows of the vector file (keys are item keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnFile {
    /// The metric the graph answers: `cosine`, `l2` or `correlation`.
    pub space: Metric,
    /// Its name in `index/`.
    pub file: String,
    /// How the graph stores vectors.
    pub quantization: Quantization,
    /// Links per node.
    pub connectivity: usize,
    /// Candidates considered while adding.
    pub expansion_add: usize,
    /// Candidates considered while searching.
    pub expansion_search: usize,
    /// Below this many items the index is searched exactly, not through the graph (an
    /// index of an earlier release, without it: never).
    #[serde(default)]
    pub exact_below: usize,
    /// The settings above that were asked for; the others follow the index's size,
    /// and are chosen anew when it grows.
    #[serde(default)]
    pub chosen: AnnChoices,
}

/// The graph settings a user asked for (`None`: chosen by the index's size).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnChoices {
    /// How the graph stores vectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<Quantization>,
    /// Links per node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connectivity: Option<usize>,
    /// Candidates considered while adding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expansion_add: Option<usize>,
    /// Candidates considered while searching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expansion_search: Option<usize>,
    /// The size below which the index is searched exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact_below: Option<usize>,
}

impl AnnChoices {
    /// Each choice of `self`, else that of `earlier`.
    pub fn or(self, earlier: AnnChoices) -> AnnChoices {
        AnnChoices {
            quantization: self.quantization.or(earlier.quantization),
            connectivity: self.connectivity.or(earlier.connectivity),
            expansion_add: self.expansion_add.or(earlier.expansion_add),
            expansion_search: self.expansion_search.or(earlier.expansion_search),
            exact_below: self.exact_below.or(earlier.exact_below),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// One indexed image.
pub struct IndexItem {
    /// Its row in the vector file, and its key in the graphs.
    pub key: u64,
    /// Relative to the folder that holds `index/` (the data directory), or absolute when
    /// the image lies outside it.
    pub path: String,
    /// Its class.
    pub class: String,
    /// The SHA-256 of the image file's bytes.
    pub sha256: String,
    /// Where the photo came from: its own source first, then those of the copies clean
    /// merged into it (from the indexed folder's provenance file); empty when unknown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<crate::PhotoSource>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// A file under the indexed folder that is not in the index.
pub struct SkippedFile {
    /// The file.
    pub path: String,
    /// A short reason code (`undecodable`, `too_large`, `not_an_item`, ...).
    pub reason: String,
}
