//! The clean stage: turns the downloaded files of `raw/<category>/<term>/` into verified
//! RGB images under `clean/<class>/` (a class is a term), and accounts for every input
//! file in `clean/manifest.json`, kept or rejected with a reason.
//!
//! Every file is decoded fully, in parallel on all cores, within a memory limit (huge
//! or hostile images are rejected as `too_large`). Kept images have their EXIF
//! orientation applied, transparent pixels composited onto white, and are stored as
//! JPEG: a JPEG that is already RGB and upright is copied byte for byte (no second
//! lossy encoding), anything else is encoded anew. Duplicates are found by file bytes, by decoded pixels, and (with
//! [`Dedup::Near`]) by a perceptual hash within a Hamming distance; the first one seen in
//! path order is kept and the others point to it. `raw/` is never modified; a re-run
//! only examines files it has not seen (or whose bytes changed).

mod examine;
mod inputs;
mod quality;

pub use quality::QualityThresholds;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use image_hasher::ImageHash;
use indicatif::{ProgressBar, ProgressStyle};
use picseek_imaging::ImageError;
use picseek_manifest::{
    CleanManifest, CleanRecord, CleanStatus, InvalidOption, ManifestError, QualityFlag, Shard, ShardError,
    input_fingerprint, read_json, shards_to_merge, write_atomic, write_json_atomic,
};
use quality::mark_odd_sizes;
use rayon::prelude::*;
use serde::Serialize;

use crate::examine::{Examined, Examiner};
use crate::inputs::{Input, list_inputs};

/// Files examined at once: enough for every core, few enough to bound memory.
const BATCH: usize = 256;
/// The largest difference of mean colour, per channel, between near duplicates.
const NEAR_MEAN_COLOUR: u8 = 24;

/// Which duplicates to reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Dedup {
    /// Keep every image.
    Off,
    /// Same file bytes or same decoded pixels.
    Exact,
    /// Exact, and perceptual hashes within `near_distance` bits with close mean colours.
    Near,
    /// Near, and CLIP embeddings (of `CleanOptions::clip`'s model) at least
    /// `clip_threshold` alike in cosine: pictures that look alike to the model.
    Clip,
}

/// The CLIP model `--dedup clip` compares kept images with, and where its embedding
/// cache is (the index's, so `index` embeds nothing twice).
#[derive(Debug, Clone, PartialEq)]
pub struct ClipDedup {
    /// The model and how to run it.
    pub model: picseek_index::ClipOptions,
    /// The index folder whose `cache/` holds the vectors.
    pub index_dir: PathBuf,
    /// The cosine at or above which two images are duplicates.
    pub threshold: f32,
}

impl ClipDedup {
    /// The default cosine for duplicates: near copies of one photo score above it with
    /// CLIP ViT-B/32, distinct photos of one subject below.
    pub const DEFAULT_THRESHOLD: f32 = 0.96;
}

/// What to clean, where, and how strictly. [`Default`] gives the documented defaults
/// (paths relative to the working directory).
#[derive(Debug, Clone)]
pub struct CleanOptions {
    /// `raw/`.
    pub input: PathBuf,
    /// `clean/`; the manifest is `clean/manifest.json`.
    pub out: PathBuf,
    /// Images whose shorter side is below this are rejected as `too_small`.
    pub min_side: u32,
    /// Which duplicates to reject.
    pub dedup: Dedup,
    /// The largest Hamming distance between 64-bit perceptual hashes of near duplicates.
    pub near_distance: u32,
    /// Images bigger than this when decoded are rejected as `too_large`.
    pub max_decode_bytes: u64,
    /// The quality of JPEGs encoded anew (1 to 100).
    pub jpeg_quality: u8,
    /// Below which score each quality issue is flagged (cleanvision's defaults).
    pub quality: QualityThresholds,
    /// Quality flags that reject an image (its reason is the flag's name); by default
    /// flags are only recorded.
    pub reject: Vec<QualityFlag>,
    /// The model for `Dedup::Clip`.
    pub clip: Option<ClipDedup>,
    /// Examine only this shard's files (by path) into the shard's own manifest, and
    /// leave what needs every file (duplicates, odd sizes, `reject`) to [`merge_clean`].
    pub shard: Option<Shard>,
}

