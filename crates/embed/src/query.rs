//! Embedding queries (images, texts) the way an index's rows were made.

use std::path::Path;
use std::sync::OnceLock;

use picseek_clip::{ClipError, TextEncoder};
use picseek_imaging::{DEFAULT_MAX_DECODE_BYTES, read_image_file};
use picseek_manifest::ModelIdentity;

use crate::{ClipEmbedder, EmbedError, Embedder, EmbedderKind, EmbedderSettings, PixelEmbedder, Vector};

/// Turns query images (and, for CLIP, texts) into vectors comparable with rows made by
/// one embedder. Keep one for many queries: it holds the loaded model, each encoder
/// loaded when the first query needs it (so a text search never loads the image model).
pub struct QueryEmbedder {
    settings: EmbedderSettings,
    /// The model the rows were checked to come from (CLIP only).
    model: Option<ModelIdentity>,
    /// The rows' width, which every query vector must have.
    dimension: usize,
    image: OnceLock<Embedder>,
    text: OnceLock<TextEncoder>,
}

impl QueryEmbedder {
    /// Queries for rows of `dimension` made by `settings`; for CLIP, `settings` names the
    /// model folder (already [resolved](crate::ModelOptions::resolved)) whose model file
    /// the caller has checked is `model`.
    pub fn new(settings: EmbedderSettings, model: Option<ModelIdentity>, dimension: usize) -> Self {
        Self { settings, model, dimension, image: OnceLock::new(), text: OnceLock::new() }
    }

    /// Which embedder the queries go through.
    pub fn kind(&self) -> EmbedderKind {
        self.settings.kind()
    }

    fn image(&self) -> Result<&Embedder, EmbedError> {
        if let Some(embedder) = self.image.get() {
            return Ok(embedder);
        }
        let loaded = match (&self.settings, &self.model) {
            (EmbedderSettings::Clip(options), Some(model)) => Embedder::Clip {
                clip: Box::new(ClipEmbedder::load_identified(options, model.clone(), DEFAULT_MAX_DECODE_BYTES)?),
                batch: 1,
            },
            (EmbedderSettings::Clip(_), None) => Embedder::load(&self.settings, DEFAULT_MAX_DECODE_BYTES)?,
            (EmbedderSettings::Pixel { size }, _) => {
                Embedder::Pixel(PixelEmbedder::new(*size, DEFAULT_MAX_DECODE_BYTES))
            }
        };
        Ok(self.image.get_or_init(|| loaded))
    }

    fn text(&self) -> Result<&TextEncoder, EmbedError> {
        let EmbedderSettings::Clip(options) = &self.settings else {
            return Err(EmbedError::NoTextEncoder { embedder: self.kind() });
        };
        if let Some(encoder) = self.text.get() {
            return Ok(encoder);
        }
        let loaded = TextEncoder::load(&options.files(), options.threads, options.device)?
            .with_language(options.text_language.clone());
        Ok(self.text.get_or_init(|| loaded))
    }

    /// Refuses a CLIP vector of another width than the rows', naming the model file that
    /// made it (a text model from another export, say). A pixel row's width follows from
    /// its size, which the rows record.
    fn checked(&self, vector: Vector, by_text: bool) -> Result<Vector, EmbedError> {
        if let EmbedderSettings::Clip(options) = &self.settings
            && vector.len() != self.dimension
        {
            let files = options.files();
            let made_by = if by_text { files.text() } else { files.vision() };
            return Err(ClipError::BadModel {
                path: options.dir().join(made_by),
                reason: format!(
                    "gives {}-d embeddings but the index holds {}-d ones: both must come from the same model",
                    vector.len(),
                    self.dimension
                ),
            }
            .into());
        }
        Ok(vector)
    }

    /// Whether [`embed_text`](Self::embed_text) can work.
    pub fn supports_text(&self) -> bool {
        self.kind() == EmbedderKind::Clip
    }

    /// Loads the encoders now rather than at the first query, so that a long-running
    /// server fails at start, not at its first query. The text encoder is left out when
    /// its files are absent: image queries work without it.
    pub fn preload(&self) -> Result<(), EmbedError> {
        self.image()?;
        if let EmbedderSettings::Clip(options) = &self.settings {
            let files = options.files();
            if files.has_text_side() {
                self.text()?;
            }
        }
        Ok(())
    }

    /// Embeds an image read into memory (`path` names it in errors).
    pub fn embed_image_bytes(&self, path: &Path, bytes: &[u8]) -> Result<Vector, EmbedError> {
        self.checked(self.image()?.embed_bytes(path, bytes)?, false)
    }

    /// Reads and embeds an image file.
    pub fn embed_image_file(&self, path: &Path) -> Result<Vector, EmbedError> {
        self.embed_image_bytes(path, &read_image_file(path)?)
    }

    /// Embeds a text (CLIP only).
    pub fn embed_text(&self, query: &str) -> Result<Vector, EmbedError> {
        self.checked(Vector::Float(self.text()?.embed(query)?), true)
    }
}
