//! What an existing index records of how it was made, so that later commands continue
//! with it instead of being told again: the embedder and its settings (where the model
//! it was built with is now is `picseek_embed::locate_model`'s to find).

use std::path::Path;

use picseek_manifest::{DataDir, EmbedderKind, IndexManifest, Metric, ModelIdentity, read_json};

use crate::AnnChoices;

/// How an existing index was built, as `index.json` records it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedBuild {
    /// The embedder.
    pub embedder: EmbedderKind,
    /// The side of the square the embedder saw (the pixel embedder's `--pixel-size`).
    pub image_size: u32,
    /// The model file (CLIP only).
    pub model: Option<ModelIdentity>,
    /// The metrics with an approximate-search graph.
    pub metrics: Vec<Metric>,
    /// The graph settings that were asked for (the others followed the index's size).
    pub ann: AnnChoices,
}

impl RecordedBuild {
    /// What `manifest` records.
    pub fn of_manifest(manifest: &IndexManifest) -> Self {
        Self {
            embedder: manifest.embedder,
            image_size: manifest.image_size,
            model: manifest.model.clone(),
            metrics: manifest.ann.iter().map(|a| a.space).collect(),
            ann: manifest.ann.first().map(|a| a.chosen).unwrap_or_default(),
        }
    }

    /// What the index in `index_dir` records; `None` when there is no readable index
    /// there (a damaged one is for the build to report or rebuild).
    pub fn read(index_dir: &Path) -> Option<Self> {
        let path = DataDir::index_manifest(index_dir);
        if !path.is_file() {
            return None;
        }
        read_json::<IndexManifest>(&path)
            .inspect_err(|e| tracing::debug!("not continuing from the index: {e}"))
            .ok()
            .map(|m| Self::of_manifest(&m))
    }
}
