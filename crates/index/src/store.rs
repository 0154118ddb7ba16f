//! A finished index opened for searching: `index.json`, its memory-mapped rows and
//! graphs, and the query embedder that matches it.

use std::path::{Path, PathBuf};

use memmap2::Mmap;
use picseek_embed::{EmbedderSettings, EmbeddingIdentity, ModelOptions, PixelEmbedder, QueryEmbedder, clip_identity};
use picseek_manifest::{DataDir, Dtype, EmbedderKind, IndexManifest, Metric, read_json};

use crate::{FORMAT_VERSION, IndexError, io_error};
use picseek_ann::{AnnError, candidate_count, open_graph};

/// A finished index, opened for searching: `index.json`, its memory-mapped vectors and
/// its approximate-search graphs (memory-mapped too).
pub struct Index {
    dir: PathBuf,
    manifest: IndexManifest,
    vectors: Option<Mmap>,
    graphs: Vec<(Metric, usearch::Index)>,
}

impl Index {
    /// Opens the index in `dir`, checking that its files match `index.json`.
    pub fn open(dir: &Path) -> Result<Self, IndexError> {
        let manifest_path = DataDir::index_manifest(dir);
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
        if manifest.vectors.dtype != manifest.embedder.dtype() {
            return Err(damaged(format!(
                "{} vectors of type {} are not supported by this picseek",
                manifest.embedder, manifest.vectors.dtype
            )));
        }
        let element_size = manifest.vectors.dtype.size();
        if manifest.embedder == EmbedderKind::Pixel {
            let side = u64::from(manifest.image_size);
            if !(1..=u64::from(PixelEmbedder::MAX_SIZE)).contains(&side) || manifest.dimension as u64 != 3 * side * side
            {
                return Err(damaged(format!(
                    "a pixel index of image size {} and dimension {} (the size must be 1 to {}, the dimension 3 x size x size)",
                    manifest.image_size,
                    manifest.dimension,
                    PixelEmbedder::MAX_SIZE
                )));
            }
        }
        let vectors_path = dir.join(&manifest.vectors.file);
        let file = std::fs::File::open(&vectors_path).map_err(io_error(&vectors_path))?;
        let len = file.metadata().map_err(io_error(&vectors_path))?.len();
        let expected = (manifest.items.len() as u64)
            .checked_mul(manifest.dimension as u64)
            .and_then(|n| n.checked_mul(element_size as u64))
            .ok_or_else(|| damaged(format!("dimension {} is out of range", manifest.dimension)))?;
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
        let mut graphs = Vec::new();
        for record in &manifest.ann {
            let space = record.space;
            if !space.has_graph_space() {
                return Err(damaged(format!("{} is a graph for {space}, which has none", record.file)));
            }
            let graph = open_graph(&dir.join(&record.file), record.expansion_search)?;
            if graph.size() != manifest.items.len() || graph.dimensions() != manifest.dimension {
                return Err(damaged(format!(
                    "{} holds {} vectors of dimension {}; index.json lists {} of dimension {}",
                    record.file,
                    graph.size(),
                    graph.dimensions(),
                    manifest.items.len(),
                    manifest.dimension
                )));
            }
            graphs.push((space, graph));
        }
        Ok(Self { dir: dir.to_owned(), manifest, vectors, graphs })
    }

    /// The index folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The parsed `index.json`.
    pub fn manifest(&self) -> &IndexManifest {
        &self.manifest
    }

    /// How many items (rows) the index holds.
    pub fn len(&self) -> usize {
        self.manifest.items.len()
    }

    /// Whether the index holds no item.
    pub fn is_empty(&self) -> bool {
        self.manifest.items.is_empty()
    }

    fn bytes(&self) -> &[u8] {
        self.vectors.as_deref().unwrap_or_default()
    }

    /// All pixel vectors, row after row (`len() * dimension` values); empty for a CLIP index.
    pub fn u8_vectors(&self) -> &[u8] {
        if self.manifest.vectors.dtype == Dtype::U8 { self.bytes() } else { &[] }
    }

    /// The pixel vector of item `i`.
    pub fn u8_vector(&self, i: usize) -> &[u8] {
        let d = self.manifest.dimension;
        &self.u8_vectors()[i * d..(i + 1) * d]
    }

    /// All CLIP vectors, row after row; empty for a pixel index.
    pub fn f32_vectors(&self) -> &[f32] {
        // The map is page-aligned, so the cast cannot fail on alignment.
        if self.manifest.vectors.dtype == Dtype::F32 { bytemuck::cast_slice(self.bytes()) } else { &[] }
    }

