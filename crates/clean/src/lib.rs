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
mod likeness;
/// The look-alike fixtures of the end-to-end tests, for the unit tests here.
#[cfg(test)]
#[path = "../../../tests/support/lookalikes.rs"]
mod lookalikes;
mod quality;

pub use quality::QualityThresholds;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use image_hasher::ImageHash;
use picseek_ann::NearNeighbours;
use picseek_imaging::ImageError;
use picseek_manifest::progress::Reporter;
use picseek_manifest::{
    ClassNaming, CleanManifest, CleanOutcome, CleanRecord, CleanStatus, DataDir, DuplicateEvidence, DuplicateMatch,
    InvalidOption, ManifestError, QualityFlag, RejectReason, Shard, ShardError, input_fingerprint, read_json,
    shards_to_merge, write_atomic, write_json_atomic,
};
use quality::mark_odd_sizes;
use rayon::prelude::*;
use serde::Serialize;

use crate::examine::{Examined, Examiner};
use crate::inputs::{Input, list_inputs};
use crate::likeness::Likeness;

/// Files examined at once: enough for every core, few enough to bound memory.
const BATCH: usize = 256;
/// The largest difference of mean colour, per channel, between near duplicates: a
/// brightness change of 10 % moves white by 26. (Pixels are compared without their
/// brightness, so this is what keeps one picture in two colours apart.)
const NEAR_MEAN_COLOUR: u8 = 32;

/// Which duplicates to reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Dedup {
    /// Keep every image.
    Off,
    /// Same file bytes or same decoded pixels.
    Exact,
    /// Exact, and copies: perceptual hashes within `near_distance` bits with close mean
    /// colours, confirmed by aligned pixels (at most `near_pixels` of them unmatched).
    Near,
    /// Near, and CLIP embeddings (of `CleanOptions::clip`'s model) at least
    /// `clip_threshold` alike in cosine, also confirmed by aligned pixels: copies the
    /// hash misses.
    Clip,
}

/// The CLIP model `--dedup clip` compares kept images with, and where its embedding
/// cache is (the index's, so `index` embeds nothing twice).
#[derive(Debug, Clone, PartialEq)]
pub struct ClipDedup {
    /// The model and how to run it.
    pub model: picseek_embed::ModelOptions,
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
    /// The largest Hamming distance between 64-bit perceptual hashes of near duplicates
    /// (a first filter: unrelated pictures are about 32 bits apart, and a 6 % crop of
    /// sharp-edged art moves up to 17).
    pub near_distance: u32,
    /// The largest share (0 to 1) of pixels that may find no match in the other image,
    /// once aligned, for two images to be near duplicates: copies (crops, re-encodings,
    /// brightness changes, shifts) leave under 0.1 %; a different glyph or mouth on one
    /// template about 1 %. Images of different classes must match within half of this,
    /// and of `near_distance`.
    pub near_pixels: f32,
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
    /// For a folder of one's own (no download manifest in `input`): where each image's
    /// class comes from. A download's `raw/` always takes its terms.
    pub classes: ClassNaming,
    /// Examine only this shard's files (by path) into the shard's own manifest, and
    /// leave what needs every file (duplicates, odd sizes, `reject`) to [`merge_clean`].
    pub shard: Option<Shard>,
    /// Where progress goes.
    pub progress: Reporter,
}

