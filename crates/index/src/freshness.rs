//! Whether an index still describes the folder it was built from: files added to it,
//! removed from it or changed since the build. Readers (eval, search, serve) use it so
//! that nobody scores or browses a stale index without being told.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::SystemTime;

use picseek_imaging::list_images;

use crate::store::{Index, data_root};

/// How the indexed folder differs from the index.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct FolderChanges {
    /// The folder.
    pub folder: PathBuf,
    /// Images in the folder that the index does not hold (nor skipped).
    pub added: usize,
    /// Items whose file is gone.
    pub removed: usize,
    /// Items whose file was written after the index was.
    pub modified: usize,
}

impl FolderChanges {
    /// Whether anything changed.
    pub fn any(&self) -> bool {
        self.added + self.removed + self.modified > 0
    }

    /// The changes, for people: "3 added, 1 removed".
    pub fn describe(&self) -> String {
        let parts: Vec<String> = [(self.added, "added"), (self.removed, "removed"), (self.modified, "changed")]
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect();
        parts.join(", ")
    }
}

impl Index {
    /// How the folder this index was built from has changed since; `None` when the
    /// index does not record its folder (made by an older picseek) or the folder cannot
    /// be listed.
    pub fn folder_changes(&self) -> Option<FolderChanges> {
        let recorded = self.manifest().folder.as_ref()?;
        let root = data_root(self.dir());
        let folder = root.join(&recorded.path);
        let listing = list_images(&folder, recorded.classes).ok()?;
        let built =
            std::fs::metadata(picseek_manifest::DataDir::index_manifest(self.dir())).and_then(|m| m.modified()).ok()?;
        let absolute_root = std::path::absolute(root).ok()?;
        let relative = |path: &std::path::Path| {
            let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
            absolute.strip_prefix(&absolute_root).unwrap_or(&absolute).display().to_string()
        };
        let known: HashSet<&str> = self
            .manifest()
            .items
            .iter()
            .map(|i| i.path.as_str())
            .chain(self.manifest().skipped.iter().map(|s| s.path.as_str()))
            .collect();
        let mut changes = FolderChanges { folder, ..FolderChanges::default() };
        let mut listed = HashSet::new();
        for path in listing.classes.iter().flat_map(|c| &c.files) {
            let name = relative(path);
            if !known.contains(name.as_str()) && !known.contains(path.display().to_string().as_str()) {
                changes.added += 1;
            }
            listed.insert(name);
        }
        for item in &self.manifest().items {
            match std::fs::metadata(root.join(&item.path)).and_then(|m| m.modified()) {
                Err(_) => changes.removed += 1,
                Ok(written) if newer(written, built) => changes.modified += 1,
                Ok(_) => {}
            }
        }
        Some(changes)
    }
}

/// Whether `written` is later than `built` by more than file systems' timestamp slack.
fn newer(written: SystemTime, built: SystemTime) -> bool {
    written.duration_since(built).is_ok_and(|d| d.as_millis() > 1)
}
