//! CLIP's image encoder: decoding and preprocessing as the export expects, and batches
//! through ONNX Runtime.

use std::path::Path;

use picseek_clip::{ClipError, ImageEncoder, ModelFiles, Preprocessing, TextEncoder};
use picseek_imaging::{ImageError, decode, read_image_file, to_rgb_on_white};
use picseek_manifest::ModelIdentity;

use crate::{EmbedError, ModelOptions};

/// What an index records of the CLIP model `files`: the image encoder's identity and
/// the preprocessing description, found without loading the model.
pub fn clip_identity(files: &ModelFiles) -> Result<(ModelIdentity, String), EmbedError> {
    let model_dir = files.dir.as_path();
    let preprocessing = Preprocessing::load(files)?;
    // Recorded absolute, so that later commands run from elsewhere find it again.
    let name = std::path::absolute(model_dir).unwrap_or_else(|_| model_dir.to_owned()).display().to_string();
    let model = ModelIdentity {
        name,
        sha256: files.vision_sha256()?,
        precision: files.precision,
        layout: files.layout,
        family: files.family()?,
    };
    Ok((model, preprocessing.describe()))
}

/// CLIP's image encoder, as the index stage uses it: decodes files (EXIF orientation,
/// alpha onto white), preprocesses them as the export expects, and embeds batches.
pub struct ClipEmbedder {
    encoder: ImageEncoder,
    model: ModelIdentity,
    max_decode_bytes: u64,
}

impl ClipEmbedder {
    /// Loads the image encoder of the model in [`options.dir()`](ModelOptions::dir), for
    /// vectors that will be kept: a model whose text encoder (where the folder has one)
    /// makes vectors of another width is refused before any is made, as text search
    /// could never work on them.
    pub fn load(options: &ModelOptions, max_decode_bytes: u64) -> Result<Self, EmbedError> {
        let files = options.files();
        let (model, _) = clip_identity(&files)?;
        let clip = Self::load_identified(options, model, max_decode_bytes)?;
        if files.has_text_side() {
            let text = TextEncoder::load(&files, options.threads, options.device)?.dimension()?;
            if text != clip.dimension() {
                return Err(
                    ClipError::EncodersDisagree { dir: files.dir.clone(), image: clip.dimension(), text }.into()
                );
            }
        }
        Ok(clip)
    }

    /// [`load`](Self::load) for a model whose [`clip_identity`] the caller already has.
    pub(crate) fn load_identified(
        options: &ModelOptions,
        model: ModelIdentity,
        max_decode_bytes: u64,
    ) -> Result<Self, EmbedError> {
        let encoder = ImageEncoder::load(&options.files(), options.threads, options.device)?;
        Ok(Self { encoder, model, max_decode_bytes })
    }

    /// The model file the vectors come from (its SHA-256 is what an index checks).
    pub fn model(&self) -> &ModelIdentity {
        &self.model
    }

    /// The canonical description of the model's preprocessing.
    pub fn preprocessing(&self) -> String {
        self.encoder.preprocessing().describe()
    }

    /// The side of the square the model sees.
    pub fn image_size(&self) -> u32 {
        self.encoder.preprocessing().image_size()
    }

    /// The width of the model's embeddings.
    pub fn dimension(&self) -> usize {
        self.encoder.dimension()
    }

    /// Decodes and preprocesses an image read into memory (`path` names it in errors):
    /// the CPU-heavy half, safe to run on many threads at once.
    pub fn prepare(&self, path: &Path, bytes: &[u8]) -> Result<Vec<f32>, ImageError> {
        let image = decode(path, bytes, self.max_decode_bytes)?.image;
        let preprocessing = self.encoder.preprocessing();
        preprocessing
            .check_size(image.width(), image.height())
            .map_err(|reason| ImageError::TooLarge { path: path.to_owned(), reason })?;
        Ok(preprocessing.pixel_values(&to_rgb_on_white(image)))
    }

    /// Runs the model on prepared images: one unit-length vector each.
    pub fn embed_prepared(&self, prepared: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(self.encoder.embed_pixel_values(prepared)?)
    }

    /// Reads, decodes and embeds one image file.
    pub fn embed_file(&self, path: &Path) -> Result<Vec<f32>, EmbedError> {
        self.embed_bytes(path, &read_image_file(path)?)
    }

    /// Decodes and embeds one image read into memory (`path` names it in errors).
    pub fn embed_bytes(&self, path: &Path, bytes: &[u8]) -> Result<Vec<f32>, EmbedError> {
        let prepared = self.prepare(path, bytes)?;
        Ok(self.embed_prepared(std::slice::from_ref(&prepared))?.remove(0))
    }
}
