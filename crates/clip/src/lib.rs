//! CLIP through ONNX Runtime: everything between an image (or a text) and its
//! embedding, for a model folder in either layout people have ([`ModelFiles`]): the
//! Hugging Face ONNX export of `openai/clip-vit-base-patch32` and its like, or Immich's
//! folders of OpenCLIP models (CLIP, SigLIP, SigLIP2, NLLB-SigLIP, M-CLIP).
//!
//! - [`runtime`]: finds and loads `libonnxruntime.so` (ort's `load-dynamic`), with a
//!   clear error instead of ort's panic when it is missing.
//! - [`Preprocessing`]: the folder's own image preprocessing, read from
//!   `preprocessor_config.json` (Hugging Face's processor) or `visual/preprocess_cfg.json`
//!   (OpenCLIP's, as Immich applies it): resize with the named filter, centre crop or
//!   squash, rescale, normalise, NCHW f32.
//! - [`Device`]: the CPU, or a CUDA GPU through ONNX Runtime's GPU build.
//! - [`ImageEncoder`] and [`TextEncoder`]: the two ONNX encoders, their inputs and
//!   outputs found by name, the tokenizer set up as the layout says (padding, context
//!   length, clean-up, NLLB's language code), returning L2-normalised embeddings.

mod device;
mod encoder;
mod files;
mod language;
mod preprocess;
pub mod runtime;

pub use device::{Device, UnknownDevice};
pub use encoder::{ImageEncoder, TextEncoder, l2_normalise};
pub use files::{ModelFiles, OpenClipConfig};
pub use language::{TextLanguage, UnknownLanguage};
pub use picseek_manifest::{ModelFamily, ModelLayout, Precision};
pub use preprocess::Preprocessing;

use std::path::{Path, PathBuf};

/// What went wrong loading or running a CLIP model.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    #[error(
        "ONNX Runtime's library was not found (looked for {looked_in}); install it with scripts/setup.sh \
         or point ORT_DYLIB_PATH at libonnxruntime.so (version 1.31 or later)"
    )]
    /// ONNX Runtime's library is nowhere it is looked for.
    RuntimeMissing {
        /// Where it was looked for.
        looked_in: String,
    },
    #[error("{path}: cannot load ONNX Runtime from it: {reason}")]
    /// The library exists but cannot be loaded.
    RuntimeUnusable {
        /// The library file.
        path: PathBuf,
        /// What went wrong loading it.
        reason: String,
    },
    #[error(
        "{path} is missing: the CLIP model is not installed (scripts/download-clip.sh installs it where the network allows)"
    )]
    /// A file of the model folder is missing.
    ModelMissing {
        /// The missing file.
        path: PathBuf,
    },
    #[error("{dir} is not a CLIP model folder picseek knows: it looked for {looked_for}")]
    /// The folder has files, but neither layout's image encoder.
    UnknownLayout {
        /// The folder.
        dir: PathBuf,
        /// The files of each layout.
        looked_for: String,
    },
    #[error(
        "{dir}: its image encoder makes {image}-wide vectors and its text encoder {text}-wide ones: \
         the two are not one model's"
    )]
    /// The two encoders of a folder make vectors of different widths.
    EncodersDisagree {
        /// The model folder.
        dir: PathBuf,
        /// The image encoder's width.
        image: usize,
        /// The text encoder's width.
        text: usize,
    },
    #[error("{path} is missing: the model folder has no int8 copy of its encoders yet")]
    /// An int8 file asked for is missing (`scripts/clip/quantize.py` makes it).
    Int8Missing {
        /// The missing file.
        path: PathBuf,
    },
    #[error("{path}: {reason}")]
    /// A model file is not what a CLIP export should be.
    BadModel {
        /// The model file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    #[error("{path}: {source}")]
    /// A model file cannot be read.
    Io {
        /// The file.
        path: PathBuf,
        #[source]
        /// The operating system's error.
        source: std::io::Error,
    },
    #[error("{device} cannot be used: {reason}")]
    /// The device asked for cannot run the model.
    DeviceUnavailable {
        /// The device.
        device: Device,
        /// What is missing.
        reason: String,
    },
    #[error("{path}: the model failed: {reason}")]
    /// The model failed to run.
    Inference {
        /// The model file.
        path: PathBuf,
        /// ONNX Runtime's message.
        reason: String,
    },
}

fn bad_model(path: &Path, reason: impl std::fmt::Display) -> ClipError {
    ClipError::BadModel { path: path.to_owned(), reason: reason.to_string() }
}
