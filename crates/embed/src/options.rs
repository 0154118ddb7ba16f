//! Which CLIP model and how to run it: one struct, one resolver for the model folder,
//! one default for threads and device.

use std::path::{Path, PathBuf};

use picseek_clip::{Device, ModelFiles, TextLanguage};
use picseek_manifest::{ModelIdentity, Precision};

use crate::EmbedError;

/// Every core this process may use: the default for the model's threads.
pub fn all_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Where the CLIP model is and how to run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelOptions {
    /// A directory laid out like `models/clip/`; `None` is the model an existing index
    /// records (see [`resolved`](Self::resolved)), else [`DEFAULT_MODEL_DIR`](Self::DEFAULT_MODEL_DIR).
    pub model_dir: Option<PathBuf>,
    /// Images per model run.
    pub batch: usize,
    /// Cores the model may use (decoding uses the others, overlapping it).
    pub threads: usize,
    /// Where the model runs.
    pub device: Device,
    /// Which of the export's files run; `None` is the precision an existing index
    /// records (see [`resolved`](Self::resolved)), else fp32.
    pub precision: Option<Precision>,
    /// The language of text queries, for models whose tokenizer takes one (NLLB's);
    /// `None` gives none, as Immich does without one.
    pub text_language: Option<TextLanguage>,
}

impl Default for ModelOptions {
    /// The recorded model or `models/clip`, 16 images per run, every core, on the CPU.
    fn default() -> Self {
        Self {
            model_dir: None,
            batch: Self::DEFAULT_BATCH,
            threads: all_cores(),
            device: Device::Cpu,
            precision: None,
            text_language: None,
        }
    }
}

impl ModelOptions {
    /// The model folder used when none is named and no index records one.
    pub const DEFAULT_MODEL_DIR: &str = "models/clip";
    /// Images per model run by default.
    pub const DEFAULT_BATCH: usize = 16;

    /// Options for the model in `dir`, with the default batch, threads and device.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        Self { model_dir: Some(dir.into()), ..Self::default() }
    }

    /// The model folder these options name (the default one when they name none).
    pub fn dir(&self) -> &Path {
        self.model_dir.as_deref().unwrap_or(Path::new(Self::DEFAULT_MODEL_DIR))
    }

    /// The model files these options name (fp32 when no precision is named).
    pub fn files(&self) -> ModelFiles {
        ModelFiles::at(self.dir(), self.precision.unwrap_or_default())
    }

    /// The one answer to "which model folder, at which precision": the one named, else
    /// the one the index in `recorded.0` was built with (`recorded.1`, found also after it
    /// moved: [`locate_model`]), else [`DEFAULT_MODEL_DIR`](Self::DEFAULT_MODEL_DIR); the
    /// precision named, else the recorded one, else fp32.
    pub fn resolved(&self, recorded: Option<(&Path, &ModelIdentity)>) -> Result<Self, EmbedError> {
        let precision = self.precision.or(recorded.map(|(_, model)| model.precision)).unwrap_or_default();
        let model_dir = match (&self.model_dir, recorded) {
            (Some(dir), _) => dir.clone(),
            (None, Some((index_dir, model))) => locate_model(index_dir, model)?,
            (None, None) => PathBuf::from(Self::DEFAULT_MODEL_DIR),
        };
        Ok(Self { model_dir: Some(model_dir), precision: Some(precision), ..self.clone() })
    }
}

/// Finds the folder of the CLIP model an index (in `index_dir`) was built with: where it
/// was recorded, else `models/clip`, else any folder beside either that holds a model
/// file of the recorded SHA-256 (a moved or renamed model folder). Fails naming the
/// places looked in.
pub fn locate_model(index_dir: &Path, model: &ModelIdentity) -> Result<PathBuf, EmbedError> {
    let recorded = PathBuf::from(&model.name);
    let mut candidates = vec![recorded.clone(), PathBuf::from(ModelOptions::DEFAULT_MODEL_DIR)];
    for parent in [recorded.parent(), Path::new(ModelOptions::DEFAULT_MODEL_DIR).parent()].into_iter().flatten() {
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
        let files = ModelFiles::at(&dir, model.precision);
        if files.require(files.vision()).is_err() {
            continue;
        }
        match files.vision_sha256() {
            Ok(sha) if sha == model.sha256 => return Ok(dir),
            Ok(_) => {}
            Err(e) => tracing::debug!("{e}"),
        }
    }
    Err(EmbedError::ModelNotFound { path: index_dir.to_owned(), model: model.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_folder_wins_and_nothing_named_nor_recorded_is_the_default() {
        let named = ModelOptions::in_dir("elsewhere");
        let model = ModelIdentity {
            name: "/nowhere".into(),
            sha256: "ab".into(),
            precision: Precision::Int8,
            ..ModelIdentity::default()
        };
        let resolved = named.resolved(Some((Path::new("index"), &model))).unwrap();
        assert_eq!(resolved.dir(), Path::new("elsewhere"));
        assert_eq!(resolved.precision, Some(Precision::Int8), "the recorded precision continues");
        let fp32 = ModelOptions { precision: Some(Precision::Fp32), ..named };
        assert_eq!(fp32.resolved(Some((Path::new("index"), &model))).unwrap().precision, Some(Precision::Fp32));
        assert_eq!(ModelOptions::default().resolved(None).unwrap().dir(), Path::new("models/clip"));
        let missing = ModelOptions::default().resolved(Some((Path::new("index"), &model)));
        assert!(matches!(missing, Err(EmbedError::ModelNotFound { .. })));
    }
}
