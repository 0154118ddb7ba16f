use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use picseek_imaging::{ImageError, list_class_images, read_image_file};
use picseek_manifest::{IndexItem, IndexManifest, SkippedFile, VectorFile, sha256_hex, write_json_atomic};
use rayon::prelude::*;

use crate::store::{Index, MANIFEST_FILE, data_root};
use crate::{EmbedderChoice, FORMAT_VERSION, IndexError, PixelEmbedder, io_error};

/// Images decoded at once: enough to keep every core busy, few enough to bound memory.
const EMBED_BATCH: usize = 64;

#[derive(Debug, Clone)]
pub struct IndexOptions {
    /// The `<class>/<image>` folder to index.
    pub train: PathBuf,
    /// The index folder (`index/`).
    pub index_dir: PathBuf,
    pub embedder: EmbedderChoice,
    pub max_decode_bytes: u64,
    /// Start afresh instead of extending (or refusing) an existing index.
    pub rebuild: bool,
}

/// What an index run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexReport {
    pub items: usize,
    /// Images embedded in this run.
    pub embedded: usize,
    /// Images whose vector was taken from the previous index.
    pub reused: usize,
    /// Files that could not be embedded, with the reason.
    pub skipped: Vec<SkippedFile>,
}

enum Embedded {
    Reused { row: usize },
    New { vector: Vec<u8> },
}

/// Builds or extends the index: see the crate documentation.
pub fn build_index(opts: &IndexOptions) -> Result<IndexReport, IndexError> {
    let EmbedderChoice::Pixel { size } = opts.embedder;
    let embedder = PixelEmbedder::new(size, opts.max_decode_bytes);
    let previous = previous_index(opts, &embedder)?;
    let reusable: HashMap<&str, usize> = previous
        .as_ref()
        .map(|p| p.manifest().items.iter().enumerate().map(|(row, item)| (item.sha256.as_str(), row)).collect())
        .unwrap_or_default();

    let listing = list_class_images(&opts.train)?;
    let mut report = IndexReport::default();
    for (path, reason) in &listing.problems {
        skip(&mut report, path, "not_an_item", &format!("{}: {reason}", path.display()));
    }
    let mut files = Vec::new();
    for class in &listing.classes {
        if class.files.is_empty() {
            let dir = opts.train.join(&class.class);
            skip(&mut report, &dir, "empty_class", &format!("{}: empty class folder", dir.display()));
        }
        files.extend(class.files.iter().map(|f| (class.class.as_str(), f.as_path())));
    }

    std::fs::create_dir_all(&opts.index_dir).map_err(io_error(&opts.index_dir))?;
    let root = std::path::absolute(data_root(&opts.index_dir)).map_err(io_error(&opts.index_dir))?;
    let mut vectors = tempfile::Builder::new()
        .prefix(".picseek-tmp-vectors-")
        .tempfile_in(&opts.index_dir)
        .map_err(io_error(&opts.index_dir))?;
    let vectors_tmp_path = vectors.path().to_owned();
    let mut writer = std::io::BufWriter::new(vectors.as_file_mut());
    let mut items = Vec::new();
    let progress = ProgressBar::new(files.len() as u64).with_message("embedding");
    progress.set_style(
        ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} [{elapsed} < {eta}]").expect("valid template"),
    );
    for batch in files.chunks(EMBED_BATCH) {
        let results: Vec<Result<(String, Embedded), ImageError>> = batch
            .par_iter()
            .map(|(_, path)| {
                let bytes = read_image_file(path)?;
                let sha = sha256_hex(&bytes);
                let embedded = match reusable.get(sha.as_str()) {
                    Some(&row) => Embedded::Reused { row },
                    None => Embedded::New { vector: embedder.embed_bytes(path, &bytes)? },
                };
                Ok((sha, embedded))
            })
            .collect();
        for ((class, path), result) in batch.iter().zip(results) {
            match result {
                Ok((sha256, embedded)) => {
                    let row = match &embedded {
                        Embedded::Reused { row } => {
                            report.reused += 1;
                            previous.as_ref().map_or(&[][..], |p| p.u8_vector(*row))
                        }
                        Embedded::New { vector } => {
                            report.embedded += 1;
                            vector.as_slice()
                        }
                    };
                    writer.write_all(row).map_err(io_error(&vectors_tmp_path))?;
                    items.push(IndexItem {
                        key: items.len() as u64,
                        path: relative_to_root(&root, path)?,
                        class: class.to_string(),
                        sha256,
                    });
                }
                Err(e) => skip(&mut report, path, e.reason_code(), &e.to_string()),
            }
            progress.inc(1);
        }
    }
    progress.finish_and_clear();
    writer.flush().map_err(io_error(&vectors_tmp_path))?;
    drop(writer);
    if items.is_empty() {
        return Err(IndexError::NothingIndexed { path: opts.train.clone(), skipped: report.skipped.len() });
    }

    let vectors_name = format!("vectors-{}.u8", &sha256_hex(&rows_digest(&items))[..16]);
    let vectors_path = opts.index_dir.join(&vectors_name);
    vectors.persist(&vectors_path).map_err(|e| IndexError::Io { path: vectors_path.clone(), source: e.error })?;
    report.items = items.len();
    let manifest = IndexManifest {
        format_version: FORMAT_VERSION,
        embedder: "pixel".into(),
        model: None,
        preprocessing: embedder.preprocessing(),
        image_size: embedder.size(),
        dimension: embedder.dimension(),
        vectors: VectorFile { file: vectors_name.clone(), dtype: "u8".into() },
        items,
        skipped: report.skipped.clone(),
    };
    write_json_atomic(&opts.index_dir.join(MANIFEST_FILE), &manifest)?;
    drop(previous);
    remove_replaced_vector_files(&opts.index_dir, &vectors_name);
    Ok(report)
}

