//! Finding the files of `raw/` and their category and term.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use picseek_imaging::{ImageError, list_images};
use picseek_manifest::{ClassNaming, DownloadManifest, PhotoSource, class_name, read_json};

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

/// Every input file, in path order. A download's `raw/` (it has `manifest.json`) is read
/// as `raw/<category>/<term>/<file>`, the names of category and term and the photo's
/// provenance coming from the manifest where it records the file (folder names are
/// made safe for the file system), else from the folders. Any other folder is a folder
/// of one's own, in any layout: each image's class comes from `naming`, and its category
/// is the folder above its class folder, if any.
pub(crate) fn list_inputs(raw: &Path, naming: ClassNaming) -> Result<Vec<Input>, ImageError> {
    let manifest_path = picseek_manifest::DataDir::stage_manifest(raw);
    if !manifest_path.exists() {
        return own_folder(raw, naming);
    }
    let names: HashMap<String, (String, String, Option<PhotoSource>)> =
        match read_json::<DownloadManifest>(&manifest_path) {
            Ok(records) => {
                records.into_iter().filter_map(|r| Some((r.path?, (r.category, r.term, r.provenance)))).collect()
            }
            Err(e) => {
                tracing::warn!("{e}; taking categories and terms from folder names");
                HashMap::new()
            }
        };
    let mut inputs = Vec::new();
    for category_dir in sorted_entries(raw)?.into_iter().filter(|p| p.is_dir()) {
        for term_dir in sorted_entries(&category_dir)?.into_iter().filter(|p| p.is_dir()) {
            for path in sorted_entries(&term_dir)?.into_iter().filter(|p| p.is_file()) {
                let source = relative(raw, &path);
                let folder = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let (category, class, provenance) =
                    names.get(&source).cloned().unwrap_or_else(|| (folder(&category_dir), folder(&term_dir), None));
                let (category, class) = (class_name(&category), class_name(&class));
                inputs.push(Input { source, path, category, class, provenance });
            }
        }
    }
    Ok(inputs)
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).to_string_lossy().replace('\\', "/")
}

/// A folder of one's own: every image under it, at any depth.
fn own_folder(dir: &Path, naming: ClassNaming) -> Result<Vec<Input>, ImageError> {
    let listing = list_images(dir, naming)?;
    for (path, reason) in &listing.problems {
        tracing::warn!("{}: {reason}", path.display());
    }
    let mut inputs: Vec<Input> = listing
        .classes
        .into_iter()
        .flat_map(|class| {
            class.files.into_iter().map(move |path| {
                let source = relative(dir, &path);
                let parts: Vec<&str> = source.split('/').collect();
                let category = if parts.len() >= 3 { class_name(parts[parts.len() - 3]) } else { String::new() };
                Input { source, path, category, class: class.class.clone(), provenance: None }
            })
        })
        .collect();
    inputs.sort_by(|a, b| a.source.cmp(&b.source));
    Ok(inputs)
}
