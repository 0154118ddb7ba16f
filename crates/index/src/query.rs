use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use picseek_clip::{ModelFiles, TextEncoder};
use picseek_imaging::read_image_file;

use crate::{ClipEmbedder, IndexError, PixelEmbedder};

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
    Pixel(PixelEmbedder),
    Clip(Box<ClipQueries>),
}

/// CLIP's image encoder, and its text encoder once a text query needs it.
pub struct ClipQueries {
    image: ClipEmbedder,
    model_dir: PathBuf,
    threads: usize,
    text: OnceLock<TextEncoder>,
}

impl QueryEmbedder {
    pub(crate) fn clip(image: ClipEmbedder, model_dir: &Path, threads: usize) -> Self {
        QueryEmbedder::Clip(Box::new(ClipQueries {
            image,
            model_dir: model_dir.to_owned(),
            threads,
            text: OnceLock::new(),
        }))
    }
}

impl QueryEmbedder {
    pub fn supports_text(&self) -> bool {
        matches!(self, QueryEmbedder::Clip(_))
    }

    /// Embeds an image read into memory (`path` names it in errors).
    pub fn embed_image_bytes(&self, path: &Path, bytes: &[u8]) -> Result<QueryVector, IndexError> {
        Ok(match self {
            QueryEmbedder::Pixel(pixel) => QueryVector::Pixel(pixel.embed_bytes(path, bytes)?),
            QueryEmbedder::Clip(clip) => QueryVector::Float(clip.image.embed_bytes(path, bytes)?),
        })
    }

    pub fn embed_image_file(&self, path: &Path) -> Result<QueryVector, IndexError> {
        self.embed_image_bytes(path, &read_image_file(path)?)
    }

    pub fn embed_text(&self, query: &str) -> Result<QueryVector, IndexError> {
        let QueryEmbedder::Clip(clip) = self else {
            return Err(IndexError::Unsupported(
                "text queries need a CLIP index; this one uses the pixel embedder".into(),
            ));
        };
        let encoder = match clip.text.get() {
            Some(encoder) => encoder,
            None => {
                let loaded = TextEncoder::load(&ModelFiles::new(&clip.model_dir), clip.threads)?;
                clip.text.get_or_init(|| loaded)
            }
        };
        let vector = encoder.embed(query)?;
        // A text model from another export would otherwise fail deep inside the search.
        if vector.len() != clip.image.dimension() {
            return Err(picseek_clip::ClipError::BadModel {
                path: clip.model_dir.join(ModelFiles::TEXT),
                reason: format!(
                    "gives {}-d embeddings but {} gives {}-d: both must come from the same CLIP export",
                    vector.len(),
                    ModelFiles::VISION,
                    clip.image.dimension()
                ),
            }
            .into());
        }
        Ok(QueryVector::Float(vector))
    }
}
