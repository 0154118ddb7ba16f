//! CLIP through ONNX Runtime: everything between an image (or a text) and its CLIP
//! embedding, for a model directory laid out like the public ONNX export of
//! `openai/clip-vit-base-patch32` (see [`ModelFiles`]).
//!
//! - [`runtime`]: finds and loads `libonnxruntime.so` (ort's `load-dynamic`), with a
//!   clear error instead of ort's panic when it is missing.
//! - [`Preprocessing`]: the export's own image preprocessing, read from
//!   `preprocessor_config.json` (shortest-edge resize with the named filter, centre
//!   crop, rescale, normalise, NCHW f32).
//! - [`Device`]: the CPU, or a CUDA GPU through ONNX Runtime's GPU build.
//! - [`ImageEncoder`] and [`TextEncoder`]: `vision_model.onnx` and `text_model.onnx`
//!   (with `tokenizer.json`), returning L2-normalised embeddings.

mod device;
mod encoder;
mod preprocess;
pub mod runtime;

pub use device::{Device, UnknownDevice};
pub use encoder::{ImageEncoder, TextEncoder, l2_normalise};
pub use picseek_manifest::Precision;
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

/// The files of a CLIP model directory (`models/clip/` by default), at one precision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    /// The model folder.
    pub dir: PathBuf,
    /// Which encoder files: the float ones or their int8 copies.
    pub precision: Precision,
}

impl ModelFiles {
    /// The image encoder.
    pub const VISION: &'static str = "vision_model.onnx";
    /// The text encoder.
    pub const TEXT: &'static str = "text_model.onnx";
    /// The image encoder's int8 copy (the Hugging Face export's name for it).
    pub const VISION_INT8: &'static str = "vision_model_quantized.onnx";
    /// The text encoder's int8 copy.
    pub const TEXT_INT8: &'static str = "text_model_quantized.onnx";
    /// The tokenizer.
    pub const TOKENIZER: &'static str = "tokenizer.json";
    /// The preprocessing settings.
    pub const PREPROCESSOR: &'static str = "preprocessor_config.json";
    /// The float files of the model folder `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self::at(dir, Precision::Fp32)
    }

    /// The files of the model folder `dir` at `precision`.
    pub fn at(dir: impl Into<PathBuf>, precision: Precision) -> Self {
        Self { dir: dir.into(), precision }
    }

    /// The image encoder's file name at this precision.
    pub fn vision(&self) -> &'static str {
        match self.precision {
            Precision::Fp32 => Self::VISION,
            Precision::Int8 => Self::VISION_INT8,
        }
    }

    /// The text encoder's file name at this precision.
    pub fn text(&self) -> &'static str {
        match self.precision {
            Precision::Fp32 => Self::TEXT,
            Precision::Int8 => Self::TEXT_INT8,
        }
    }

    /// Where [`Self::vision_sha256`] remembers the sum: `.<image encoder>.sha256.json`.
    pub fn vision_sha256_record(&self) -> PathBuf {
        self.dir.join(format!(".{}.sha256.json", self.vision()))
    }

    /// The path of one of the files, or a clear error saying how to get it.
    pub fn require(&self, name: &str) -> Result<PathBuf, ClipError> {
        let path = self.dir.join(name);
        match path.is_file() {
            true => Ok(path),
            false if name == Self::VISION_INT8 || name == Self::TEXT_INT8 => Err(ClipError::Int8Missing { path }),
            false => Err(ClipError::ModelMissing { path }),
        }
    }

    /// SHA-256 of the image encoder's file: an index records it and refuses vectors made
    /// by any other model. Hashing the real export takes about half a second, which every
    /// search would pay, so the sum is remembered in [`Self::vision_sha256_record`]
    /// beside the model together with the file's size, modification time and inode, and
    /// reused while all three match (a model folder that cannot be written to is simply
    /// hashed every time).
    pub fn vision_sha256(&self) -> Result<String, ClipError> {
        let path = self.require(self.vision())?;
        let io_error = |source| ClipError::Io { path: path.clone(), source };
        let stamp = FileStamp::of(&std::fs::metadata(&path).map_err(io_error)?);
        let record_path = self.vision_sha256_record();
        let recorded: Option<HashRecord> =
            std::fs::read(&record_path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok());
        if let Some(record) = recorded.filter(|r| r.file == stamp) {
            return Ok(record.sha256);
        }
        let sha256 = picseek_manifest::sha256_hex(&std::fs::read(&path).map_err(io_error)?);
        // A file modified within the clock's resolution of now could change again under
        // the same stamp (git's "racily clean" problem): only older files are remembered.
        let settled = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .is_ok_and(|now| now.as_secs() as i64 > stamp.modified_secs + 2);
        if settled {
            let record = HashRecord { file: stamp, sha256: sha256.clone() };
            if let Err(e) = picseek_manifest::write_json_atomic(&record_path, &record) {
                tracing::debug!("not remembering the model's SHA-256: {e}");
            }
        }
        Ok(sha256)
    }
}

/// What identifies a file's content cheaply: it changes whenever the file is rewritten
/// or replaced.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct FileStamp {
    size: u64,
    modified_secs: i64,
    modified_nanos: i64,
    inode: u64,
}

impl FileStamp {
    fn of(metadata: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            size: metadata.len(),
            modified_secs: metadata.mtime(),
            modified_nanos: metadata.mtime_nsec(),
            inode: metadata.ino(),
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct HashRecord {
    file: FileStamp,
    sha256: String,
}

fn bad_model(path: &Path, reason: impl std::fmt::Display) -> ClipError {
    ClipError::BadModel { path: path.to_owned(), reason: reason.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(path: &Path) {
        let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options().write(true).open(path).unwrap().set_modified(an_hour_ago).unwrap();
    }

    #[test]
    fn the_vision_sha256_is_remembered_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let files = ModelFiles::new(dir.path());
        let model = dir.path().join(ModelFiles::VISION);
        let record = files.vision_sha256_record();
        std::fs::write(&model, b"model one").unwrap();
        // Just written: hashed, but not remembered yet.
        assert_eq!(files.vision_sha256().unwrap(), picseek_manifest::sha256_hex(b"model one"));
        assert!(!record.exists());

        age(&model);
        assert_eq!(files.vision_sha256().unwrap(), picseek_manifest::sha256_hex(b"model one"));
        assert!(record.exists());
        // The record is what answers while the stamp matches (shown by planting a sum).
        let mut planted: serde_json::Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
        planted["sha256"] = "remembered".into();
        std::fs::write(&record, planted.to_string()).unwrap();
        assert_eq!(files.vision_sha256().unwrap(), "remembered");

        // Rewritten in place with the same size: the stamp changes, so it is hashed again.
        std::fs::write(&model, b"model two").unwrap();
        age(&model);
        assert_eq!(files.vision_sha256().unwrap(), picseek_manifest::sha256_hex(b"model two"));
        // Replaced by another file: likewise.
        let other = dir.path().join("other.onnx");
        std::fs::write(&other, b"model six").unwrap();
        age(&other);
        std::fs::rename(&other, &model).unwrap();
        assert_eq!(files.vision_sha256().unwrap(), picseek_manifest::sha256_hex(b"model six"));
        // A damaged record is ignored.
        std::fs::write(&record, b"{").unwrap();
        assert_eq!(files.vision_sha256().unwrap(), picseek_manifest::sha256_hex(b"model six"));
    }
}
