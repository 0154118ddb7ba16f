//! The JSON manifests that picseek's stages hand to each other, and their on-disk I/O.
//!
//! Every stage reads the previous stage's manifest and writes its own. Writes go to a
//! temporary file in the destination folder that is then renamed over the target, so a
//! reader (or a stage killed half-way) only ever sees a complete old or complete new file.

mod clean;
mod crawl;
mod data_dir;
mod decisions;
mod download;
mod index;
mod kinds;
mod lock;
mod optout;
pub mod progress;
mod provenance;
mod shard;
mod split;
pub mod stop;

pub use clean::{CleanManifest, CleanRecord, CleanStatus, DuplicateEvidence, DuplicateMatch, Quality};
pub use crawl::{Categories, CrawlManifest, TermRecord, TermStatus, UrlsManifest};
pub use data_dir::DataDir;
pub use decisions::{CleanOutcome, DownloadOutcome, FailureReason, RejectReason, UnknownCode};
pub use download::{DownloadManifest, DownloadRecord, DownloadStatus};
pub use index::{AnnChoices, AnnFile, IndexItem, IndexManifest, IndexedFolder, ModelIdentity, SkippedFile, VectorFile};
pub use kinds::{
    ClassNaming, Dtype, EmbedderKind, Metric, ModelFamily, ModelLayout, Precision, QualityFlag, Quantization,
    UnknownName,
};
pub use lock::{DataDirLock, LOCK_FILE, LockError, TEMPORARY_PREFIX, remove_stale_temporaries};
pub use optout::{HostOptOuts, OptOut, OptOutNote, OptOutSummary, RobotsTxtState};
pub use provenance::{
    FolderProvenance, License, OLD_PROVENANCE_FILE, PROVENANCE_DIR, PhotoSource, SOURCES_FILE, SourcesManifest,
    provenance_path,
};
pub use shard::{
    COMPLETION_FILE, MAX_SHARDS, SHARDS_FOLDER, Shard, ShardCompletion, ShardError, input_fingerprint, shards_to_merge,
};
pub use split::{ClassSplit, CutGroup, LeakageCheck, SplitManifest};

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// What can go wrong reading or writing a manifest; always names the file.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: {source}")]
    /// The file cannot be read or written.
    Io {
        /// The file.
        path: PathBuf,
        #[source]
        /// The operating system's error.
        source: std::io::Error,
    },
    #[error("{path}: not a valid manifest: {source}")]
    /// The file is not JSON of the expected shape.
    Json {
        /// The file.
        path: PathBuf,
        #[source]
        /// serde_json's error, with the line and column.
        source: serde_json::Error,
    },
}

/// An option value a stage cannot work with. `option` is the option's name in the
/// library's own terms (the field of its options struct); a front end that knows which
/// flag set it names the flag instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{option} {problem}")]
pub struct InvalidOption {
    /// The options field, e.g. `rate`.
    pub option: &'static str,
    /// What is wrong, e.g. `must be from 0.001 to 1000 per second, not -1`.
    pub problem: String,
}

impl InvalidOption {
    /// An `InvalidOption` for `option`.
    pub fn new(option: &'static str, problem: impl Into<String>) -> Self {
        Self { option, problem: problem.into() }
    }
}

impl ManifestError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_owned(), source }
    }
}

/// Names a stage writes beside the folders of categories and terms, which no category
/// or term may take.
const RESERVED_NAMES: [&str; 4] =
    [DataDir::STAGE_MANIFEST, DataDir::EMBEDDING_CACHE, DataDir::INDEX_MANIFEST, DataDir::SPLIT_MANIFEST];

/// The longest folder name, in bytes: file systems allow 255, and a file name goes
/// inside it with room to spare.
const MAX_FOLDER_NAME: usize = 100;

/// A term's or class's name in one Unicode form (NFC): the same word typed on two
/// keyboards (precomposed, or a letter and a combining accent) is one class.
pub fn class_name(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    name.nfc().collect()
}

/// A category or term as one safe folder name, in NFC ([`class_name`]): path separators
/// and control characters become `_`, and a leading dot is escaped so nothing is
/// hidden. A name that could not be a folder as it is (reserved, such as
/// `manifest.json`, or too long) is shortened and given a hash of the whole name, so two
/// names never share a folder. The user's names stay as they are in every manifest;
/// only the folder differs.
pub fn folder_name(name: &str) -> String {
    let name = &class_name(name);
    let mut safe: String =
        name.chars().map(|c| if c == '/' || c == '\\' || c.is_control() { '_' } else { c }).collect();
    if safe.is_empty() || safe.starts_with('.') {
        safe.insert(0, '_');
    }
    let reserved = RESERVED_NAMES.iter().any(|r| r.eq_ignore_ascii_case(&safe));
    if !reserved && safe.len() <= MAX_FOLDER_NAME {
        return safe;
    }
    let mut end = safe.len().min(MAX_FOLDER_NAME - 17);
    while !safe.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}-{}", &safe[..end], &sha256_hex(name.as_bytes())[..16])
}

