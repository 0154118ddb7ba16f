//! What an existing index records of how it was made, so that later commands continue
//! with it instead of being told again: the embedder and its settings, and where the
//! model it was built with is now (found by the SHA-256 it recorded, also after the
//! model folder moved).

use std::path::{Path, PathBuf};

use picseek_clip::ModelFiles;
use picseek_manifest::{EmbedderKind, IndexManifest, Metric, ModelIdentity, read_json};

use crate::store::MANIFEST_FILE;
use crate::{AnnSettings, ClipOptions, IndexError};

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
    /// How the graphs were built (`None` without graphs).
    pub ann: Option<AnnSettings>,
}

impl RecordedBuild {
    /// What `manifest` records.
    pub fn of_manifest(manifest: &IndexManifest) -> Self {
        Self {
            embedder: manifest.embedder,
            image_size: manifest.image_size,
            model: manifest.model.clone(),
            metrics: manifest.ann.iter().map(|a| a.space).collect(),
            ann: manifest.ann.first().map(|a| AnnSettings {
                quantization: a.quantization,
                connectivity: a.connectivity,
                expansion_add: a.expansion_add,
                expansion_search: a.expansion_search,
            }),
        }
    }

    /// What the index in `index_dir` records; `None` when there is no readable index
    /// there (a damaged one is for the build to report or rebuild).
    pub fn read(index_dir: &Path) -> Option<Self> {
        let path = index_dir.join(MANIFEST_FILE);
        if !path.is_file() {
            return None;
        }
        read_json::<IndexManifest>(&path)
            .inspect_err(|e| tracing::debug!("not continuing from the index: {e}"))
            .ok()
            .map(|m| Self::of_manifest(&m))
    }
}

/// Finds the folder of the CLIP model an index was built with: where it was recorded,
/// else `models/clip`, else any folder beside either that holds a model file of the
/// recorded SHA-256 (a moved or renamed model folder). Fails naming the places looked in.
pub fn locate_model(index_dir: &Path, model: &ModelIdentity) -> Result<PathBuf, IndexError> {
    let recorded = PathBuf::from(&model.name);
    let mut candidates = vec![recorded.clone(), ClipOptions::default().model_dir];
    for parent in [recorded.parent(), Some(Path::new("models"))].into_iter().flatten() {
        let Ok(entries) = std::fs::read_dir(parent) else { continue };
        let mut siblings: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
        siblings.sort();
        candidates.extend(siblings);
    }
    let mut tried: Vec<PathBuf> = Vec::new();
    for dir in candidates {
        let canonical = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
        if tried.contains(&canonical) {
            continue;
        }
        tried.push(canonical);
        let files = ModelFiles::new(&dir);
        if files.require(ModelFiles::VISION).is_err() {
            continue;
        }
        match files.vision_sha256() {
            Ok(sha) if sha == model.sha256 => return Ok(dir),
            Ok(_) => {}
            Err(e) => tracing::debug!("{e}"),
        }
    }
    Err(IndexError::ModelNotFound { path: index_dir.to_owned(), model: model.clone() })
}
