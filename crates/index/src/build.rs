//! Building an index: listing the folder, embedding what is new (or reusing rows and
//! cached vectors by image SHA-256), the graphs, and committing `index.json` last; the
//! shards' part and their merge.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use picseek_imaging::{ImageError, list_images, read_image_file};
use picseek_manifest::progress::Reporter;
use picseek_manifest::{
    ClassNaming, DataDir, Dtype, FolderProvenance, IndexItem, IndexManifest, IndexedFolder, InvalidOption, Metric,
    OLD_PROVENANCE_FILE, PhotoSource, Shard, SkippedFile, TEMPORARY_PREFIX, VectorFile, input_fingerprint,
    provenance_path, read_json, sha256_hex, shards_to_merge, staging_file_in, write_json_atomic,
};
use rayon::prelude::*;
use serde::Serialize;

use picseek_embed::{Embedder, EmbedderSettings, EmbeddingCache, ModelOptions, PixelEmbedder, Prepared, Vector};

use crate::store::{Index, data_root};
use crate::{AnnChoices, AnnSettings, FORMAT_VERSION, IndexError, io_error};
use picseek_ann::build_graph;

/// Where the indexed folder's images came from (written by split, beside it); nothing
/// for a folder from elsewhere.
struct Provenance(FolderProvenance);

impl Provenance {
    fn read(folder: &Path) -> Self {
        let path = [provenance_path(folder), folder.join(OLD_PROVENANCE_FILE)].into_iter().find(|p| p.is_file());
        let Some(path) = path else {
            return Self(FolderProvenance::new());
        };
        match read_json(&path) {
            Ok(provenance) => Self(provenance),
            Err(e) => {
                tracing::warn!("{e}; the index will not know where its images came from");
                Self(FolderProvenance::new())
            }
        }
    }

    fn sources_of(&self, class: &str, path: &Path) -> Vec<PhotoSource> {
        let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        self.0.get(&format!("{class}/{file}")).cloned().unwrap_or_default()
    }
}

/// What to index, where, and how.
#[derive(Debug, Clone)]
pub struct IndexOptions {
    /// The `<class>/<image>` folder to index.
    pub train: PathBuf,
    /// The index folder (`index/`).
    pub index_dir: PathBuf,
    /// The embedder and its settings.
    pub embedder: EmbedderSettings,
    /// The metrics to build approximate-search graphs for (CLIP only; metrics without a
    /// graph space, L1, are searched exactly and need none).
    pub graphs: Vec<Metric>,
    /// Images bigger than this when decoded are skipped as too large.
    pub max_decode_bytes: u64,
    /// Start afresh instead of extending (or refusing) an existing index.
    pub rebuild: bool,
    /// How approximate-search graphs are built and searched (CLIP indexes only): what is
    /// not chosen follows the index's size ([`AnnSettings::for_size`]).
    pub ann: AnnChoices,
    /// Embed only the images whose SHA-256 is this shard's, into the shard's own
    /// embedding cache (CLIP only); [`merge_index`] then builds the index once.
    pub shard: Option<Shard>,
    /// How the images of `train` get their classes: `<class>/<image>`, a flat folder
    /// and a nested tree are all indexed.
    pub classes: ClassNaming,
    /// Where progress goes.
    pub progress: Reporter,
}

impl Default for IndexOptions {
    /// CLIP from `models/clip` on every core with a cosine graph, `train` into `index`
    /// (relative to the working directory; callers put them under their data directory).
    fn default() -> Self {
        Self {
            train: DataDir::default().train(),
            index_dir: DataDir::default().index(),
            embedder: EmbedderSettings::Clip(ModelOptions::default()),
            graphs: vec![Metric::Cosine],
            max_decode_bytes: picseek_imaging::DEFAULT_MAX_DECODE_BYTES,
            rebuild: false,
            ann: AnnChoices::default(),
            shard: None,
            classes: ClassNaming::Folder,
            progress: Reporter::default(),
        }
    }
}