/// The existing index to extend, if any; refuses one made another way.
fn previous_index(opts: &IndexOptions, embedder: &PixelEmbedder) -> Result<Option<Index>, IndexError> {
    if opts.rebuild || !opts.index_dir.join(MANIFEST_FILE).exists() {
        return Ok(None);
    }
    let previous = Index::open(&opts.index_dir)?;
    let found = format!("{} embedder, {}", previous.manifest().embedder, previous.manifest().preprocessing);
    let wanted = format!("pixel embedder, {}", embedder.preprocessing());
    if found != wanted {
        return Err(IndexError::Mismatch { path: opts.index_dir.clone(), found, wanted });
    }
    Ok(Some(previous))
}

/// Names the vector file after its rows, so a re-run that changes nothing keeps it.
fn rows_digest(items: &[IndexItem]) -> Vec<u8> {
    items.iter().flat_map(|i| i.sha256.bytes().chain(std::iter::once(b'\n'))).collect()
}

/// Deletes vector files of earlier runs (and of runs killed before they committed).
fn remove_replaced_vector_files(index_dir: &Path, current: &str) {
    let Ok(entries) = std::fs::read_dir(index_dir) else { return };
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let is_vectors = name.starts_with("vectors-") || name.starts_with(".picseek-tmp-vectors-");
        if is_vectors
            && name != current
            && let Err(e) = std::fs::remove_file(&path)
        {
            tracing::warn!("could not remove the replaced vector file {}: {e}", path.display());
        }
    }
}

/// Records a file that is not indexed (`reason` is a short code; `message` says it all).
fn skip(report: &mut IndexReport, path: &Path, reason: &str, message: &str) {
    tracing::warn!("skipped {message}");
    report.skipped.push(SkippedFile { path: path.display().to_string(), reason: reason.to_owned() });
}

fn relative_to_root(root: &Path, path: &Path) -> Result<String, IndexError> {
    let abs = std::path::absolute(path).map_err(io_error(path))?;
    Ok(abs.strip_prefix(root).unwrap_or(&abs).display().to_string())
}
