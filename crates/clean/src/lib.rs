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

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use image_hasher::ImageHash;
use indicatif::{ProgressBar, ProgressStyle};
use picseek_imaging::ImageError;
use picseek_manifest::{
    CleanManifest, CleanRecord, CleanStatus, ManifestError, read_json, write_atomic, write_json_atomic,
};
use rayon::prelude::*;

use crate::examine::{Examined, Examiner};
use crate::inputs::list_inputs;

/// Files examined at once: enough for every core, few enough to bound memory.
const BATCH: usize = 256;
/// The largest difference of mean colour, per channel, between near duplicates.
const NEAR_MEAN_COLOUR: u8 = 24;

/// Which duplicates to reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dedup {
    Off,
    /// Same file bytes or same decoded pixels.
    Exact,
    /// Exact, and perceptual hashes within `near_distance` bits with close mean colours.
    Near,
}

#[derive(Debug, Clone)]
pub struct CleanOptions {
    /// `raw/`.
    pub input: PathBuf,
    /// `clean/`; the manifest is `clean/manifest.json`.
    pub out: PathBuf,
    /// Images whose shorter side is below this are rejected as `too_small`.
    pub min_side: u32,
    pub dedup: Dedup,
    /// The largest Hamming distance between 64-bit perceptual hashes of near duplicates.
    pub near_distance: u32,
    pub max_decode_bytes: u64,
    pub jpeg_quality: u8,
}

#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Listing(#[from] ImageError),
}

#[derive(Debug, Clone, Default)]
pub struct CleanReport {
    /// The whole manifest, in source path order.
    pub records: Vec<CleanRecord>,
    /// Files examined in this run.
    pub examined: usize,
    /// Files whose earlier record still holds.
    pub reused: usize,
}

impl CleanReport {
    /// Counts of kept images and of rejections by reason (duplicates counted together).
    pub fn summary(&self) -> Vec<(String, usize)> {
        let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
        for r in &self.records {
            let key = match (&r.status, r.reason.as_deref()) {
                (CleanStatus::Kept, _) => "kept".to_owned(),
                (CleanStatus::Rejected, Some(reason)) if reason.starts_with("duplicate_of:") => {
                    "rejected: duplicate".into()
                }
                (CleanStatus::Rejected, reason) => format!("rejected: {}", reason.unwrap_or("unknown")),
            };
            *counts.entry(key).or_default() += 1;
        }
        counts.into_iter().collect()
    }
}

/// The duplicate-detection state: every kept image seen so far.
#[derive(Default)]
struct KeptImages {
    by_bytes: HashMap<String, String>,
    by_pixels: HashMap<String, String>,
    hashes: Vec<(ImageHash, [u8; 3], String)>,
}

impl KeptImages {
    fn duplicate_of(&self, record: &CleanRecord, phash: Option<&ImageHash>, opts: &CleanOptions) -> Option<String> {
        if opts.dedup == Dedup::Off {
            return None;
        }
        let exact = self
            .by_bytes
            .get(&record.sha256)
            .or_else(|| record.pixels_xxh3.as_ref().and_then(|p| self.by_pixels.get(p)));
        if exact.is_some() || opts.dedup == Dedup::Exact {
            return exact.cloned();
        }
        let (phash, colour) = (phash?, record.mean_rgb?);
        let colour_close = |c: &[u8; 3]| c.iter().zip(colour).all(|(a, b)| a.abs_diff(b) <= NEAR_MEAN_COLOUR);
        self.hashes
            .iter()
            .find(|(h, c, _)| h.dist(phash) <= opts.near_distance && colour_close(c))
            .map(|(_, _, path)| path.clone())
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

/// Runs the clean stage: see the crate documentation.
pub fn clean(opts: &CleanOptions) -> Result<CleanReport, CleanError> {
    let inputs = list_inputs(&opts.input)?;
    let manifest_path = opts.out.join("manifest.json");
    let previous: CleanManifest = if manifest_path.exists() { read_json(&manifest_path)? } else { Vec::new() };
    let mut previous: HashMap<String, CleanRecord> = previous.into_iter().map(|r| (r.source.clone(), r)).collect();
    let examiner = Examiner::new(opts);

    let mut report = CleanReport::default();
    let mut kept = KeptImages::default();
    let mut records: Vec<CleanRecord> = Vec::with_capacity(inputs.len());
    let progress = ProgressBar::new(inputs.len() as u64).with_message("cleaning");
    progress.set_style(
        ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} {per_sec} [{elapsed} < {eta}]")
            .expect("valid template"),
    );
    for batch in inputs.chunks(BATCH) {
        let examined: Vec<Examined> =
            batch.par_iter().map(|input| examiner.examine(input, previous.get(&input.source), &opts.out)).collect();
        let mut to_write = Vec::new();
        for item in examined {
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
            if record.status == CleanStatus::Kept {
                if let Some(original) =
                    kept.duplicate_of(&record, phash.as_ref(), opts).filter(|p| Some(p) != record.path.as_ref())
                {
                    tracing::info!("{}: duplicate of {original}", record.source);
                    if let Some(path) = record.path.take() {
                        // A re-run may find an earlier kept image to be a duplicate now.
                        let _ = std::fs::remove_file(opts.out.join(path));
                    }
                    record.status = CleanStatus::Rejected;
                    record.reason = Some(format!("duplicate_of:{original}"));
                } else {
                    if let (Some(jpeg), Some(path)) = (image, &record.path) {
                        to_write.push((opts.out.join(path), jpeg));
                    }
                    kept.add(&record, phash);
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
    write_json_atomic(&manifest_path, &records)?;
    report.records = records;
    Ok(report)
}

/// Where a kept image of `source` in `class` goes, relative to `clean/`.
fn output_path(class: &str, source: &Path) -> String {
    let stem = source.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
    format!("{}/{stem}.jpg", picseek_manifest::folder_name(class))
}