impl IndexOptions {
    /// Refuses options the stage cannot work with, naming the option.
    pub fn validate(&self) -> Result<(), InvalidOption> {
        match &self.embedder {
            EmbedderSettings::Pixel { size } if !(1..=PixelEmbedder::MAX_SIZE).contains(size) => Err(
                InvalidOption::new("pixel_size", format!("must be from 1 to {}, not {size}", PixelEmbedder::MAX_SIZE)),
            ),
            EmbedderSettings::Clip(options) => {
                if !(1..=4096).contains(&options.batch) {
                    return Err(InvalidOption::new("batch", format!("must be from 1 to 4096, not {}", options.batch)));
                }
                if !(1..=1024).contains(&options.threads) {
                    return Err(InvalidOption::new(
                        "threads",
                        format!("must be from 1 to 1024, not {}", options.threads),
                    ));
                }
                if let Some(metric) = self.graphs.iter().find(|m| !m.has_graph_space()) {
                    return Err(InvalidOption::new(
                        "metric",
                        format!("{metric} has no approximate index (it is always searched exactly)"),
                    ));
                }
                AnnSettings::validate(&self.ann)
            }
            EmbedderSettings::Pixel { .. } if self.shard.is_some() => Err(InvalidOption::new(
                "shard",
                "splits CLIP embedding only; a pixel index is made in one process (it embeds nothing costly)",
            )),
            EmbedderSettings::Pixel { .. } => Ok(()),
        }
    }
}

/// What an index run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IndexReport {
    /// The index folder.
    pub index: PathBuf,
    /// The shard this run was, if it was one.
    pub shard: Option<Shard>,
    /// The shard had already run to the end on this input: nothing was done.
    pub already_complete: bool,
    /// Items in the index (a shard's: its images).
    pub items: usize,
    /// Images embedded in this run.
    pub embedded: usize,
    /// Images whose vector was taken from the previous index.
    pub reused: usize,
    /// Approximate-search graphs built in this run (unchanged ones are kept).
    pub graphs_built: Vec<Metric>,
    /// Files that could not be embedded, with the reason.
    pub skipped: Vec<SkippedFile>,
}

/// An image made ready for its row.
enum Slot {
    /// Row `row` of the previous index.
    Reused { row: usize },
    /// In the embedding cache.
    Cached,
    /// Another shard's to embed.
    OtherShard,
    /// To embed in this run.
    New(Prepared),
}

/// Where a row of the new index comes from.
enum RowSource {
    Previous(usize),
    Cache,
    New,
}

/// One batch of files as the preparing thread hands it over: each file's SHA-256 and
/// prepared image, or why it cannot be used.
type PreparedBatch = Vec<Result<(String, Slot), ImageError>>;

/// How much of the work a build does.
#[derive(Clone, Copy)]
enum Work {
    /// Embed what is new, write the index.
    Whole,
    /// Embed this shard's new images into its cache; write no index.
    Shard(Shard),
    /// Write the index from vectors the shards embedded (all `count`, or all there
    /// are); embed nothing.
    Merge { count: Option<usize> },
}

/// Builds or extends the index: see the crate documentation. The caller holds the data
/// directory's [`DataDirLock`](picseek_manifest::DataDirLock): temporaries of killed runs are removed.
///
/// With [`IndexOptions::shard`] it only embeds that shard's images (by SHA-256) into
/// `index/.shards/<I>-of-<N>/cache/`, holding the data directory's lock shared and its
/// own folder's exclusively; a shard that finished on the same images is skipped.
pub fn build_index(opts: &IndexOptions) -> Result<IndexReport, IndexError> {
    opts.validate()?;
    build(opts, opts.shard.map_or(Work::Whole, Work::Shard))
}

/// Merges the complete shards of `opts.index_dir` (all `count`, or all there are): their
/// vectors go into the embedding cache, then the index is written as [`build_index`]
/// would write it in one process (same items, rows and graphs), embedding nothing. Refuses
/// shards that are missing, unfinished or ran on other images or another model, and an
/// image no shard embedded. The caller holds the data directory's lock.
pub fn merge_index(opts: &IndexOptions, count: Option<usize>) -> Result<IndexReport, IndexError> {
    let opts = &IndexOptions { shard: None, ..opts.clone() };
    opts.validate()?;
    build(opts, Work::Merge { count })
}

