//! Finding the files of `raw/` and their category and term.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use picseek_imaging::ImageError;
use picseek_manifest::{DownloadManifest, PhotoSource, read_json};

/// One file of `raw/`.
pub(crate) struct Input {
    /// Relative to `raw/`, with `/` separators.
    pub source: String,
    pub path: PathBuf,
    pub category: String,
    /// The term: the image's class.
    pub class: String,
    /// Where the photo came from, as its download record says.
    pub provenance: Option<PhotoSource>,
}

fn is_hidden(name: &str) -> bool {
    name.starts_with('.')
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, ImageError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| ImageError::Unreadable { path: dir.to_owned(), source })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !p.file_name().is_some_and(|n| is_hidden(&n.to_string_lossy())))
        .collect();
    entries.sort();
    Ok(entries)
}

/// Every file `raw/<category>/<term>/<file>`, in path order. The names of category and
/// term, and the photo's provenance, come from `raw/manifest.json` where it records the
/// file (folder names are made safe for the file system), else from the folders.
pub(crate) fn list_inputs(raw: &Path) -> Result<Vec<Input>, ImageError> {
    let manifest_path = raw.join("manifest.json");
    let names: HashMap<String, (String, String, Option<PhotoSource>)> =
        match read_json::<DownloadManifest>(&manifest_path) {
            Ok(records) => {
                records.into_iter().filter_map(|r| Some((r.path?, (r.category, r.term, r.provenance)))).collect()
            }
            Err(e) => {
                if manifest_path.exists() {
                    tracing::warn!("{e}; taking categories and terms from folder names");
                }
                HashMap::new()
            }
        };
    let mut inputs = Vec::new();
    for category_dir in sorted_entries(raw)?.into_iter().filter(|p| p.is_dir()) {
        for term_dir in sorted_entries(&category_dir)?.into_iter().filter(|p| p.is_dir()) {
            for path in sorted_entries(&term_dir)?.into_iter().filter(|p| p.is_file()) {
                let source = path.strip_prefix(raw).unwrap_or(&path).to_string_lossy().replace('\\', "/");
                let folder = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let (category, class, provenance) =
                    names.get(&source).cloned().unwrap_or_else(|| (folder(&category_dir), folder(&term_dir), None));
                inputs.push(Input { source, path, category, class, provenance });
            }
        }
    }
    Ok(inputs)
}
