//! The files of a CLIP model folder, in either layout picseek reads: the Hugging Face
//! ONNX export, or Immich's folders of OpenCLIP models exported to ONNX (read as
//! Immich's `machine-learning/immich_ml/models/clip/` reads them).

use std::path::{Path, PathBuf};

use picseek_manifest::{ModelFamily, ModelLayout, Precision};
use serde_json::Value;

use crate::{ClipError, bad_model};

/// The files of a CLIP model directory (`models/clip/` by default), at one precision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    /// The model folder.
    pub dir: PathBuf,
    /// Which encoder files: the float ones or their int8 copies.
    pub precision: Precision,
    /// How the folder is laid out (see [`ModelFiles::at`]).
    pub layout: ModelLayout,
}

/// Where each file is in one layout.
struct LayoutNames {
    vision: &'static str,
    vision_int8: &'static str,
    text: &'static str,
    text_int8: &'static str,
    tokenizer: &'static str,
    preprocessing: &'static str,
    /// Files only this layout has, read for the text side's settings.
    extra: &'static [&'static str],
}

const HUGGING_FACE: LayoutNames = LayoutNames {
    vision: "vision_model.onnx",
    vision_int8: "vision_model_quantized.onnx",
    text: "text_model.onnx",
    text_int8: "text_model_quantized.onnx",
    tokenizer: "tokenizer.json",
    preprocessing: "preprocessor_config.json",
    extra: &[],
};

const IMMICH: LayoutNames = LayoutNames {
    vision: "visual/model.onnx",
    vision_int8: "visual/model_quantized.onnx",
    text: "textual/model.onnx",
    text_int8: "textual/model_quantized.onnx",
    tokenizer: "textual/tokenizer.json",
    preprocessing: "visual/preprocess_cfg.json",
    extra: &[ModelFiles::OPEN_CLIP_CONFIG, ModelFiles::TOKENIZER_CONFIG],
};

impl ModelFiles {
    /// An Immich folder's OpenCLIP model configuration (`embed_dim`, `vision_cfg`,
    /// `text_cfg`).
    pub const OPEN_CLIP_CONFIG: &'static str = "config.json";
    /// An Immich folder's tokenizer settings (its `pad_token`).
    pub const TOKENIZER_CONFIG: &'static str = "textual/tokenizer_config.json";