/// What shards of one input agree on: the embedder and every image's path (within
/// `train`, however a machine spells that) and size.
fn images_fingerprint(identity: &str, train: &Path, files: &[(&str, &Path)]) -> String {
    let parts: Vec<Vec<u8>> = std::iter::once(identity.as_bytes().to_vec())
        .chain(files.iter().map(|(class, path)| {
            let size = std::fs::metadata(path).map_or(0, |m| m.len());
            let within = path.strip_prefix(train).unwrap_or(path);
            format!("{class}\t{}\t{size}", within.display()).into_bytes()
        }))
        .collect();
    input_fingerprint(parts.iter().map(Vec::as_slice))
}

fn build(opts: &IndexOptions, work: Work) -> Result<IndexReport, IndexError> {
    if !matches!(work, Work::Shard(_)) {
        picseek_manifest::remove_stale_temporaries(&opts.index_dir, 3);
    }
    let embedder = Embedder::load(&opts.embedder, opts.max_decode_bytes)?;
    let previous = previous_index(opts, &embedder)?;
    let identity = embedder.identity().canonical();
    let mut caches = match &embedder {
        Embedder::Clip { .. } => Some(BuildCaches {
            main: EmbeddingCache::open(&opts.index_dir, &identity, embedder.dimension())?,
            shard: None,
        }),
        Embedder::Pixel(_) => None,
    };
    let reusable: HashMap<&str, usize> = previous
        .as_ref()
        .map(|p| p.manifest().items.iter().enumerate().map(|(row, item)| (item.sha256.as_str(), row)).collect())
        .unwrap_or_default();

    let listing = list_images(&opts.train, opts.classes)?;
    let provenance = Provenance::read(&opts.train);
    let mut report = IndexReport { index: opts.index_dir.clone(), ..IndexReport::default() };
    for (path, reason) in &listing.problems {
        skip(&mut report, path, "not_an_item", &format!("{}: {reason}", path.display()));
    }
    let mut files = Vec::new();
    for class in &listing.classes {
        files.extend(class.files.iter().map(|f| (class.class.as_str(), f.as_path())));
    }
    let fingerprint = images_fingerprint(&identity, &opts.train, &files);
    match work {
        Work::Shard(shard) => {
            report.shard = Some(shard);
            if let Some(done) = shard.completed(&opts.index_dir, &fingerprint) {
                return Ok(IndexReport { already_complete: true, items: done.items, ..report });
            }
            shard.clear_completion(&opts.index_dir)?;
            // This shard's vectors go to its own cache; those of earlier runs are reused.
            let own = EmbeddingCache::open(&shard.dir(&opts.index_dir), &identity, embedder.dimension())?;
            if let Some(caches) = caches.as_mut() {
                caches.shard = Some(own);
            }
        }
        Work::Merge { count } => {
            let shards = shards_to_merge(&opts.index_dir, count, &fingerprint)?;
            let main = &mut caches.as_mut().expect("a CLIP build has a cache").main;
            for shard in shards {
                main.absorb(&EmbeddingCache::open(&shard.dir(&opts.index_dir), &identity, embedder.dimension())?)?;
            }
        }
        Work::Whole => {}
    }
    let shard = match work {
        Work::Shard(shard) => Some(shard),
        _ => None,
    };

    std::fs::create_dir_all(&opts.index_dir).map_err(io_error(&opts.index_dir))?;
    let root = std::path::absolute(data_root(&opts.index_dir)).map_err(io_error(&opts.index_dir))?;
    let mut vectors =
        staging_file_in(&opts.index_dir, &format!("{TEMPORARY_PREFIX}vectors-")).map_err(io_error(&opts.index_dir))?;
    let vectors_tmp_path = vectors.path().to_owned();
    let mut writer = std::io::BufWriter::new(vectors.as_file_mut());
    let mut items = Vec::new();
    let progress = opts.progress.start("embedding", Some(files.len() as u64));
    let mut done = 0;
    let batches: Vec<&[(&str, &Path)]> = files.chunks(embedder.batch()).collect();
    let caches = std::sync::RwLock::new(caches);
    // One thread reads, decodes and preprocesses the next batch (on all cores) while
    // this one runs the model on the current batch and writes its rows.
    std::thread::scope(|scope| -> Result<(), IndexError> {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<PreparedBatch>(1);
        let (embedder, reusable, caches) = (&embedder, &reusable, &caches);
        let batches_to_prepare = batches.clone();
        scope.spawn(move || {
            for batch in batches_to_prepare {
                let prepared = batch
                    .par_iter()
                    .map(|(_, path)| {
                        let bytes = read_image_file(path)?;
                        let sha = sha256_hex(&bytes);
                        let prepared = match reusable.get(sha.as_str()) {
                            Some(&row) => Slot::Reused { row },
                            None if read_caches(caches).as_ref().is_some_and(|c| c.contains(&sha)) => Slot::Cached,
                            None if shard.is_some_and(|s| !s.owns(&sha)) => Slot::OtherShard,
                            None => Slot::New(embedder.prepare(path, &bytes)?),
                        };
                        Ok((sha, prepared))
                    })
                    .collect();
                if sender.send(prepared).is_err() {
                    return;
                }
            }
        });
        for (batch, prepared) in batches.iter().zip(receiver) {
            picseek_manifest::stop::Interrupted::check(done, files.len())?;
            let mut usable = Vec::new();
            let mut new_inputs = Vec::new();
            for ((class, path), result) in batch.iter().zip(prepared) {
                match result {
                    Ok((sha256, Slot::Reused { row })) => usable.push((class, path, sha256, RowSource::Previous(row))),
                    Ok((sha256, Slot::Cached)) => usable.push((class, path, sha256, RowSource::Cache)),
                    Ok((_, Slot::OtherShard)) => {}
                    // A merge embeds nothing: an image no shard embedded (but that can be
                    // embedded, or it would have been skipped above) means a shard is missing it.
                    Ok(_) if matches!(work, Work::Merge { .. }) => {
                        return Err(IndexError::NotEmbedded { path: path.to_path_buf() });
                    }
                    Ok((sha256, Slot::New(new))) => {
                        new_inputs.push(new);
                        usable.push((class, path, sha256, RowSource::New));
                    }
                    Err(e) => skip(&mut report, path, e.reason_code(), &e.to_string()),
                }
            }
            let new_count = new_inputs.len();
            let new_rows = embedder.embed_prepared(new_inputs)?;
            if new_rows.len() != new_count {
                return Err(IndexError::Damaged {
                    path: opts.index_dir.clone(),
                    reason: format!("the embedder gave {} rows for {new_count} images", new_rows.len()),
                });
            }
            if let Some(caches) = caches.write().unwrap_or_else(std::sync::PoisonError::into_inner).as_mut() {
                let new_shas = usable.iter().filter(|u| matches!(u.3, RowSource::New)).map(|u| u.2.as_str());
                let rows: Vec<(&str, &[u8])> = new_shas.zip(new_rows.iter().map(Vector::as_bytes)).collect();
                caches.appended_to().append(&rows)?;
            }
            let caches = read_caches(caches);
            let mut new_rows = new_rows.iter();
            if let Some(shard) = shard {
                // A shard's items are its images; its rows live in its cache only.
                let owned: Vec<_> = usable.iter().filter(|u| shard.owns(&u.2)).collect();
                report.items += owned.len();
                report.embedded += new_count;
                report.reused += owned.iter().filter(|u| !matches!(u.3, RowSource::New)).count();
                done += batch.len();
                progress.advance(batch.len() as u64);
                continue;
            }
            for (class, path, sha256, source) in usable {
                let row = match source {
                    RowSource::Previous(row) => {
                        report.reused += 1;
                        previous.as_ref().map_or(&[][..], |p| p.row_bytes(row))
                    }
                    RowSource::Cache => {
                        report.reused += 1;
                        caches.as_ref().and_then(|c| c.get(&sha256)).map_or(&[][..], bytemuck::cast_slice)
                    }
                    RowSource::New => {
                        report.embedded += 1;
                        new_rows.next().map_or(&[][..], Vector::as_bytes)
                    }
                };
                writer.write_all(row).map_err(io_error(&vectors_tmp_path))?;
                items.push(IndexItem {
                    key: items.len() as u64,
                    path: relative_to_root(&root, path)?,
                    class: class.to_string(),
                    sha256,
                    sources: provenance.sources_of(class, path),
                });
            }
            done += batch.len();
            progress.advance(batch.len() as u64);
        }
        Ok(())
    })?;
    drop(progress);
    // Their pages are not wanted while the graphs are built.
    drop(caches);
    if let Some(shard) = shard {
        shard.mark_complete(&opts.index_dir, &fingerprint, report.items)?;
        return Ok(report);
    }
    writer.flush().map_err(io_error(&vectors_tmp_path))?;
    drop(writer);
    if items.is_empty() {
        return Err(IndexError::NothingIndexed { path: opts.train.clone(), skipped: report.skipped.len() });
    }

    let digest = sha256_hex(&rows_digest(&embedder.identity().canonical(), &items));
    let dtype: Dtype = embedder.kind().dtype();
    let vectors_name = format!("vectors-{}.{dtype}", &digest[..16]);
    let vectors_path = opts.index_dir.join(&vectors_name);
    vectors.persist(&vectors_path).map_err(|e| IndexError::Io { path: vectors_path.clone(), source: e.error })?;
    report.items = items.len();
    let ann = match &opts.embedder {
        EmbedderSettings::Clip(_) => {
            // In the order asked for, each once.
            let mut unique: Vec<Metric> = Vec::new();
            for metric in &opts.graphs {
                if !unique.contains(metric) {
                    unique.push(*metric);
                }
            }
            let spaces = unique;
            let settings = AnnSettings::chosen(&opts.ann, items.len());
            // Mapped only when a graph must be built: an unchanged re-run keeps them all.
            let mut rows: Option<memmap2::Mmap> = None;
            let mut graphs = Vec::new();
            for space in spaces {
                let record = settings.record(space, graph_file_name(&settings, space, &digest), opts.ann);
                let path = opts.index_dir.join(&record.file);
                // A graph of these rows and settings is kept, unless a rebuild was asked
                // for or it does not open whole (a damaged file keeps its name).
                if opts.rebuild || !graph_is_intact(&path, &record, items.len(), embedder.dimension()) {
                    let rows = match &mut rows {
                        Some(rows) => rows,
                        None => rows.insert(map_file(&vectors_path)?),
                    };
                    build_graph_file(opts, &settings, space, embedder.dimension(), bytemuck::cast_slice(rows), &path)?;
                    report.graphs_built.push(space);
                }
                graphs.push(record);
            }
            graphs
        }
        EmbedderSettings::Pixel { .. } => Vec::new(),
    };
    let manifest = IndexManifest {
        format_version: FORMAT_VERSION,
        embedder: embedder.kind(),
        model: embedder.model().cloned(),
        preprocessing: embedder.preprocessing(),
        image_size: embedder.image_size(),
        dimension: embedder.dimension(),
        vectors: VectorFile { file: vectors_name.clone(), dtype },
        ann,
        items,
        skipped: report.skipped.clone(),
        folder: Some(IndexedFolder { path: relative_to_root(&root, &opts.train)?, classes: opts.classes }),
    };
    write_json_atomic(&DataDir::index_manifest(&opts.index_dir), &manifest)?;
    drop(previous);
    let mut keep: Vec<&str> = manifest.ann.iter().map(|a| a.file.as_str()).collect();
    keep.push(&vectors_name);
    remove_replaced_files(&opts.index_dir, &keep);
    Ok(report)
}

