use std::path::{Path, PathBuf};

use memmap2::Mmap;
use picseek_imaging::DEFAULT_MAX_DECODE_BYTES;
use picseek_manifest::{IndexManifest, read_json};

use crate::{FORMAT_VERSION, IndexError, PixelEmbedder, io_error};

pub(crate) const MANIFEST_FILE: &str = "index.json";

/// A finished index, opened for searching: `index.json` plus its memory-mapped vectors.
#[derive(Debug)]
pub struct Index {
    dir: PathBuf,
    manifest: IndexManifest,
    vectors: Option<Mmap>,
}

impl Index {
    /// Opens the index in `dir`, checking that its vector file matches `index.json`.
    pub fn open(dir: &Path) -> Result<Self, IndexError> {
        let manifest_path = dir.join(MANIFEST_FILE);
        if !manifest_path.exists() {
            return Err(IndexError::Missing { path: dir.to_owned() });
        }
        let manifest: IndexManifest = read_json(&manifest_path)?;
        let damaged = |reason: String| IndexError::Damaged { path: dir.to_owned(), reason };
        if manifest.format_version != FORMAT_VERSION {
            return Err(damaged(format!(
                "format version {} (this picseek reads {FORMAT_VERSION})",
                manifest.format_version
            )));
        }
        if manifest.vectors.dtype != "u8" || manifest.embedder != "pixel" {
            return Err(damaged(format!(
                "{} vectors of type {} are not supported by this picseek",
                manifest.embedder, manifest.vectors.dtype
            )));
        }
        let vectors_path = dir.join(&manifest.vectors.file);
        let file = std::fs::File::open(&vectors_path).map_err(io_error(&vectors_path))?;
        let len = file.metadata().map_err(io_error(&vectors_path))?.len();
        let expected = (manifest.items.len() * manifest.dimension) as u64;
        if len != expected {
            return Err(damaged(format!(
                "{} has {len} bytes; {} items of dimension {} need {expected}",
                manifest.vectors.file,
                manifest.items.len(),
                manifest.dimension
            )));
        }
        // SAFETY: the index files are only ever replaced by rename, never written in
        // place, so the mapped file does not change under us.
        let vectors = if len == 0 { None } else { Some(unsafe { Mmap::map(&file) }.map_err(io_error(&vectors_path))?) };
        Ok(Self { dir: dir.to_owned(), manifest, vectors })
    }

    pub fn manifest(&self) -> &IndexManifest {
        &self.manifest
    }

    pub fn len(&self) -> usize {
        self.manifest.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.manifest.items.is_empty()
    }

    /// All vectors, row after row (`len() * dimension` values).
    pub fn u8_vectors(&self) -> &[u8] {
        self.vectors.as_deref().unwrap_or_default()
    }

    /// The vector of item `i`.
    pub fn u8_vector(&self, i: usize) -> &[u8] {
        let d = self.manifest.dimension;
        &self.u8_vectors()[i * d..(i + 1) * d]
    }

    /// Where the image of item `i` is, as a path usable from the current directory.
    pub fn item_path(&self, i: usize) -> PathBuf {
        data_root(&self.dir).join(&self.manifest.items[i].path)
    }

    /// The embedder that makes query vectors comparable with this index's vectors.
    pub fn query_embedder(&self) -> PixelEmbedder {
        PixelEmbedder::new(self.manifest.image_size, DEFAULT_MAX_DECODE_BYTES)
    }
}

/// The folder that item paths are relative to: the one holding the index folder.
pub(crate) fn data_root(index_dir: &Path) -> &Path {
    index_dir.parent().unwrap_or(Path::new(""))
}