impl Default for CleanOptions {
    fn default() -> Self {
        Self {
            input: PathBuf::from("raw"),
            out: PathBuf::from("clean"),
            min_side: 50,
            dedup: Dedup::Near,
            near_distance: 5,
            max_decode_bytes: picseek_imaging::DEFAULT_MAX_DECODE_BYTES,
            jpeg_quality: 95,
            quality: QualityThresholds::default(),
            reject: Vec::new(),
            clip: None,
            shard: None,
        }
    }
}

impl CleanOptions {
    /// Refuses options the stage cannot work with, naming the option.
    pub fn validate(&self) -> Result<(), InvalidOption> {
        if self.near_distance > 64 {
            return Err(InvalidOption::new(
                "near_distance",
                format!("must be from 0 to 64 bits, not {}", self.near_distance),
            ));
        }
        if !(1..=100).contains(&self.jpeg_quality) {
            return Err(InvalidOption::new(
                "jpeg_quality",
                format!("must be from 1 to 100, not {}", self.jpeg_quality),
            ));
        }
        if self.max_decode_bytes == 0 {
            return Err(InvalidOption::new("max_decode_bytes", "must be at least 1"));
        }
        match (&self.clip, self.dedup) {
            (None, Dedup::Clip) => return Err(InvalidOption::new("dedup", "clip needs a CLIP model")),
            (Some(clip), _) if !(0.0..=1.0).contains(&clip.threshold) => {
                return Err(InvalidOption::new(
                    "clip_threshold",
                    format!("must be from 0 to 1, not {}", clip.threshold),
                ));
            }
            _ => {}
        }
        Ok(())
    }
}