/// The embedding caches a CLIP build reads vectors from: the index folder's, and a
/// shard's own, which is the one a shard appends to.
struct BuildCaches {
    main: EmbeddingCache,
    shard: Option<EmbeddingCache>,
}

impl BuildCaches {
    fn contains(&self, sha256: &str) -> bool {
        self.main.contains(sha256) || self.shard.as_ref().is_some_and(|s| s.contains(sha256))
    }

    fn get(&self, sha256: &str) -> Option<&[f32]> {
        self.main.get(sha256).or_else(|| self.shard.as_ref()?.get(sha256))
    }

    fn appended_to(&mut self) -> &mut EmbeddingCache {
        self.shard.as_mut().unwrap_or(&mut self.main)
    }
}

/// The caches, for reading; the preparing thread reads them while the embedding one
/// appends (a panic in one leaves them readable: appends are whole or cut off).
fn read_caches(caches: &std::sync::RwLock<Option<BuildCaches>>) -> std::sync::RwLockReadGuard<'_, Option<BuildCaches>> {
    caches.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `path` memory-mapped: the rows a graph is built from are paged in from the file
/// rather than copied into memory.
fn map_file(path: &Path) -> Result<memmap2::Mmap, IndexError> {
    let file = std::fs::File::open(path).map_err(io_error(path))?;
    // SAFETY: the vector file was just written and is only ever replaced by rename.
    unsafe { memmap2::Mmap::map(&file) }.map_err(io_error(path))
}

