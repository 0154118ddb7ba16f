//! Embedding queries (images, texts) the way an index's rows were made.

use std::path::Path;
use std::sync::OnceLock;

use picseek_clip::{ClipError, Device, ModelFiles, TextEncoder};
use picseek_imaging::{DEFAULT_MAX_DECODE_BYTES, read_image_file};
use picseek_manifest::ModelIdentity;

use crate::{ClipEmbedder, ClipOptions, IndexError, PixelEmbedder};

/// A query's vector, of the same kind as the index's rows.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryVector {
    /// Pixel values, as a pixel index stores them.
    Pixel(Vec<u8>),
    /// A unit-length CLIP embedding.
    Float(Vec<f32>),
}

/// Turns query images (and, for CLIP, texts) into vectors comparable with an index's
/// rows; made by [`Index::query_embedder`](crate::Index::query_embedder). Keep one for
/// many queries: it holds the loaded model.
pub enum QueryEmbedder {
    /// For a pixel index.
    Pixel(PixelEmbedder),
    /// For a CLIP index.
    Clip(Box<ClipQueries>),
}

/// CLIP's encoders for queries, each loaded when the first query needs it.
pub struct ClipQueries {
    /// The model the index was checked against.
    model: ModelIdentity,
    options: ClipOptions,
    /// The index's vector width, which every query vector must have.
    dimension: usize,
    image: OnceLock<ClipEmbedder>,
    text: OnceLock<TextEncoder>,
}

impl QueryEmbedder {
    pub(crate) fn clip(model: ModelIdentity, model_dir: &Path, run_on: (usize, Device), dimension: usize) -> Self {
        let (threads, device) = run_on;
        QueryEmbedder::Clip(Box::new(ClipQueries {
            model,
            options: ClipOptions { model_dir: model_dir.to_owned(), batch: 1, threads, device },
            dimension,
            image: OnceLock::new(),
            text: OnceLock::new(),
        }))
    }
}

impl ClipQueries {
    fn image(&self) -> Result<&ClipEmbedder, IndexError> {
        if let Some(embedder) = self.image.get() {
            return Ok(embedder);
        }
        let loaded = ClipEmbedder::load_identified(&self.options, self.model.clone(), DEFAULT_MAX_DECODE_BYTES)?;
        Ok(self.image.get_or_init(|| loaded))
    }

    fn text(&self) -> Result<&TextEncoder, IndexError> {
        if let Some(encoder) = self.text.get() {
            return Ok(encoder);
        }
        let loaded =
            TextEncoder::load(&ModelFiles::new(&self.options.model_dir), self.options.threads, self.options.device)?;
        Ok(self.text.get_or_init(|| loaded))
    }

    /// Refuses a vector of another width than the index's, naming the model file
    /// that made it (a text model from another export, say).
    fn checked(&self, vector: Vec<f32>, made_by: &str) -> Result<QueryVector, IndexError> {
        if vector.len() != self.dimension {
            return Err(ClipError::BadModel {
                path: self.options.model_dir.join(made_by),
                reason: format!(
                    "gives {}-d embeddings but the index holds {}-d ones: both must come from the same CLIP export",
                    vector.len(),
                    self.dimension
                ),
            }
            .into());
        }
        Ok(QueryVector::Float(vector))
    }
}

impl QueryEmbedder {
    /// Whether [`embed_text`](Self::embed_text) can work.
    pub fn supports_text(&self) -> bool {
        matches!(self, QueryEmbedder::Clip(_))
    }

    /// Loads the encoders now rather than at the first query, so that a long-running
    /// server fails at start, not at its first query. The text encoder is left out when
    /// its files are absent: image queries work without it.
    pub fn preload(&self) -> Result<(), IndexError> {
        if let QueryEmbedder::Clip(clip) = self {
            clip.image()?;
            let files = ModelFiles::new(&clip.options.model_dir);
            if files.require(ModelFiles::TEXT).is_ok() && files.require(ModelFiles::TOKENIZER).is_ok() {
                clip.text()?;
            }
        }
        Ok(())
    }

    /// Embeds an image read into memory (`path` names it in errors).
    pub fn embed_image_bytes(&self, path: &Path, bytes: &[u8]) -> Result<QueryVector, IndexError> {
        match self {
            QueryEmbedder::Pixel(pixel) => Ok(QueryVector::Pixel(pixel.embed_bytes(path, bytes)?)),
            QueryEmbedder::Clip(clip) => clip.checked(clip.image()?.embed_bytes(path, bytes)?, ModelFiles::VISION),
        }
    }

    /// Reads and embeds an image file.
    pub fn embed_image_file(&self, path: &Path) -> Result<QueryVector, IndexError> {
        self.embed_image_bytes(path, &read_image_file(path)?)
    }

    /// Embeds a text (CLIP indexes only).
    pub fn embed_text(&self, query: &str) -> Result<QueryVector, IndexError> {
        let QueryEmbedder::Clip(clip) = self else {
            return Err(IndexError::NoTextEncoder { embedder: picseek_manifest::EmbedderKind::Pixel });
        };
        clip.checked(clip.text()?.embed(query)?, ModelFiles::TEXT)
    }
}
