//! The CLIP image embedder for building (batches, threads, device) and the embedding
//! cache in front of it that clean's `--dedup clip` shares.

use std::path::{Path, PathBuf};

use picseek_clip::{ImageEncoder, ModelFiles, Preprocessing};
use picseek_imaging::{ImageError, decode, read_image_file, to_rgb_on_white};
use picseek_manifest::ModelIdentity;

use crate::IndexError;

/// Where the CLIP model is and how to run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipOptions {
    /// A directory laid out like `models/clip/`.
    pub model_dir: PathBuf,
    /// Images per model run.
    pub batch: usize,
    /// Cores the model may use (decoding uses the others, overlapping it).
    pub threads: usize,
    /// Where the model runs.
    pub device: picseek_clip::Device,
}

impl Default for ClipOptions {
    fn default() -> Self {
        Self {
            model_dir: PathBuf::from("models/clip"),
            batch: 16,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            device: picseek_clip::Device::Cpu,
        }
    }
}

/// What an index records of the CLIP model in `model_dir`: the model file's identity and
/// the preprocessing description, found without loading the model.
pub(crate) fn clip_identity(model_dir: &Path) -> Result<(ModelIdentity, String), IndexError> {
    let files = ModelFiles::new(model_dir);
    let preprocessing = Preprocessing::from_file(&files.require(ModelFiles::PREPROCESSOR)?)?;
    // Recorded absolute, so that later commands run from elsewhere find it again.
    let name = std::path::absolute(model_dir).unwrap_or_else(|_| model_dir.to_owned()).display().to_string();
    let model = ModelIdentity { name, sha256: files.vision_sha256()? };
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
    /// Loads the image encoder of the model in `options.model_dir`.
    pub fn load(options: &ClipOptions, max_decode_bytes: u64) -> Result<Self, IndexError> {
        let (model, _) = clip_identity(&options.model_dir)?;
        Self::load_identified(options, model, max_decode_bytes)
    }

    /// [`load`](Self::load) for a model whose [`clip_identity`] the caller already has.
    pub(crate) fn load_identified(
        options: &ClipOptions,
        model: ModelIdentity,
        max_decode_bytes: u64,
    ) -> Result<Self, IndexError> {
        let encoder = ImageEncoder::load(&ModelFiles::new(&options.model_dir), options.threads, options.device)?;
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
    pub fn embed_prepared(&self, prepared: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, IndexError> {
        Ok(self.encoder.embed_pixel_values(prepared)?)
    }

    /// Reads, decodes and embeds one image file.
    pub fn embed_file(&self, path: &Path) -> Result<Vec<f32>, IndexError> {
        self.embed_bytes(path, &read_image_file(path)?)
    }

    /// Decodes and embeds one image read into memory (`path` names it in errors).
    pub fn embed_bytes(&self, path: &Path, bytes: &[u8]) -> Result<Vec<f32>, IndexError> {
        let prepared = self.prepare(path, bytes)?;
        Ok(self.embed_prepared(std::slice::from_ref(&prepared))?.remove(0))
    }
}

/// CLIP vectors of images through the embedding cache `index` uses, for other stages
/// (clean's `--dedup clip`): what is cached is not embedded again, and what is embedded
/// here is not embedded again by `index`.
pub struct CachedClipEmbedder {
    embedder: ClipEmbedder,
    cached: crate::cache::CachedVectors,
    file: crate::cache::CacheFile,
}

impl CachedClipEmbedder {
    /// Loads the model of `options` and opens its cache in `index_dir`.
    pub fn open(index_dir: &Path, options: &ClipOptions, max_decode_bytes: u64) -> Result<Self, IndexError> {
        let embedder = ClipEmbedder::load(options, max_decode_bytes)?;
        let identity = crate::IndexIdentity::new(
            picseek_manifest::EmbedderKind::Clip,
            Some(embedder.model()),
            &embedder.preprocessing(),
        );
        let (cached, file) = crate::cache::open_cache(index_dir, &identity.canonical(), embedder.dimension())?;
        Ok(Self { embedder, cached, file })
    }

    /// The vector of each image (its name, for errors, and bytes): cached by the SHA-256
    /// of its bytes, or embedded now, in one batch, and appended to the cache. An image
    /// that cannot be embedded gets its error.
    pub fn vectors(&mut self, images: &[(PathBuf, Vec<u8>)]) -> Result<Vec<Result<Vec<f32>, ImageError>>, IndexError> {
        use rayon::prelude::*;
        let shas: Vec<String> = images.iter().map(|(_, bytes)| picseek_manifest::sha256_hex(bytes)).collect();
        let prepared: Vec<Option<Result<Vec<f32>, ImageError>>> = images
            .par_iter()
            .zip(&shas)
            .map(|((path, bytes), sha)| (!self.cached.contains_key(sha)).then(|| self.embedder.prepare(path, bytes)))
            .collect();
        let inputs: Vec<Vec<f32>> = prepared.iter().filter_map(|p| p.as_ref()?.as_ref().ok().cloned()).collect();
        let mut embedded =
            if inputs.is_empty() { Vec::new() } else { self.embedder.embed_prepared(&inputs)? }.into_iter();
        let mut rows: Vec<(String, Vec<f32>)> = Vec::new();
        let mut out = Vec::with_capacity(images.len());
        for (sha, prepared) in shas.iter().zip(prepared) {
            out.push(match prepared {
                None => Ok(self.cached[sha].clone()),
                Some(Err(e)) => Err(e),
                Some(Ok(_)) => {
                    let vector = embedded.next().unwrap_or_default();
                    rows.push((sha.clone(), vector.clone()));
                    Ok(vector)
                }
            });
        }
        let bytes: Vec<(&str, &[u8])> = rows.iter().map(|(sha, v)| (sha.as_str(), bytemuck::cast_slice(v))).collect();
        self.file.append(&bytes)?;
        self.cached.extend(rows);
        Ok(out)
    }
}