impl Default for CleanOptions {
    fn default() -> Self {
        Self {
            input: DataDir::default().raw(),
            out: DataDir::default().clean(),
            min_side: 50,
            dedup: Dedup::Near,
            near_distance: 18,
            near_pixels: 0.003,
            max_decode_bytes: picseek_imaging::DEFAULT_MAX_DECODE_BYTES,
            jpeg_quality: 95,
            quality: QualityThresholds::default(),
            reject: Vec::new(),
            clip: None,
            shard: None,
            classes: ClassNaming::Folder,
            progress: Reporter::default(),
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
        if !(0.0..=1.0).contains(&self.near_pixels) {
            return Err(InvalidOption::new("near_pixels", format!("must be from 0 to 1, not {}", self.near_pixels)));
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
    /// A stop was requested (Ctrl-C or SIGTERM); the manifest keeps what was done.
    #[error(transparent)]
    Interrupted(#[from] picseek_manifest::stop::Interrupted),
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
    Clip(#[from] picseek_embed::EmbedError),
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
    pub summary: BTreeMap<CleanOutcome, usize>,
    /// Duplicates by how they matched.
    pub duplicates: BTreeMap<DuplicateMatch, usize>,
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

    /// Rejected files by reason (duplicates counted together, [`RejectReason::kind`]).
    pub fn rejected(&self) -> BTreeMap<RejectReason, usize> {
        let mut counts = BTreeMap::new();
        for r in self.records.iter().filter(|r| r.status == CleanStatus::Rejected) {
            if let Some(reason) = &r.reason {
                *counts.entry(reason.kind()).or_default() += 1;
            }
        }
        counts
    }

    fn finish(mut self, records: Vec<CleanRecord>) -> Self {
        self.files = records.len();
        self.records = records;
        let kept = self.kept();
        self.summary = self.rejected().into_iter().map(|(reason, n)| (CleanOutcome::Rejected(reason), n)).collect();
        self.summary.insert(CleanOutcome::Kept, kept);
        for evidence in self.records.iter().filter_map(|r| r.duplicate.as_ref()) {
            *self.duplicates.entry(evidence.matched).or_default() += 1;
        }
        for record in self.records.iter().filter(|r| r.status == CleanStatus::Kept) {
            for flag in record.quality.iter().flat_map(|q| &q.flags) {
                *self.flagged.entry(*flag).or_default() += 1;
            }
        }
        self
    }
}

/// A kept image as duplicates are told from it.
struct KeptImage {
    path: String,
    class: String,
    /// Its input file, from which an earlier run's image is compared again.
    source: PathBuf,
    hash: Option<ImageHash>,
    colour: Option<[u8; 3]>,
    /// Its likeness (see [`LazyLikeness`]).
    likeness: LazyLikeness,
    /// Its CLIP vector (`--dedup clip`).
    vector: Option<Vec<f32>>,
}

/// An image's likeness: known for images examined in this run, read from the input file
/// when first needed for the others, and then kept (`None` inside: the file cannot be
/// read any more).
type LazyLikeness = OnceLock<Option<Likeness>>;

/// A likeness already known.
fn known(likeness: Option<Likeness>) -> LazyLikeness {
    let lazy = OnceLock::new();
    if let Some(likeness) = likeness {
        let _ = lazy.set(Some(likeness));
    }
    lazy
}

/// What the first kind of evidence says of a kept image and the one being decided.
#[derive(Clone, Copy)]
struct FirstEvidence {
    across_classes: bool,
    hash_distance: Option<u32>,
    cosine: Option<f32>,
}

/// A kept image that the first kind of evidence points to, for its pixels to confirm.
struct Suspect<'a> {
    path: &'a str,
    likeness: &'a Likeness,
    first: FirstEvidence,
}

/// What is known of an image being decided.
struct Candidate<'a> {
    record: &'a CleanRecord,
    hash: Option<&'a ImageHash>,
    likeness: &'a LazyLikeness,
    vector: Option<&'a [f32]>,
}

/// An image of a batch, ready to be decided: its record, hash, likeness, output file (for
/// an image examined in this run) and CLIP vector (`--dedup clip`).
type Decidable = (CleanRecord, Option<ImageHash>, LazyLikeness, Option<Vec<u8>>, Option<Vec<f32>>);

impl<'a> Candidate<'a> {
    fn of((record, hash, likeness, _, vector): &'a Decidable) -> Self {
        Candidate { record, hash: hash.as_ref(), likeness, vector: vector.as_deref() }
    }
}

/// The duplicate-detection state: every kept image seen so far.
struct KeptImages<'a> {
    examiner: &'a Examiner,
    input: &'a Path,
    by_bytes: HashMap<String, String>,
    by_pixels: HashMap<String, String>,
    images: Vec<KeptImage>,
    /// The CLIP vectors of `images`, by position, in a graph that names the few alike
    /// enough to compare (made with the first vector).
    near: Option<NearNeighbours>,
}

impl<'a> KeptImages<'a> {
    fn new(examiner: &'a Examiner, input: &'a Path) -> Self {
        Self { examiner, input, by_bytes: HashMap::new(), by_pixels: HashMap::new(), images: Vec::new(), near: None }
    }

    /// The kept image `candidate` duplicates, with the evidence: the same file, the same
    /// picture in another encoding, or (with near dedup) two independent kinds of evidence
    /// that it is a copy: a close gradient hash or CLIP vector, and aligned pixels that
    /// match. Images of another class must match within half the bounds. A low-information
    /// image (near-blank: its hash and pixels say nothing) is only ever an exact duplicate.
    /// Near copies are looked for among the kept images from position `from` on (exact
    /// ones among all).
    fn duplicate(&self, candidate: &Candidate, opts: &CleanOptions, from: usize) -> Option<DuplicateEvidence> {
        if opts.dedup == Dedup::Off {
            return None;
        }
        let exact = |of: &String, matched| DuplicateEvidence {
            of: of.clone(),
            matched,
            hash_distance: None,
            pixel_difference: None,
            cosine: None,
            across_classes: false,
        };
        let record = candidate.record;
        if let Some(path) = self.by_bytes.get(&record.sha256) {
            return Some(exact(path, DuplicateMatch::SameBytes));
        }
        if let Some(path) = record.pixels_xxh3.as_ref().and_then(|p| self.by_pixels.get(p)) {
            return Some(exact(path, DuplicateMatch::SamePixels));
        }
        if opts.dedup == Dedup::Exact {
            return None;
        }
        let clip_threshold = opts.clip.as_ref().map(|c| c.threshold);
        let colour = record.mean_rgb;
        let colour_close = |c: Option<[u8; 3]>| match (c, colour) {
            (Some(a), Some(b)) => a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= NEAR_MEAN_COLOUR),
            _ => false,
        };
        // The kept images the model may see as alike: the graph's, not all of them.
        let alike: HashSet<usize> = match (&self.near, candidate.vector, clip_threshold) {
            (Some(near), Some(vector), Some(threshold)) => near
                .within(vector, threshold)
                .unwrap_or_else(|e| {
                    tracing::warn!("{e}; looking for near copies by hash only");
                    Vec::new()
                })
                .into_iter()
                .map(|key| key as usize)
                .collect(),
            _ => HashSet::new(),
        };
        // The first kind of evidence narrows the kept images down; pixels confirm.
        let mut suspects: Vec<(f32, &KeptImage, FirstEvidence)> = Vec::new();
        for (position, kept) in self.images.iter().enumerate().skip(from) {
            let across_classes = kept.class != record.class;
            let strictness = if across_classes { 2 } else { 1 };
            let distance = match (kept.hash.as_ref(), candidate.hash) {
                (Some(a), Some(b)) => Some(a.dist(b)),
                _ => None,
            };
            let near = distance.filter(|d| *d <= opts.near_distance / strictness && colour_close(kept.colour));
            let cosine = match (kept.vector.as_deref(), candidate.vector, clip_threshold) {
                (Some(a), Some(b), Some(threshold)) if alike.contains(&position) => {
                    let cosine = picseek_ann::cosine(a, b);
                    let needed = if across_classes { (1.0 + threshold) / 2.0 } else { threshold };
                    (cosine >= needed).then_some(cosine)
                }
                _ => None,
            };
            if near.is_some() || cosine.is_some() {
                // Closest first: by cosine where the model saw them alike, else by hash.
                let closeness = cosine.map_or_else(|| near.map_or(0.0, |d| 1.0 - d as f32 / 64.0), |c| 1.0 + c);
                suspects.push((closeness, kept, FirstEvidence { across_classes, hash_distance: distance, cosine }));
            }
        }
        if suspects.is_empty() {
            return None;
        }
        let likeness = candidate.likeness.get_or_init(|| self.read_likeness(&record.source)).as_ref()?;
        if likeness.low_information {
            return None;
        }
        suspects.sort_by(|a, b| b.0.total_cmp(&a.0));
        // Images of earlier runs are read once, here; the comparisons then run on all
        // cores, and the first suspect in order that matches is the original.
        let known: Vec<Suspect> = suspects
            .into_iter()
            .filter_map(|(_, kept, first)| {
                let likeness = kept.likeness.get_or_init(|| self.read_likeness(&kept.source)).as_ref()?;
                (!likeness.low_information).then_some(Suspect { path: &kept.path, likeness, first })
            })
            .collect();
        let measured = known.par_iter().map(|suspect| {
            let FirstEvidence { across_classes, hash_distance, cosine } = suspect.first;
            let bound = if across_classes { opts.near_pixels / 2.0 } else { opts.near_pixels };
            let difference = suspect.likeness.difference(likeness, bound);
            (difference <= bound).then(|| DuplicateEvidence {
                of: suspect.path.to_owned(),
                matched: if cosine.is_some() { DuplicateMatch::Clip } else { DuplicateMatch::Near },
                hash_distance,
                pixel_difference: Some(difference),
                cosine,
                across_classes,
            })
        });
        measured.find_first(Option::is_some).flatten()
    }

    /// The likeness of an image examined by an earlier run, from its input file.
    fn read_likeness(&self, source: impl AsRef<Path>) -> Option<Likeness> {
        let likeness = self.examiner.likeness_of_file(&self.input.join(source.as_ref()));
        if likeness.is_none() {
            tracing::debug!("{}: cannot be read again to compare with", source.as_ref().display());
        }
        likeness
    }

    fn add(&mut self, record: &CleanRecord, hash: Option<ImageHash>, likeness: LazyLikeness, vector: Option<Vec<f32>>) {
        let Some(path) = record.path.clone() else { return };
        self.by_bytes.insert(record.sha256.clone(), path.clone());
        if let Some(pixels) = &record.pixels_xxh3 {
            self.by_pixels.insert(pixels.clone(), path.clone());
        }
        if let Some(vector) = &vector {
            let position = self.images.len() as u64;
            let added = match &mut self.near {
                Some(near) => near.add(&[(position, vector)]),
                None => NearNeighbours::new(vector.len()).and_then(|mut near| {
                    near.add(&[(position, vector)])?;
                    self.near = Some(near);
                    Ok(())
                }),
            };
            if let Err(e) = added {
                tracing::warn!("{e}; {path} will not be found alike by the model");
            }
        }
        self.images.push(KeptImage {
            path,
            class: record.class.clone(),
            source: PathBuf::from(&record.source),
            hash,
            colour: record.mean_rgb,
            likeness,
            vector,
        });
    }
}

/// The words a duplicate's `detail` says how it matched in.
fn describe(evidence: &DuplicateEvidence) -> String {
    let pixels = evidence.pixel_difference.map_or(String::new(), |d| format!(", {:.2} % of pixels differ", d * 100.0));
    let across = if evidence.across_classes { ", in another class" } else { "" };
    match evidence.matched {
        DuplicateMatch::SameBytes => "exact: the same bytes".into(),
        DuplicateMatch::SamePixels => "exact: the same pixels in another encoding".into(),
        DuplicateMatch::Near => format!(
            "near: looks alike (perceptual hashes {} bits apart{pixels}{across})",
            evidence.hash_distance.unwrap_or_default()
        ),
        DuplicateMatch::Clip => format!(
            "clip: looks alike to the model (cosine {:.3}{pixels}{across})",
            evidence.cosine.unwrap_or_default()
        ),
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
    let inputs = list_inputs(&opts.input, opts.classes)?;
    let Some(shard) = opts.shard else {
        picseek_manifest::remove_stale_temporaries(&opts.out, 2);
        let manifest_path = DataDir::stage_manifest(&opts.out);
        let previous = read_records(&manifest_path)?;
        return clean_inputs(opts, inputs, previous, manifest_path, Scope::Whole);
    };
    let fingerprint = inputs_fingerprint(&inputs);
    let manifest_path = DataDir::stage_manifest(&shard.dir(&opts.out));
    if shard.completed(&opts.out, &fingerprint).is_some() {
        let records: CleanManifest = read_json(&manifest_path)?;
        let report =
            CleanReport { manifest: manifest_path, shard: Some(shard), already_complete: true, ..Default::default() };
        return Ok(CleanReport { reused: records.len(), ..report.finish(records) });
    }
    shard.clear_completion(&opts.out)?;
    // A shard also knows what a merged (or whole) run before it examined.
    let mut previous = read_records(&DataDir::stage_manifest(&opts.out))?;
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
    let inputs = list_inputs(&opts.input, opts.classes)?;
    let shards = shards_to_merge(&opts.out, count, &inputs_fingerprint(&inputs))?;
    picseek_manifest::remove_stale_temporaries(&opts.out, 3);
    let manifest_path = DataDir::stage_manifest(&opts.out);
    let mut previous = read_records(&manifest_path)?;
    for shard in &shards {
        previous.extend(read_records(&DataDir::stage_manifest(&shard.dir(&opts.out)))?);
    }
    clean_inputs(opts, inputs, previous, manifest_path, Scope::Whole)
}

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
    let mut kept = KeptImages::new(&examiner, &opts.input);
    let mut records: Vec<CleanRecord> = Vec::with_capacity(inputs.len());
    let progress = opts.progress.start("cleaning", Some(inputs.len() as u64));
    let mut clip = match (&opts.clip, opts.dedup) {
        (Some(clip), Dedup::Clip) => {
            Some(picseek_embed::CachedClipEmbedder::open(&clip.index_dir, &clip.model, opts.max_decode_bytes)?)
        }
        _ => None,
    };
    let total = inputs.len();
    for batch in inputs.chunks(BATCH) {
        // Each file looks for a stop first, so a stop is seen within one file's time.
        let examined: Vec<Option<Examined>> = batch
            .par_iter()
            .map(|input| {
                picseek_manifest::stop::requested()
                    .is_none()
                    .then(|| examiner.examine(input, previous.get(&input.source), &opts.out))
            })
            .collect();
        if examined.iter().any(Option::is_none) {
            let done = records.len();
            // What earlier runs recorded of the files not reached stays in the manifest.
            records.extend(previous.into_values());
            write_json_atomic(&manifest_path, &records)?;
            return Err(picseek_manifest::stop::Interrupted { done, total }.into());
        }
        let examined: Vec<Examined> = examined.into_iter().flatten().collect();
        let mut vectors = match clip.as_mut() {
            Some(clip) => clip_vectors(clip, &examined, &opts.out)?.into_iter(),
            None => Vec::new().into_iter(),
        };
        let mut to_write = Vec::new();
        let prepared: Vec<Decidable> = examined
            .into_iter()
            .map(|item| {
                let vector = vectors.next().flatten();
                match item {
                    Examined::Unchanged(record) => {
                        report.reused += 1;
                        let phash = parse_phash(&record);
                        (record, phash, LazyLikeness::new(), None, vector)
                    }
                    Examined::New { record, phash, likeness, output } => {
                        report.examined += 1;
                        (record, phash, known(likeness), output, vector)
                    }
                }
            })
            .collect();
        // Whether each image copies one kept before this batch is asked of all at once, on
        // all cores; only copies of images kept within the batch are looked for in order.
        let batch_start = kept.images.len();
        let earlier: Vec<Option<DuplicateEvidence>> = prepared
            .par_iter()
            .map(|item| {
                (item.0.status == CleanStatus::Kept).then(|| kept.duplicate(&Candidate::of(item), opts, 0)).flatten()
            })
            .collect();
        for ((input, item), earlier) in batch.iter().zip(prepared).zip(earlier) {
            let duplicate = earlier.or_else(|| {
                (item.0.status == CleanStatus::Kept)
                    .then(|| kept.duplicate(&Candidate::of(&item), opts, batch_start))
                    .flatten()
            });
            let (mut record, phash, likeness, image, vector) = item;
            previous.remove(&record.source);
            // Provenance follows the download manifest, also for files unchanged since.
            record.provenance = input.provenance.clone();
            if record.status == CleanStatus::Kept {
                let duplicate = duplicate.filter(|e| Some(&e.of) != record.path.as_ref());
                if let Some(evidence) = duplicate {
                    tracing::debug!("{}: duplicate of {} ({})", record.source, evidence.of, describe(&evidence));
                    if let Some(path) = record.path.take() {
                        // A re-run may find an earlier kept image to be a duplicate now.
                        let _ = std::fs::remove_file(opts.out.join(path));
                    }
                    record.status = CleanStatus::Rejected;
                    record.reason = Some(RejectReason::DuplicateOf(evidence.of.clone()));
                    record.detail = Some(describe(&evidence));
                    record.duplicate = Some(evidence);
                } else {
                    if let (Some(file), Some(path)) = (image, &record.path) {
                        to_write.push((opts.out.join(path), file));
                    }
                    kept.add(&record, phash, likeness, vector);
                }
            } else if let (Some(reason), Some(detail)) = (&record.reason, &record.detail) {
                tracing::debug!("rejected {} ({reason}): {detail}", record.source);
            }
            records.push(record);
            progress.advance(1);
        }
        to_write.par_iter().try_for_each(|(path, bytes)| write_atomic(path, bytes))?;
        write_json_atomic(&manifest_path, &records)?;
    }
    drop(progress);
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
    clip: &mut picseek_embed::CachedClipEmbedder,
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
        record.reason = Some(RejectReason::Flagged(flag));
        record.detail = Some(format!("{flag} score {score:.3} is below its threshold"));
    }
}