    /// The CLIP vector of item `i`.
    pub fn f32_vector(&self, i: usize) -> &[f32] {
        let d = self.manifest.dimension;
        &self.f32_vectors()[i * d..(i + 1) * d]
    }

    /// Row `i` as stored.
    pub(crate) fn row_bytes(&self, i: usize) -> &[u8] {
        let size = self.bytes().len() / self.len().max(1);
        &self.bytes()[i * size..(i + 1) * size]
    }

    /// The graph `metric` is searched through: none when there is none, or while the
    /// index holds fewer items than the `exact_below` recorded with it (exact search is
    /// as fast there).
    fn graph(&self, metric: Metric) -> Option<&usearch::Index> {
        let (_, graph) = self.graphs.iter().find(|(s, _)| *s == metric)?;
        self.graph_used_from(metric).is_none().then_some(graph)
    }

    /// Whether `metric` is searched through a graph (else exactly).
    pub fn has_graph(&self, metric: Metric) -> bool {
        self.graph(metric).is_some()
    }

    /// The size `metric`'s graph is used from, when the index is smaller (so it is
    /// searched exactly).
    pub fn graph_used_from(&self, metric: Metric) -> Option<usize> {
        let record = self.manifest.ann.iter().find(|a| a.space == metric)?;
        (self.len() < record.exact_below).then_some(record.exact_below)
    }

    /// Approximate search: the rows (item positions) the graph of `metric` finds
    /// closest to `query`, more than `k` of them so that exact rescoring from the rows
    /// can put right what quantisation and the graph got slightly wrong, keeping only
    /// rows that `keep` accepts. `None` when the index has no graph for `metric`.
    pub fn graph_candidates(
        &self,
        metric: Metric,
        query: &[f32],
        k: usize,
        keep: Option<&dyn Fn(usize) -> bool>,
    ) -> Result<Option<Vec<usize>>, IndexError> {
        let Some(graph) = self.graph(metric) else { return Ok(None) };
        if query.len() != self.manifest.dimension {
            return Err(IndexError::QueryWidth { got: query.len(), expected: self.manifest.dimension });
        }
        let count = candidate_count(k).min(self.len().max(1));
        let found = match keep {
            None => graph.search(query, count),
            Some(keep) => graph.filtered_search(query, count, |key| keep(key as usize)),
        }
        .map_err(|e| AnnError::File { path: self.dir.clone(), reason: e.to_string() })?;
        Ok(Some(found.keys.iter().map(|&key| key as usize).filter(|&i| i < self.len()).collect()))
    }

    /// Where the image of item `i` is, as a path usable from the current directory.
    pub fn item_path(&self, i: usize) -> PathBuf {
        data_root(&self.dir).join(&self.manifest.items[i].path)
    }

    /// How the index's vectors were made (embedder, model file, preprocessing): what a
    /// run or a query must match to use them.
    pub fn identity(&self) -> EmbeddingIdentity {
        EmbeddingIdentity::of_manifest(&self.manifest)
    }

    /// The embedder that makes query vectors comparable with this index's rows. For a
    /// CLIP index it uses the model `model` names, or the one the index was built with
    /// ([`ModelOptions::resolved`]), checking that it is that model; the model itself is
    /// loaded by the first query that needs it (a pixel index runs no model and ignores
    /// `model`).
    pub fn query_embedder(&self, model: &ModelOptions) -> Result<QueryEmbedder, IndexError> {
        let dimension = self.manifest.dimension;
        if self.manifest.embedder == EmbedderKind::Pixel {
            let settings = EmbedderSettings::Pixel { size: self.manifest.image_size };
            return Ok(QueryEmbedder::new(settings, None, dimension));
        }
        let Some(recorded) = &self.manifest.model else {
            return Err(IndexError::Damaged {
                path: self.dir.clone(),
                reason: "a CLIP index that names no model".into(),
            });
        };
        let options = model.resolved(Some((&self.dir, recorded)))?;
        // Only the identity is checked here; each encoder loads when a query needs it.
        let (found, preprocessing) = clip_identity(&options.files())?;
        let wanted = EmbeddingIdentity::new(EmbedderKind::Clip, Some(&found), &preprocessing);
        if let Some(difference) = self.identity().difference(&wanted) {
            return Err(IndexError::ModelMismatch {
                path: self.dir.clone(),
                built_with: recorded.name.clone(),
                model_dir: options.dir().to_owned(),
                difference: Box::new(difference),
            });
        }
        Ok(QueryEmbedder::new(EmbedderSettings::Clip(ModelOptions { batch: 1, ..options }), Some(found), dimension))
    }
}

/// The folder that item paths are relative to: the one holding the index folder.
pub(crate) fn data_root(index_dir: &Path) -> &Path {
    index_dir.parent().unwrap_or(Path::new(""))
}