    /// The float files of the model folder `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self::at(dir, Precision::Fp32)
    }

    /// The files of the model folder `dir` at `precision`. The layout is Immich's where
    /// the folder has a `visual/` or `textual/` folder, else the Hugging Face export's
    /// (whose files, when missing, are what errors name).
    pub fn at(dir: impl Into<PathBuf>, precision: Precision) -> Self {
        let dir = dir.into();
        let layout = if dir.join("visual").is_dir() || dir.join("textual").is_dir() {
            ModelLayout::Immich
        } else {
            ModelLayout::HuggingFace
        };
        Self { dir, precision, layout }
    }

    fn names(&self) -> &'static LayoutNames {
        match self.layout {
            ModelLayout::HuggingFace => &HUGGING_FACE,
            ModelLayout::Immich => &IMMICH,
        }
    }

    /// The image encoder's file at this precision, relative to the folder.
    pub fn vision(&self) -> &'static str {
        match self.precision {
            Precision::Fp32 => self.names().vision,
            Precision::Int8 => self.names().vision_int8,
        }
    }

    /// The text encoder's file at this precision, relative to the folder.
    pub fn text(&self) -> &'static str {
        match self.precision {
            Precision::Fp32 => self.names().text,
            Precision::Int8 => self.names().text_int8,
        }
    }

    /// The text encoder's tokenizer, relative to the folder.
    pub fn tokenizer(&self) -> &'static str {
        self.names().tokenizer
    }

    /// The image preprocessing settings, relative to the folder.
    pub fn preprocessing(&self) -> &'static str {
        self.names().preprocessing
    }

    /// Every file text search needs beside the image side's: the text encoder, its
    /// tokenizer and (Immich) the configuration files the tokenizer is set up from.
    pub fn text_side(&self) -> Vec<&'static str> {
        let mut names = vec![self.text(), self.tokenizer()];
        names.extend(self.names().extra);
        names
    }

    /// Whether every file of [`Self::text_side`] is there (image queries work without).
    pub fn has_text_side(&self) -> bool {
        self.text_side().iter().all(|name| self.dir.join(name).is_file())
    }

    /// Every file of the folder at this precision, image side first.
    pub fn all(&self) -> Vec<&'static str> {
        let mut names = vec![self.vision(), self.preprocessing()];
        names.extend(self.text_side());
        names
    }

    /// Where [`Self::vision_sha256`] remembers the sum: `.<image encoder>.sha256.json`
    /// beside it.
    pub fn vision_sha256_record(&self) -> PathBuf {
        let vision = self.dir.join(self.vision());
        let name = vision.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        vision.with_file_name(format!(".{name}.sha256.json"))
    }

    /// The path of one of the files, or a clear error saying how to get it: a folder
    /// with neither layout's image encoder is named as not a model folder, with every
    /// file looked for.
    pub fn require(&self, name: &str) -> Result<PathBuf, ClipError> {
        let path = self.dir.join(name);
        if path.is_file() {
            return Ok(path);
        }
        let neither_layout = [&HUGGING_FACE, &IMMICH]
            .iter()
            .all(|layout| [layout.vision, layout.vision_int8].iter().all(|v| !self.dir.join(v).is_file()));
        let has_files = std::fs::read_dir(&self.dir).is_ok_and(|mut entries| entries.next().is_some());
        if neither_layout && has_files {
            let list =
                |layout| ModelFiles { dir: self.dir.clone(), precision: Precision::Fp32, layout }.all().join(", ");
            return Err(ClipError::UnknownLayout {
                dir: self.dir.clone(),
                looked_for: format!(
                    "{} (a Hugging Face ONNX export) or {} (an Immich or OpenCLIP folder)",
                    list(ModelLayout::HuggingFace),
                    list(ModelLayout::Immich)
                ),
            });
        }
        let int8 = [self.names().vision_int8, self.names().text_int8];
        match self.precision {
            Precision::Int8 if int8.contains(&name) => Err(ClipError::Int8Missing { path }),
            _ => Err(ClipError::ModelMissing { path }),
        }
    }

    /// An Immich folder's OpenCLIP configuration (`None` for a Hugging Face export).
    pub fn open_clip_config(&self) -> Result<Option<OpenClipConfig>, ClipError> {
        if self.layout != ModelLayout::Immich {
            return Ok(None);
        }
        let path = self.require(Self::OPEN_CLIP_CONFIG)?;
        let config = read_json(&path)?;
        let text = config.get("text_cfg").cloned().unwrap_or(Value::Null);
        let context_length = match text.get("context_length") {
            None => OpenClipConfig::DEFAULT_CONTEXT_LENGTH,
            Some(v) => v
                .as_u64()
                .filter(|&n| (1..=8192).contains(&n))
                .ok_or_else(|| bad_model(&path, format!("text_cfg.context_length is {v}, not a length")))?
                as usize,
        };
        let canonicalize = text.pointer("/tokenizer_kwargs/clean").and_then(Value::as_str) == Some("canonicalize");
        let names_nllb = ["hf_tokenizer_name", "hf_model_name"]
            .iter()
            .any(|k| text.get(*k).and_then(Value::as_str).is_some_and(|n| n.to_lowercase().contains("nllb")));
        let folder_is_nllb = self.dir.file_name().is_some_and(|n| n.to_string_lossy().starts_with("nllb"));
        let family = if config.get("init_logit_bias").is_some() { ModelFamily::Siglip } else { ModelFamily::Clip };
        Ok(Some(OpenClipConfig { context_length, canonicalize, nllb: names_nllb || folder_is_nllb, family }))
    }

    /// How the model was trained, as its configuration says: SigLIP where an Immich
    /// folder's `config.json` has an `init_logit_bias` or a Hugging Face export's
    /// `config.json` a SigLIP `model_type`; else CLIP.
    pub fn family(&self) -> Result<ModelFamily, ClipError> {
        if let Some(config) = self.open_clip_config()? {
            return Ok(config.family);
        }
        let config = self.dir.join("config.json");
        let model_type = match config.is_file() {
            true => read_json(&config)?.get("model_type").and_then(Value::as_str).map(str::to_lowercase),
            false => None,
        };
        Ok(match model_type {
            Some(t) if t.contains("siglip") => ModelFamily::Siglip,
            _ => ModelFamily::Clip,
        })
    }

    /// An Immich folder's padding token, from `textual/tokenizer_config.json` (a
    /// string, or an object with its `content`).
    pub fn pad_token(&self) -> Result<Option<String>, ClipError> {
        if self.layout != ModelLayout::Immich {
            return Ok(None);
        }
        let path = self.require(Self::TOKENIZER_CONFIG)?;
        let config = read_json(&path)?;
        let pad = config.get("pad_token");
        match pad.and_then(|p| p.as_str().or_else(|| p.get("content").and_then(Value::as_str))) {
            Some(token) => Ok(Some(token.to_owned())),
            None => Err(bad_model(&path, "it has no \"pad_token\"")),
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

/// What an Immich folder's `config.json` says about the text side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenClipConfig {
    /// Tokens per text (`text_cfg.context_length`).
    pub context_length: usize,
    /// Punctuation dropped and letters lower-cased before tokenising
    /// (`text_cfg.tokenizer_kwargs.clean` is `canonicalize`, as SigLIP's).
    pub canonicalize: bool,
    /// NLLB's tokenizer, which takes a language code in front of the text.
    pub nllb: bool,
    /// How the model was trained.
    pub family: ModelFamily,
}

impl OpenClipConfig {
    /// OpenCLIP's context length where the configuration gives none.
    pub const DEFAULT_CONTEXT_LENGTH: usize = 77;
}

pub(crate) fn read_json(path: &Path) -> Result<Value, ClipError> {
    let text = std::fs::read_to_string(path).map_err(|source| ClipError::Io { path: path.to_owned(), source })?;
    serde_json::from_str(&text).map_err(|e| bad_model(path, format!("not JSON: {e}")))
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
        let model = dir.path().join(files.vision());
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

    #[test]
    fn the_layout_is_read_from_the_folder_and_an_unknown_one_names_what_was_looked_for() {
        let dir = tempfile::tempdir().unwrap();
        let files = ModelFiles::new(dir.path());
        assert_eq!(files.layout, ModelLayout::HuggingFace);
        // An empty folder: the model is simply not installed yet.
        assert!(matches!(files.require(files.vision()), Err(ClipError::ModelMissing { .. })));
        std::fs::write(dir.path().join("weights.bin"), b"x").unwrap();
        let message = files.require(files.vision()).unwrap_err().to_string();
        assert!(message.contains("not a CLIP model folder"), "{message}");
        assert!(message.contains("vision_model.onnx") && message.contains("visual/preprocess_cfg.json"), "{message}");

        std::fs::create_dir(dir.path().join("visual")).unwrap();
        let immich = ModelFiles::at(dir.path(), Precision::Int8);
        assert_eq!(immich.layout, ModelLayout::Immich);
        assert_eq!(immich.vision(), "visual/model_quantized.onnx");
        assert_eq!(immich.vision_sha256_record(), dir.path().join("visual/.model_quantized.onnx.sha256.json"));
        assert!(immich.all().contains(&"textual/tokenizer_config.json"));
    }

    #[test]
    fn an_open_clip_config_gives_the_text_side_its_settings() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("nllb-clip-base-siglip__v1");
        std::fs::create_dir_all(root.join("textual")).unwrap();
        let config = serde_json::json!({"embed_dim": 768, "init_logit_bias": -10,
            "text_cfg": {"context_length": 64, "tokenizer_kwargs": {"clean": "canonicalize"}}});
        std::fs::write(root.join("config.json"), config.to_string()).unwrap();
        std::fs::write(root.join("textual/tokenizer_config.json"), r#"{"pad_token": {"content": "<pad>"}}"#).unwrap();
        let files = ModelFiles::new(&root);
        let read = files.open_clip_config().unwrap().unwrap();
        assert_eq!(
            read,
            OpenClipConfig { context_length: 64, canonicalize: true, nllb: true, family: ModelFamily::Siglip }
        );
        assert_eq!(files.family().unwrap(), ModelFamily::Siglip);
        assert_eq!(files.pad_token().unwrap().as_deref(), Some("<pad>"));
        assert_eq!(ModelFiles::new(dir.path()).family().unwrap(), ModelFamily::Clip);
    }
}