/// The lowercase hex SHA-256 of `bytes`: how manifests identify file contents.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Reads and parses a JSON manifest.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, ManifestError> {
    let bytes = std::fs::read(path).map_err(|e| ManifestError::io(path, e))?;
    parse_json(path, &bytes)
}

/// Parses a manifest already read from `path` (for a caller that also needs its bytes).
pub fn parse_json<T: DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T, ManifestError> {
    serde_json::from_slice(bytes).map_err(|source| ManifestError::Json { path: path.to_owned(), source })
}

/// Serialises `value` as pretty JSON and writes it atomically to `path`.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<(), ManifestError> {
    let mut bytes =
        serde_json::to_vec_pretty(value).map_err(|source| ManifestError::Json { path: path.to_owned(), source })?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// A temporary file in `dir`, to be renamed into place once complete. It gets the
/// permissions of any new file (0666 less the umask), not tempfile's private 0600, which
/// the rename would otherwise give every manifest, image and index file.
pub fn staging_file_in(dir: &Path, prefix: &str) -> std::io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix);
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    builder.tempfile_in(dir)
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename,
/// creating the folder if needed: a reader or a killed process never sees a partial
/// file under `path`. (No fsync: this guards against crashes of picseek, not of the
/// machine, and syncing every downloaded image would cost more than it protects.)
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ManifestError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| ManifestError::io(dir, e))?;
    let mut tmp = staging_file_in(dir, TEMPORARY_PREFIX).map_err(|e| ManifestError::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| ManifestError::io(path, e))?;
    tmp.persist(path).map_err(|e| ManifestError::io(path, e.error))?;
    Ok(())
}

/// Puts `src` at `dest` as a hard link (a copy across file systems) made under a
/// temporary name and renamed, so `dest` is never a partial file.
pub fn place_file(src: &Path, dest: &Path) -> Result<(), ManifestError> {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dest.with_file_name(format!("{TEMPORARY_PREFIX}{name}"));
    let _ = std::fs::remove_file(&tmp);
    if std::fs::hard_link(src, &tmp).is_err() {
        std::fs::copy(src, &tmp).map_err(|e| ManifestError::io(src, e))?;
    }
    std::fs::rename(&tmp, dest).map_err(|e| ManifestError::io(dest, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_round_trips_and_leaves_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/manifest.json");
        write_json_atomic(&path, &vec![1, 2, 3]).unwrap();
        write_json_atomic(&path, &vec![4, 5]).unwrap();
        let back: Vec<i32> = read_json(&path).unwrap();
        assert_eq!(back, vec![4, 5]);
        let names: Vec<_> =
            std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("manifest.json")]);
    }

    #[cfg(unix)]
    #[test]
    fn atomic_writes_get_the_permissions_of_any_new_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mode = |name: &str| std::fs::metadata(dir.path().join(name)).unwrap().permissions().mode() & 0o777;
        std::fs::write(dir.path().join("plain"), b"x").unwrap();
        write_atomic(&dir.path().join("atomic"), b"x").unwrap();
        assert_eq!(mode("atomic"), mode("plain"));
    }

    #[test]
    fn a_word_typed_in_nfd_is_the_same_class_as_in_nfc() {
        // "Phở": precomposed, and as o, a horn and a hook above.
        let nfc = "Ph\u{1edf}";
        let nfd = "Pho\u{31b}\u{309}";
        assert_ne!(nfc, nfd);
        assert_eq!(class_name(nfd), class_name(nfc));
        assert_eq!(folder_name(nfd), folder_name(nfc));
    }

    #[test]
    fn folder_names_are_safe() {
        assert_eq!(folder_name("a/b"), "a_b");
        assert_eq!(folder_name(".hidden"), "_.hidden");
        assert_eq!(folder_name(""), "_");
        assert_eq!(folder_name("Red fox"), "Red fox");
    }

    #[test]
    fn reserved_and_long_names_get_folders_of_their_own() {
        let manifest = folder_name("manifest.json");
        assert_ne!(manifest, "manifest.json");
        assert!(manifest.starts_with("manifest.json-"), "{manifest}");
        assert_ne!(folder_name("Manifest.JSON"), manifest, "names that differ keep different folders");
        let long = "ä".repeat(300);
        let folder = folder_name(&long);
        assert!(folder.len() <= MAX_FOLDER_NAME, "{}", folder.len());
        assert_ne!(folder, folder_name(&"ä".repeat(301)));
        assert_eq!(folder, folder_name(&long), "the same name, the same folder");
    }

    #[test]
    fn malformed_json_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        std::fs::write(&path, b"{not json").unwrap();
        let err = read_json::<Vec<i32>>(&path).unwrap_err().to_string();
        assert!(err.contains("bad.json") && err.contains("not a valid manifest"), "{err}");
    }
}
