//! Every path of the data directory, named once. Stages take their paths as options (so
//! a user can point any of them elsewhere); the defaults, the binary and the readers of
//! several stages' files (report, doctor) ask [`DataDir`] for them, and the names of the
//! files a stage keeps inside its own folder are the associated functions here.

use std::path::{Path, PathBuf};

/// The data directory: `urls.json`, `raw/`, `clean/`, `train/`, `test/`, `provenance/`,
/// `split.json`, `index/`, `eval-models/`, `opt-outs/` and `report.html`. [`Default`] is the working directory
/// itself (paths as the stages' own defaults spell them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The file name of download's and clean's manifest in their folders.
    pub const STAGE_MANIFEST: &str = "manifest.json";
    /// The file name of the index's manifest in its folder.
    pub const INDEX_MANIFEST: &str = "index.json";
    /// The embedding cache's folder in the index folder (and in a shard's).
    pub const EMBEDDING_CACHE: &str = "cache";
    /// The split's manifest, in the data directory.
    pub const SPLIT_MANIFEST: &str = "split.json";

    /// The data directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// crawl's output: the photo URLs by category and term.
    pub fn urls(&self) -> PathBuf {
        self.root.join("urls.json")
    }

    /// download's output.
    pub fn raw(&self) -> PathBuf {
        self.root.join("raw")
    }

    /// clean's output: the kept images, `<class>/<image>`.
    pub fn clean(&self) -> PathBuf {
        self.root.join("clean")
    }

    /// split's training side.
    pub fn train(&self) -> PathBuf {
        self.root.join("train")
    }

    /// split's test side.
    pub fn test(&self) -> PathBuf {
        self.root.join("test")
    }

    /// split's manifest.
    pub fn split_manifest(&self) -> PathBuf {
        self.root.join(Self::SPLIT_MANIFEST)
    }

    /// The index folder.
    pub fn index(&self) -> PathBuf {
        self.root.join("index")
    }

    /// The hosts' robots.txt and tdmrep.json files as crawl and download last read them,
    /// one file per origin (reused for a day, as RFC 9309 allows).
    pub fn opt_out_cache(&self) -> PathBuf {
        self.root.join("opt-outs")
    }

    /// The opt-outs a download (or a shard of it) met, per host, in `stage_dir`.
    pub fn opt_out_summary(stage_dir: &Path) -> PathBuf {
        stage_dir.join("opt-outs.json")
    }

    /// `eval --model A --model B`'s indexes of the training side, one folder per model
    /// (each with its embedding cache, so a later comparison embeds only new images).
    pub fn model_trials(&self) -> PathBuf {
        self.root.join("eval-models")
    }

    /// report's page.
    pub fn report_page(&self) -> PathBuf {
        self.root.join("report.html")
    }

    /// The manifest download or clean keeps in `stage_dir` (`raw/`, `clean/`, or a shard's folder).
    pub fn stage_manifest(stage_dir: &Path) -> PathBuf {
        stage_dir.join(Self::STAGE_MANIFEST)
    }

    /// The manifest of the index in `index_dir`.
    pub fn index_manifest(index_dir: &Path) -> PathBuf {
        index_dir.join(Self::INDEX_MANIFEST)
    }

    /// The embedding cache folder of `owner_dir` (the index folder, or a shard's).
    pub fn embedding_cache(owner_dir: &Path) -> PathBuf {
        owner_dir.join(Self::EMBEDDING_CACHE)
    }

    /// serve's thumbnails of the images of the index in `index_dir`.
    pub fn thumbnails(index_dir: &Path) -> PathBuf {
        index_dir.join("thumbnails")
    }

    /// crawl's record of each term, beside the URLs file `urls`.
    pub fn crawl_log(urls: &Path) -> PathBuf {
        urls.with_file_name("crawl.json")
    }

    /// split's list of every image's credit, in `folder` (beside the sides).
    pub fn attribution(folder: &Path) -> PathBuf {
        folder.join("attribution.json")
    }

    /// split's credits page, in `folder` (beside the sides).
    pub fn credits_page(folder: &Path) -> PathBuf {
        folder.join("CREDITS.md")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_under_the_root_and_the_default_is_relative() {
        let data = DataDir::new("/d");
        assert_eq!(data.index(), Path::new("/d/index"));
        assert_eq!(DataDir::index_manifest(&data.index()), Path::new("/d/index/index.json"));
        assert_eq!(DataDir::default().raw(), Path::new("raw"));
        assert_eq!(DataDir::stage_manifest(&DataDir::default().clean()), Path::new("clean/manifest.json"));
    }
}