/// The graph file of `space` over rows with `rows_digest`: its name changes whenever
/// the rows or the settings do, so an unchanged graph is kept.
fn graph_file_name(settings: &AnnSettings, space: Metric, rows_digest: &str) -> String {
    let name_digest = sha256_hex(format!("{rows_digest};{}", settings.describe_graph(space)).as_bytes());
    format!("ann-{space}-{}.usearch", &name_digest[..16])
}

/// Whether the graph file at `path` opens and holds `count` vectors of `dimension`.
fn graph_is_intact(path: &Path, record: &picseek_manifest::AnnFile, count: usize, dimension: usize) -> bool {
    path.is_file()
        && picseek_ann::open_graph(path, record.expansion_search)
            .is_ok_and(|g| g.size() == count && g.dimensions() == dimension)
}

/// Builds the graph of `space` into a temporary file, then renames it to `path`.
fn build_graph_file(
    opts: &IndexOptions,
    settings: &AnnSettings,
    space: Metric,
    dimension: usize,
    rows: &[f32],
    path: &Path,
) -> Result<(), IndexError> {
    let spinner = opts.progress.start(&format!("building the {space} graph"), None);
    let tmp =
        staging_file_in(&opts.index_dir, &format!("{TEMPORARY_PREFIX}ann-")).map_err(io_error(&opts.index_dir))?;
    build_graph(space, settings, dimension, rows, tmp.path())?;
    tmp.persist(path).map_err(|e| IndexError::Io { path: path.to_owned(), source: e.error })?;
    drop(spinner);
    Ok(())
}

