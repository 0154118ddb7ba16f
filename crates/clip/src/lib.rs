//! CLIP through ONNX Runtime: everything between an image (or a text) and its CLIP
//! embedding, for a model directory laid out like the public ONNX export of
//! `openai/clip-vit-base-patch32` (see [`ModelFiles`]).
//!
//! - [`runtime`]: finds and loads `libonnxruntime.so` (ort's `load-dynamic`), with a
//!   clear error instead of ort's panic when it is missing.
//! - [`Preprocessing`]: the export's own image preprocessing, read from
//!   `preprocessor_config.json` (shortest-edge resize with the named filter, centre
//!   crop, rescale, normalise, NCHW f32).
//! - [`ImageEncoder`] and [`TextEncoder`]: `vision_model.onnx` and `text_model.onnx`
//!   (with `tokenizer.json`), returning L2-normalised embeddings.

mod encoder;
mod preprocess;
pub mod runtime;

pub use encoder::{ImageEncoder, TextEncoder, l2_normalise};
pub use preprocess::Preprocessing;

use std::path::{Path, PathBuf};

/// What went wrong loading or running a CLIP model.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    #[error(
        "ONNX Runtime's library was not found (looked for {looked_in}); install it with scripts/setup.sh \
         or point ORT_DYLIB_PATH at libonnxruntime.so (version 1.31 or later)"
    )]
    RuntimeMissing { looked_in: String },
    #[error("{path}: cannot load ONNX Runtime from it: {reason}")]
    RuntimeUnusable { path: PathBuf, reason: String },
    #[error(
        "{path} is missing: the CLIP model is not installed; run scripts/download-clip.sh (it needs \
         internet) or pass --model DIR, or use --embedder pixel"
    )]
    ModelMissing { path: PathBuf },
    #[error("{path}: {reason}")]
    BadModel { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: the model failed: {reason}")]
    Inference { path: PathBuf, reason: String },
}

/// The files of a CLIP model directory (`models/clip/` by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    pub dir: PathBuf,
}

impl ModelFiles {
    pub const VISION: &'static str = "vision_model.onnx";
    pub const TEXT: &'static str = "text_model.onnx";
    pub const TOKENIZER: &'static str = "tokenizer.json";
    pub const PREPROCESSOR: &'static str = "preprocessor_config.json";

    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The path of one of the files, or a clear error saying how to get it.
    pub fn require(&self, name: &str) -> Result<PathBuf, ClipError> {
        let path = self.dir.join(name);
        if path.is_file() { Ok(path) } else { Err(ClipError::ModelMissing { path }) }
    }

    /// SHA-256 of `vision_model.onnx`: an index records it and refuses vectors made by
    /// any other model.
    pub fn vision_sha256(&self) -> Result<String, ClipError> {
        let path = self.require(Self::VISION)?;
        let bytes = std::fs::read(&path).map_err(|source| ClipError::Io { path: path.clone(), source })?;
        Ok(picseek_manifest::sha256_hex(&bytes))
    }
}

fn bad_model(path: &Path, reason: impl std::fmt::Display) -> ClipError {
    ClipError::BadModel { path: path.to_owned(), reason: reason.to_string() }
}
