//! The one dispatch point over the two embedders: everything a caller does with "the
//! embedder" goes through [`Embedder`], so a third kind is added here and nowhere else.

use std::path::Path;

use picseek_imaging::{ImageError, read_image_file};
use picseek_manifest::ModelIdentity;

use crate::{ClipEmbedder, EmbedError, EmbedderKind, EmbeddingIdentity, ModelOptions, PixelEmbedder};

/// Which embedder to load, and its settings.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbedderSettings {
    /// Raw pixels of the image resized to `size` x `size` (the tutorial's baseline).
    Pixel {
        /// The side of the square, in pixels.
        size: u32,
    },
    /// CLIP's image encoder.
    Clip(ModelOptions),
}

impl EmbedderSettings {
    /// The default side of the pixel embedder's square (the tutorial's).
    pub const DEFAULT_PIXEL_SIZE: u32 = 448;

    /// Which embedder this is.
    pub fn kind(&self) -> EmbedderKind {
        match self {
            EmbedderSettings::Pixel { .. } => EmbedderKind::Pixel,
            EmbedderSettings::Clip(_) => EmbedderKind::Clip,
        }
    }
}

/// A vector, of the kind its embedder makes.
#[derive(Debug, Clone, PartialEq)]
pub enum Vector {
    /// Pixel values, as a pixel index stores them.
    Pixel(Vec<u8>),
    /// A unit-length CLIP embedding.
    Float(Vec<f32>),
}

impl Vector {
    /// How many values it has.
    pub fn len(&self) -> usize {
        match self {
            Vector::Pixel(v) => v.len(),
            Vector::Float(v) => v.len(),
        }
    }

    /// Whether it has no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as stored in an index's rows (`u8`, or `f32` in native byte order).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Vector::Pixel(v) => v,
            Vector::Float(v) => bytemuck::cast_slice(v),
        }
    }
}

/// An image made ready for its embedder: the CPU-heavy half (decoding, resizing), safe to
/// run on many threads while the model runs on the previous batch.
#[derive(Debug)]
pub enum Prepared {
    /// The pixel embedder's row itself.
    PixelRow(Vec<u8>),
    /// CLIP's model input.
    ClipInput(Vec<f32>),
}

/// A loaded embedder.
pub enum Embedder {
    /// Raw pixels.
    Pixel(PixelEmbedder),
    /// CLIP's image encoder, run `batch` images at a time.
    Clip {
        /// The loaded encoder.
        clip: Box<ClipEmbedder>,
        /// Images per model run.
        batch: usize,
    },
}

impl Embedder {
    /// Pixel images decoded at once: enough to keep every core busy, few enough to bound
    /// memory (a 448 px row is 600 KB).
    const PIXEL_BATCH: usize = 64;

    /// Loads the embedder `settings` name (the CLIP model from its folder).
    pub fn load(settings: &EmbedderSettings, max_decode_bytes: u64) -> Result<Self, EmbedError> {
        Ok(match settings {
            EmbedderSettings::Pixel { size } => Embedder::Pixel(PixelEmbedder::new(*size, max_decode_bytes)),
            EmbedderSettings::Clip(options) => {
                let clip = Box::new(ClipEmbedder::load(options, max_decode_bytes)?);
                Embedder::Clip { clip, batch: options.batch.max(1) }
            }
        })
    }

    /// Which embedder this is.
    pub fn kind(&self) -> EmbedderKind {
        match self {
            Embedder::Pixel(_) => EmbedderKind::Pixel,
            Embedder::Clip { .. } => EmbedderKind::Clip,
        }
    }

    /// The model file (CLIP only).
    pub fn model(&self) -> Option<&ModelIdentity> {
        match self {
            Embedder::Pixel(_) => None,
            Embedder::Clip { clip, .. } => Some(clip.model()),
        }
    }

    /// The canonical description of the preprocessing.
    pub fn preprocessing(&self) -> String {
        match self {
            Embedder::Pixel(p) => p.preprocessing(),
            Embedder::Clip { clip, .. } => clip.preprocessing(),
        }
    }

    /// What must match for vectors made elsewhere to be used with this embedder's.
    pub fn identity(&self) -> EmbeddingIdentity {
        EmbeddingIdentity::new(self.kind(), self.model(), &self.preprocessing())
    }

    /// The side of the square the embedder sees.
    pub fn image_size(&self) -> u32 {
        match self {
            Embedder::Pixel(p) => p.size(),
            Embedder::Clip { clip, .. } => clip.image_size(),
        }
    }

    /// The width of its vectors.
    pub fn dimension(&self) -> usize {
        match self {
            Embedder::Pixel(p) => p.dimension(),
            Embedder::Clip { clip, .. } => clip.dimension(),
        }
    }

    /// Images to prepare and embed at once.
    pub fn batch(&self) -> usize {
        match self {
            Embedder::Pixel(_) => Self::PIXEL_BATCH,
            Embedder::Clip { batch, .. } => *batch,
        }
    }

    /// Decodes and preprocesses an image read into memory (`path` names it in errors).
    pub fn prepare(&self, path: &Path, bytes: &[u8]) -> Result<Prepared, ImageError> {
        Ok(match self {
            Embedder::Pixel(p) => Prepared::PixelRow(p.embed_bytes(path, bytes)?),
            Embedder::Clip { clip, .. } => Prepared::ClipInput(clip.prepare(path, bytes)?),
        })
    }

    /// The vectors of prepared images, in order; runs the model for CLIP (which refuses a
    /// model that gives another number of rows than inputs).
    pub fn embed_prepared(&self, prepared: Vec<Prepared>) -> Result<Vec<Vector>, EmbedError> {
        let mut pixel_rows = Vec::new();
        let mut clip_inputs = Vec::new();
        for p in prepared {
            match p {
                Prepared::PixelRow(row) => pixel_rows.push(Vector::Pixel(row)),
                Prepared::ClipInput(input) => clip_inputs.push(input),
            }
        }
        if let Embedder::Clip { clip, .. } = self {
            return Ok(clip.embed_prepared(&clip_inputs)?.into_iter().map(Vector::Float).collect());
        }
        Ok(pixel_rows)
    }

    /// Decodes and embeds one image read into memory (`path` names it in errors).
    pub fn embed_bytes(&self, path: &Path, bytes: &[u8]) -> Result<Vector, EmbedError> {
        let prepared = self.prepare(path, bytes)?;
        Ok(self.embed_prepared(vec![prepared])?.remove(0))
    }

    /// Reads, decodes and embeds one image file.
    pub fn embed_file(&self, path: &Path) -> Result<Vector, EmbedError> {
        self.embed_bytes(path, &read_image_file(path)?)
    }
}