/// Why the clean stage could not run (a file that cannot be used is recorded, not an
/// error).
#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    /// `clean/manifest.json` cannot be read or written, or a kept image not written.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The input folder cannot be listed.
    #[error(transparent)]
    Listing(#[from] ImageError),
    /// An option the stage cannot work with.
    #[error("{0}")]
    Invalid(#[from] InvalidOption),
    /// The shards cannot be merged.
    #[error(transparent)]
    Shards(#[from] ShardError),
    /// The CLIP model for `--dedup clip`, or its embedding cache, cannot be used.
    #[error(transparent)]
    Clip(#[from] picseek_index::IndexError),
}

/// What a clean run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CleanReport {
    /// `clean/manifest.json` (a shard's: `clean/.shards/<I>-of-<N>/manifest.json`).
    pub manifest: PathBuf,
    /// The shard this run was, if it was one.
    pub shard: Option<Shard>,
    /// The shard had already run to the end on this input: nothing was done.
    pub already_complete: bool,
    /// Input files, all accounted for in the manifest.
    pub files: usize,
    /// Files examined in this run.
    pub examined: usize,
    /// Files whose earlier record still holds.
    pub reused: usize,
    /// `kept`, and `rejected: <reason>` for each reason (duplicates counted together).
    pub summary: BTreeMap<String, usize>,
    /// Kept images per quality flag.
    pub flagged: BTreeMap<QualityFlag, usize>,
    /// The whole manifest, in source path order.
    #[serde(skip)]
    pub records: Vec<CleanRecord>,
}

impl CleanReport {
    /// Images kept.
    pub fn kept(&self) -> usize {
        self.records.iter().filter(|r| r.status == CleanStatus::Kept).count()
    }

    /// Rejected files by reason (duplicates counted together as `duplicate`).
    pub fn rejected(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for r in self.records.iter().filter(|r| r.status == CleanStatus::Rejected) {
            *counts.entry(rejection_kind(r.reason.as_deref()).to_owned()).or_default() += 1;
        }
        counts
    }

    fn finish(mut self, records: Vec<CleanRecord>) -> Self {
        self.files = records.len();
        self.records = records;
        let kept = self.kept();
        self.summary = self.rejected().into_iter().map(|(reason, n)| (format!("rejected: {reason}"), n)).collect();
        self.summary.insert("kept".into(), kept);
        for record in self.records.iter().filter(|r| r.status == CleanStatus::Kept) {
            for flag in record.quality.iter().flat_map(|q| &q.flags) {
                *self.flagged.entry(*flag).or_default() += 1;
            }
        }
        self
    }
}

/// A rejection's kind: its reason, with every `duplicate_of:<path>` as `duplicate`.
fn rejection_kind(reason: Option<&str>) -> &str {
    match reason {
        Some(r) if r.starts_with("duplicate_of:") => "duplicate",
        Some(r) => r,
        None => "unknown",
    }
}

/// The duplicate-detection state: every kept image seen so far.
#[derive(Default)]
struct KeptImages {
    by_bytes: HashMap<String, String>,
    by_pixels: HashMap<String, String>,
    hashes: Vec<(ImageHash, [u8; 3], String)>,
    /// CLIP vectors of kept images (`--dedup clip`).
    vectors: Vec<(Vec<f32>, String)>,
}

impl KeptImages {
    #[cfg(test)]
    fn duplicate_of(&self, record: &CleanRecord, phash: Option<&ImageHash>, opts: &CleanOptions) -> Option<String> {
        self.duplicate(record, phash, opts).map(|(path, _)| path)
    }

    /// The kept image `record` duplicates, and how: the same file, the same picture in
    /// another encoding, or a picture that looks alike (what `detail` records).
    fn duplicate(
        &self,
        record: &CleanRecord,
        phash: Option<&ImageHash>,
        opts: &CleanOptions,
    ) -> Option<(String, String)> {
        if opts.dedup == Dedup::Off {
            return None;
        }
        if let Some(path) = self.by_bytes.get(&record.sha256) {
            return Some((path.clone(), "exact: the same bytes".into()));
        }
        if let Some(path) = record.pixels_xxh3.as_ref().and_then(|p| self.by_pixels.get(p)) {
            return Some((path.clone(), "exact: the same pixels in another encoding".into()));
        }
        if opts.dedup == Dedup::Exact {
            return None;
        }
        let (phash, colour) = (phash?, record.mean_rgb?);
        let colour_close = |c: &[u8; 3]| c.iter().zip(colour).all(|(a, b)| a.abs_diff(b) <= NEAR_MEAN_COLOUR);
        self.hashes.iter().find(|(h, c, _)| h.dist(phash) <= opts.near_distance && colour_close(c)).map(
            |(h, _, path)| {
                (path.clone(), format!("near: looks alike (perceptual hashes {} bits apart)", h.dist(phash)))
            },
        )
    }

    /// The kept image whose CLIP vector is most like `vector`, if at least `threshold`.
    fn clip_duplicate(&self, vector: &[f32], threshold: f32) -> Option<(String, String)> {
        let cosine = |v: &[f32]| v.iter().zip(vector).map(|(a, b)| a * b).sum::<f32>();
        let (best, path) = self.vectors.iter().map(|(v, p)| (cosine(v), p)).max_by(|a, b| a.0.total_cmp(&b.0))?;
        (best >= threshold).then(|| (path.clone(), format!("clip: looks alike to the model (cosine {best:.3})")))
    }

    fn add(&mut self, record: &CleanRecord, phash: Option<ImageHash>) {
        let Some(path) = record.path.clone() else { return };
        self.by_bytes.insert(record.sha256.clone(), path.clone());
        if let Some(pixels) = &record.pixels_xxh3 {
            self.by_pixels.insert(pixels.clone(), path.clone());
        }
        if let (Some(h), Some(colour)) = (phash, record.mean_rgb) {
            self.hashes.push((h, colour, path));
        }
    }
}

fn parse_phash(record: &CleanRecord) -> Option<ImageHash> {
    ImageHash::from_bytes(&hex::decode(record.phash.as_ref()?).ok()?).ok()
}

/// Runs the clean stage: see the crate documentation. The caller holds the data
/// directory's [`DataDirLock`](picseek_manifest::DataDirLock): temporaries of killed runs are removed.
///
/// A shard holds the data directory's lock shared and its own folder's exclusively: the
/// temporaries of killed shards are left for the merge.
pub fn clean(opts: &CleanOptions) -> Result<CleanReport, CleanError> {
    opts.validate()?;
    let inputs = list_inputs(&opts.input)?;
    let Some(shard) = opts.shard else {
        picseek_manifest::remove_stale_temporaries(&opts.out, 2);
        let manifest_path = opts.out.join(MANIFEST_FILE);
        let previous = read_records(&manifest_path)?;
        return clean_inputs(opts, inputs, previous, manifest_path, Scope::Whole);
    };
    let fingerprint = inputs_fingerprint(&inputs);
    let manifest_path = shard.dir(&opts.out).join(MANIFEST_FILE);
    if shard.completed(&opts.out, &fingerprint).is_some() {
        let records: CleanManifest = read_json(&manifest_path)?;
        let report =
            CleanReport { manifest: manifest_path, shard: Some(shard), already_complete: true, ..Default::default() };
        return Ok(CleanReport { reused: records.len(), ..report.finish(records) });
    }
    shard.clear_completion(&opts.out)?;
    // A shard also knows what a merged (or whole) run before it examined.
    let mut previous = read_records(&opts.out.join(MANIFEST_FILE))?;
    previous.extend(read_records(&manifest_path)?);
    let mine: Vec<Input> = inputs.into_iter().filter(|input| shard.owns(&input.source)).collect();
    let count = mine.len();
    let report = clean_inputs(opts, mine, previous, manifest_path, Scope::Shard)?;
    shard.mark_complete(&opts.out, &fingerprint, count)?;
    Ok(CleanReport { shard: Some(shard), ..report })
}

/// Merges the complete shards of `opts.out` (all `count`, or all there are) into
/// `clean/manifest.json`: every file as its shard examined it, then duplicates, odd sizes
/// and `reject` decided over all of them in path order, as one process would. Refuses
/// shards that are missing, unfinished or ran on other input. The caller holds the data
/// directory's lock (no shard is running), so killed shards' temporaries are removed.
pub fn merge_clean(opts: &CleanOptions, count: Option<usize>) -> Result<CleanReport, CleanError> {
    let opts = &CleanOptions { shard: None, ..opts.clone() };
    opts.validate()?;
    let inputs = list_inputs(&opts.input)?;
    let shards = shards_to_merge(&opts.out, count, &inputs_fingerprint(&inputs))?;
    picseek_manifest::remove_stale_temporaries(&opts.out, 3);
    let manifest_path = opts.out.join(MANIFEST_FILE);
    let mut previous = read_records(&manifest_path)?;
    for shard in &shards {
        previous.extend(read_records(&shard.dir(&opts.out).join(MANIFEST_FILE))?);
    }
    clean_inputs(opts, inputs, previous, manifest_path, Scope::Whole)
}

/// The manifest in `clean/` (and in each shard's folder).
const MANIFEST_FILE: &str = "manifest.json";

/// What a run decides: everything, or (a shard) what each file decides alone.
#[derive(Clone, Copy, PartialEq)]
enum Scope {
    Whole,
    Shard,
}

/// The records of a manifest by source file; none if there is no manifest yet.
fn read_records(path: &Path) -> Result<HashMap<String, CleanRecord>, CleanError> {
    let records: CleanManifest = if path.exists() { read_json(path)? } else { Vec::new() };
    Ok(records.into_iter().map(|r| (r.source.clone(), r)).collect())
}

/// What shards of one input agree on: every file's path and size.
fn inputs_fingerprint(inputs: &[Input]) -> String {
    let parts: Vec<Vec<u8>> = inputs
        .iter()
        .map(|i| {
            let size = std::fs::metadata(&i.path).map_or(0, |m| m.len());
            format!("{}\t{size}\t{}\t{}", i.source, i.category, i.class).into_bytes()
        })
        .collect();
    input_fingerprint(parts.iter().map(Vec::as_slice))
}

/// Cleans `inputs` into `manifest_path`, reusing the `previous` records that still hold.
fn clean_inputs(
    opts: &CleanOptions,
    inputs: Vec<Input>,
    mut previous: HashMap<String, CleanRecord>,
    manifest_path: PathBuf,
    scope: Scope,
) -> Result<CleanReport, CleanError> {
    let examiner = Examiner::new(opts);
    let dedup = if scope == Scope::Shard { Dedup::Off } else { opts.dedup };
    let opts = &CleanOptions { dedup, ..opts.clone() };

    let mut report = CleanReport { manifest: manifest_path.clone(), ..CleanReport::default() };
    let mut kept = KeptImages::default();
    let mut records: Vec<CleanRecord> = Vec::with_capacity(inputs.len());
    let progress = ProgressBar::new(inputs.len() as u64).with_message("cleaning");
    progress.set_style(
        ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} {per_sec} [{elapsed} < {eta}]")
            .expect("valid template"),
    );
    let mut clip = match (&opts.clip, opts.dedup) {
        (Some(clip), Dedup::Clip) => {
            Some(picseek_index::CachedClipEmbedder::open(&clip.index_dir, &clip.model, opts.max_decode_bytes)?)
        }
        _ => None,
    };
    for batch in inputs.chunks(BATCH) {
        let examined: Vec<Examined> =
            batch.par_iter().map(|input| examiner.examine(input, previous.get(&input.source), &opts.out)).collect();
        let mut vectors = match clip.as_mut() {
            Some(clip) => clip_vectors(clip, &examined, &opts.out)?.into_iter(),
            None => Vec::new().into_iter(),
        };
        let mut to_write = Vec::new();
        for (input, item) in batch.iter().zip(examined) {
            let (mut record, phash, image) = match item {
                Examined::Unchanged(record) => {
                    report.reused += 1;
                    let phash = parse_phash(&record);
                    (record, phash, None)
                }
                Examined::New { record, phash, output: jpeg } => {
                    report.examined += 1;
                    (record, phash, jpeg)
                }
            };
            previous.remove(&record.source);
            // Provenance follows the download manifest, also for files unchanged since.
            record.provenance = input.provenance.clone();
            let vector = vectors.next().flatten();
            if record.status == CleanStatus::Kept {
                let clip_threshold = opts.clip.as_ref().map_or(1.0, |c| c.threshold);
                let duplicate = kept
                    .duplicate(&record, phash.as_ref(), opts)
                    .or_else(|| vector.as_ref().and_then(|v| kept.clip_duplicate(v, clip_threshold)))
                    .filter(|(p, _)| Some(p) != record.path.as_ref());
                if let Some((original, how)) = duplicate {
                    tracing::info!("{}: duplicate of {original}", record.source);
                    if let Some(path) = record.path.take() {
                        // A re-run may find an earlier kept image to be a duplicate now.
                        let _ = std::fs::remove_file(opts.out.join(path));
                    }
                    record.status = CleanStatus::Rejected;
                    record.reason = Some(format!("duplicate_of:{original}"));
                    record.detail = Some(how);
                } else {
                    if let (Some(jpeg), Some(path)) = (image, &record.path) {
                        to_write.push((opts.out.join(path), jpeg));
                    }
                    kept.add(&record, phash);
                    if let (Some(v), Some(path)) = (vector, &record.path) {
                        kept.vectors.push((v, path.clone()));
                    }
                }
            } else if let (Some(reason), Some(detail)) = (&record.reason, &record.detail) {
                tracing::warn!("rejected {} ({reason}): {detail}", record.source);
            }
            records.push(record);
            progress.inc(1);
        }
        to_write.par_iter().try_for_each(|(path, bytes)| write_atomic(path, bytes))?;
        write_json_atomic(&manifest_path, &records)?;
    }
    progress.finish_and_clear();
    if scope == Scope::Whole {
        mark_odd_sizes(&mut records, opts.quality.odd_size_iqr_factor);
        reject_flagged(&mut records, &opts.reject, &opts.out);
    }
    write_json_atomic(&manifest_path, &records)?;
    Ok(report.finish(records))
}

/// The CLIP vector of each kept image of a batch (from the output it will have, so that
/// `index` finds it cached), in batch order; `None` for the others.
fn clip_vectors(
    clip: &mut picseek_index::CachedClipEmbedder,
    examined: &[Examined],
    out: &Path,
) -> Result<Vec<Option<Vec<f32>>>, CleanError> {
    let images: Vec<Option<(PathBuf, Vec<u8>)>> = examined
        .iter()
        .map(|item| match item {
            Examined::New { record, output: Some(bytes), .. } if record.status == CleanStatus::Kept => {
                Some((PathBuf::from(&record.source), bytes.clone()))
            }
            Examined::Unchanged(record) if record.status == CleanStatus::Kept => {
                let path = out.join(record.path.as_deref()?);
                Some((path.clone(), std::fs::read(&path).ok()?))
            }
            _ => None,
        })
        .collect();
    let wanted: Vec<(PathBuf, Vec<u8>)> = images.iter().flatten().cloned().collect();
    let mut vectors = clip.vectors(&wanted)?.into_iter();
    Ok(images
        .iter()
        .map(|image| {
            image.as_ref()?;
            vectors.next()?.inspect_err(|e| tracing::warn!("--dedup clip: {e}")).ok()
        })
        .collect())
}

/// Rejects kept images with a flag of `reject`, naming the first such flag as the reason.
fn reject_flagged(records: &mut [CleanRecord], reject: &[QualityFlag], out: &Path) {
    for record in records.iter_mut().filter(|r| r.status == CleanStatus::Kept) {
        let Some(quality) = &record.quality else { continue };
        let Some(flag) = quality.flags.iter().find(|f| reject.contains(f)).copied() else { continue };
        let score = quality.scores.get(&flag).copied().unwrap_or_default();
        if let Some(path) = record.path.take() {
            let _ = std::fs::remove_file(out.join(path));
        }
        record.status = CleanStatus::Rejected;
        record.reason = Some(flag.name().into());
        record.detail = Some(format!("{flag} score {score:.3} is below its threshold"));
    }
}

/// Where a kept image of `source` in `class` goes, relative to `clean/`.
fn output_path(class: &str, source: &Path) -> String {
    let stem = source.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
    format!("{}/{stem}.jpg", picseek_manifest::folder_name(class))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(path: &str, sha: &str, pixels: &str, mean_rgb: [u8; 3]) -> CleanRecord {
        CleanRecord {
            path: Some(format!("Owl/{path}")),
            status: CleanStatus::Kept,
            width: Some(100),
            height: Some(100),
            sha256: sha.into(),
            pixels_xxh3: Some(pixels.into()),
            mean_rgb: Some(mean_rgb),
            ..CleanRecord::unexamined(&format!("animal/Owl/{path}"), "Owl", "animal")
        }
    }

    fn hash(bits: u64) -> ImageHash {
        ImageHash::from_bytes(&bits.to_be_bytes()).unwrap()
    }

    fn options(dedup: Dedup) -> CleanOptions {
        CleanOptions { dedup, ..CleanOptions::default() }
    }

    /// The state after keeping `first` with perceptual hash 0.
    fn seen_first() -> (KeptImages, CleanRecord) {
        let first = kept("a.jpg", "sha-a", "px-a", [100, 100, 100]);
        let mut seen = KeptImages::default();
        seen.add(&first, Some(hash(0)));
        (seen, first)
    }

    #[test]
    fn the_first_kept_image_wins_for_same_bytes_and_same_pixels() {
        let (seen, _) = seen_first();
        let same_bytes = kept("b.jpg", "sha-a", "px-b", [0, 0, 0]);
        let same_pixels = kept("c.png", "sha-c", "px-a", [0, 0, 0]);
        for dedup in [Dedup::Exact, Dedup::Near] {
            assert_eq!(seen.duplicate_of(&same_bytes, None, &options(dedup)).as_deref(), Some("Owl/a.jpg"));
            assert_eq!(seen.duplicate_of(&same_pixels, None, &options(dedup)).as_deref(), Some("Owl/a.jpg"));
        }
        assert_eq!(seen.duplicate_of(&same_bytes, None, &options(Dedup::Off)), None);
    }

    #[test]
    fn near_duplicates_need_a_close_hash_and_a_close_mean_colour() {
        let (seen, _) = seen_first();
        let near = kept("d.jpg", "sha-d", "px-d", [110, 95, 100]);
        let five_bits = hash(0b11111);
        let six_bits = hash(0b111111);
        assert_eq!(seen.duplicate_of(&near, Some(&five_bits), &options(Dedup::Near)).as_deref(), Some("Owl/a.jpg"));
        assert_eq!(seen.duplicate_of(&near, Some(&six_bits), &options(Dedup::Near)), None);
        assert_eq!(seen.duplicate_of(&near, Some(&five_bits), &options(Dedup::Exact)), None);
        // Same structure, another colour (every flat image hashes alike): not a duplicate.
        let other_colour = kept("e.jpg", "sha-e", "px-e", [100, 100, 200]);
        assert_eq!(seen.duplicate_of(&other_colour, Some(&hash(0)), &options(Dedup::Near)), None);
    }

    #[test]
    fn the_summary_counts_duplicates_together() {
        let mut dup = kept("b.jpg", "sha-b", "px-b", [0, 0, 0]);
        dup.status = CleanStatus::Rejected;
        dup.reason = Some("duplicate_of:Owl/a.jpg".into());
        let mut small = dup.clone();
        small.reason = Some("too_small".into());
        let report = CleanReport::default().finish(vec![seen_first().1, dup.clone(), dup, small]);
        assert_eq!(report.kept(), 1);
        assert_eq!(report.rejected(), [("duplicate".to_owned(), 2), ("too_small".to_owned(), 1)].into());
        assert_eq!(report.summary["rejected: duplicate"], 2);
        assert_eq!(report.files, 4);
    }
}