/// Where a kept image of `source` in `class` goes, relative to `clean/`.
fn output_path(class: &str, source: &Path, extension: &str) -> String {
    let stem = source.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
    format!("{}/{stem}.{extension}", picseek_manifest::folder_name(class))
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

    fn options(dedup: Dedup) -> CleanOptions {
        CleanOptions { dedup, ..CleanOptions::default() }
    }

    /// A kept record of `image` in `class`, with its hash and likeness.
    fn examined(
        examiner: &Examiner,
        class: &str,
        name: &str,
        image: &image::RgbaImage,
    ) -> (CleanRecord, ImageHash, Likeness) {
        let view = crate::likeness::comparison_view(&image::DynamicImage::ImageRgba8(image.clone()));
        let (hash, mean, pixels, likeness) = examiner.fingerprint(&view);
        let record = CleanRecord {
            path: Some(format!("{class}/{name}.jpg")),
            status: CleanStatus::Kept,
            sha256: format!("sha-{class}-{name}"),
            pixels_xxh3: Some(pixels),
            mean_rgb: Some(mean),
            ..CleanRecord::unexamined(&format!("things/{class}/{name}.png"), class, "things")
        };
        (record, hash, likeness)
    }

    /// Decides `images` in order as clean does (keeping what is not a duplicate) and
    /// returns each one's evidence.
    fn decide(opts: &CleanOptions, images: &[(&str, &str, &image::RgbaImage)]) -> Vec<Option<DuplicateEvidence>> {
        let examiner = Examiner::new(opts);
        let mut kept = KeptImages::new(&examiner, Path::new("/nonexistent"));
        images
            .iter()
            .map(|(class, name, image)| {
                let (record, hash, likeness) = examined(&examiner, class, name, image);
                let likeness = known(Some(likeness));
                let candidate = Candidate { record: &record, hash: Some(&hash), likeness: &likeness, vector: None };
                let evidence = kept.duplicate(&candidate, opts, 0);
                if evidence.is_none() {
                    kept.add(&record, Some(hash), likeness, None);
                }
                evidence
            })
            .collect()
    }

    #[test]
    fn the_first_kept_image_wins_for_same_bytes_and_same_pixels() {
        let examiner = Examiner::new(&options(Dedup::Near));
        let mut seen = KeptImages::new(&examiner, Path::new("/nonexistent"));
        let first = kept("a.jpg", "sha-a", "px-a", [100, 100, 100]);
        seen.add(&first, None, LazyLikeness::new(), None);
        let same_bytes = kept("b.jpg", "sha-a", "px-b", [0, 0, 0]);
        let same_pixels = kept("c.png", "sha-c", "px-a", [0, 0, 0]);
        let of = |record: &CleanRecord, dedup| {
            let unread = LazyLikeness::new();
            let candidate = Candidate { record, hash: None, likeness: &unread, vector: None };
            seen.duplicate(&candidate, &options(dedup), 0).map(|e| (e.of, e.matched))
        };
        for dedup in [Dedup::Exact, Dedup::Near] {
            assert_eq!(of(&same_bytes, dedup), Some(("Owl/a.jpg".into(), DuplicateMatch::SameBytes)));
            assert_eq!(of(&same_pixels, dedup), Some(("Owl/a.jpg".into(), DuplicateMatch::SamePixels)));
        }
        assert_eq!(of(&same_bytes, Dedup::Off), None);
    }

    #[test]
    fn look_alikes_are_kept_and_planted_copies_caught() {
        let originals = crate::lookalikes::originals();
        let copies = crate::lookalikes::planted_copies(&originals);
        let mut images: Vec<(&str, &str, &image::RgbaImage)> =
            originals.iter().map(|o| ("things", o.name.as_str(), &o.image)).collect();
        images.extend(copies.iter().map(|c| ("things", c.name.as_str(), &c.image)));
        let decided = decide(&options(Dedup::Near), &images);
        let (distinct, planted) = decided.split_at(originals.len());
        for (original, evidence) in originals.iter().zip(distinct) {
            assert!(evidence.is_none(), "{} was taken for a duplicate: {evidence:?}", original.name);
        }
        let missed: Vec<&str> = copies
            .iter()
            .zip(planted)
            .filter(|(copy, evidence)| {
                evidence.as_ref().is_none_or(|e| e.of != format!("things/{}.jpg", copy.original))
            })
            .map(|(copy, _)| copy.name.as_str())
            .collect();
        assert!(missed.len() * 20 <= copies.len(), "{} of {} copies missed: {missed:?}", missed.len(), copies.len());
        let near = planted.iter().flatten().find(|e| e.matched == DuplicateMatch::Near).expect("a near copy");
        assert!(near.hash_distance.is_some() && near.pixel_difference.is_some(), "both measures: {near:?}");
        // Exact mode keeps every copy that is not the same picture (white art made
        // brighter is).
        let exact = decide(&options(Dedup::Exact), &images);
        assert!(exact.iter().flatten().all(|e| e.matched == DuplicateMatch::SamePixels), "{exact:?}");
    }

    #[test]
    fn blank_images_are_never_near_duplicates() {
        let blank = |level: u8| image::RgbaImage::from_pixel(120, 100, image::Rgba([level, level, level, 255]));
        let (white, whiter) = (blank(250), blank(252));
        let decided = decide(&options(Dedup::Near), &[("a", "white", &white), ("a", "whiter", &whiter)]);
        assert_eq!(decided[1], None, "same hash, same colour, but nothing to compare");
    }

    #[test]
    fn another_class_needs_stronger_evidence() {
        let originals = crate::lookalikes::originals();
        let sign = &originals[0].image;
        let shifted = crate::lookalikes::CopyKind::Shift { percent: 3 }.apply(sign);
        let brighter = crate::lookalikes::CopyKind::Brightness { percent: 110 }.apply(sign);
        let opts = CleanOptions { near_distance: 4, ..options(Dedup::Near) };
        let same_class = decide(&opts, &[("a", "sign", sign), ("a", "shifted", &shifted)]);
        let shift_distance = same_class[1].as_ref().map(|e| e.hash_distance);
        let across = decide(&opts, &[("a", "sign", sign), ("b", "shifted", &shifted), ("b", "brighter", &brighter)]);
        assert!(across[2].as_ref().is_some_and(|e| e.across_classes), "a plain copy is caught across classes");
        if shift_distance.flatten().is_some_and(|d| d > 2) {
            assert_eq!(across[1], None, "{shift_distance:?} bits is within the class bound only");
        }
    }

    #[test]
    fn the_summary_counts_duplicates_together() {
        let mut dup = kept("b.jpg", "sha-b", "px-b", [0, 0, 0]);
        dup.status = CleanStatus::Rejected;
        dup.reason = Some(RejectReason::DuplicateOf("Owl/a.jpg".into()));
        let mut small = dup.clone();
        small.reason = Some(RejectReason::TooSmall);
        let first = kept("a.jpg", "sha-a", "px-a", [100, 100, 100]);
        let report = CleanReport::default().finish(vec![first, dup.clone(), dup, small]);
        assert_eq!(report.kept(), 1);
        let duplicate = RejectReason::DuplicateOf(String::new());
        assert_eq!(report.rejected(), [(duplicate.clone(), 2), (RejectReason::TooSmall, 1)].into());
        assert_eq!(report.summary[&CleanOutcome::Rejected(duplicate)], 2);
        assert_eq!(serde_json::to_value(&report).unwrap()["summary"]["rejected: duplicate"], 2);
        assert_eq!(report.files, 4);
    }
}