/// The existing index to extend, if any; refuses one made another way.
fn previous_index(opts: &IndexOptions, embedder: &Embedder) -> Result<Option<Index>, IndexError> {
    if opts.rebuild || !DataDir::index_manifest(&opts.index_dir).exists() {
        return Ok(None);
    }
    let previous = Index::open(&opts.index_dir)?;
    if let Some(difference) = previous.identity().difference(&embedder.identity()) {
        return Err(IndexError::Mismatch { path: opts.index_dir.clone(), difference });
    }
    Ok(Some(previous))
}

/// Names the vector file after how and what it holds, so a re-run that changes
/// nothing keeps it (and a different embedder never reuses its name).
fn rows_digest(identity: &str, items: &[IndexItem]) -> Vec<u8> {
    let rows = items.iter().flat_map(|i| i.sha256.bytes().chain(std::iter::once(b'\n')));
    identity.bytes().chain(std::iter::once(b'\n')).chain(rows).collect()
}

/// Deletes vector and graph files of earlier runs, keeping those named in `keep`
/// (temporaries of killed runs went at the start, with `remove_stale_temporaries`).
fn remove_replaced_files(index_dir: &Path, keep: &[&str]) {
    let Ok(entries) = std::fs::read_dir(index_dir) else { return };
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let ours = ["vectors-", "ann-"].iter().any(|p| name.starts_with(p));
        if ours
            && !keep.contains(&name.as_str())
            && let Err(e) = std::fs::remove_file(&path)
        {
            tracing::warn!("could not remove the replaced file {}: {e}", path.display());
        }
    }
}

/// Records a file that is not indexed (`reason` is a short code; `message` says it all).
/// Records a file that is not indexed; the binary sums them up in one line (each one is
/// logged at debug level, `-v`).
fn skip(report: &mut IndexReport, path: &Path, reason: &str, message: &str) {
    tracing::debug!("skipped {message}");
    report.skipped.push(SkippedFile { path: path.display().to_string(), reason: reason.to_owned() });
}

fn relative_to_root(root: &Path, path: &Path) -> Result<String, IndexError> {
    let abs = std::path::absolute(path).map_err(io_error(path))?;
    Ok(abs.strip_prefix(root).unwrap_or(&abs).display().to_string())
}
