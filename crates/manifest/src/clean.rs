//! `clean/manifest.json`: what clean made of each input file, and why a duplicate is
//! one.

use serde::{Deserialize, Serialize};

/// `clean/manifest.json`: one record per file found in `raw/`.
pub type CleanManifest = Vec<CleanRecord>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// What the clean stage made of one input file.
pub struct CleanRecord {
    /// The input file, relative to the raw folder.
    pub source: String,
    /// The RGB image written, relative to the clean folder, when kept.
    pub path: Option<String>,
    /// The class (the term).
    pub class: String,
    /// The category the class belongs to.
    pub category: String,
    /// Kept or rejected.
    pub status: CleanStatus,
    /// Why it was rejected: `undecodable`, `empty`, `unreadable`, `too_small`,
    /// `too_large`, `unencodable`, a quality flag asked to reject, or
    /// `duplicate_of:<path of the kept image>`.
    pub reason: Option<crate::RejectReason>,
    /// The decoder's message, for rejected files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Size after EXIF orientation, when decodable.
    pub width: Option<u32>,
    /// Height after EXIF orientation, when decodable.
    pub height: Option<u32>,
    /// Of the input file's bytes.
    pub sha256: String,
    /// XXH3-128 of the decoded RGB pixels and size (exact duplicates in other encodings
    /// share it; a fast hash suffices, this is not a security boundary).
    #[serde(default)]
    pub pixels_xxh3: Option<String>,
    /// Perceptual (gradient) hash, hex, for near-duplicate detection.
    #[serde(default)]
    pub phash: Option<String>,
    /// Mean colour: a gradient hash is blind to colour (every flat image hashes to 0), so
    /// near duplicates must also have close mean colours.
    #[serde(default)]
    pub mean_rgb: Option<[u8; 3]>,
    /// Quality scores and flags of a kept image (every score is in [0, 1], lower is
    /// worse, as cleanvision's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<Quality>,
    /// The photo's page, owner and licence, from the download record of `source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<crate::PhotoSource>,
    /// For a duplicate: the kept image it duplicates, how they matched, and what was
    /// measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<DuplicateEvidence>,
}

/// Why an image was taken for a duplicate of a kept one: every measure behind the
/// decision, as numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuplicateEvidence {
    /// The kept image, relative to the clean folder.
    pub of: String,
    /// How they matched.
    pub matched: DuplicateMatch,
    /// Bits (of 64) in which their gradient hashes differ, where hashes were compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_distance: Option<u32>,
    /// The share (0 to 1) of pixels that find no match in the other once aligned, where
    /// pixels were compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixel_difference: Option<f32>,
    /// The cosine of their CLIP vectors, where vectors were compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cosine: Option<f32>,
    /// The two are of different classes (held to stricter bounds).
    #[serde(default)]
    pub across_classes: bool,
}

/// How a duplicate matched its kept image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateMatch {
    /// The same file bytes.
    SameBytes,
    /// The same decoded pixels in another encoding.
    SamePixels,
    /// Close gradient hashes, confirmed by their aligned pixels.
    Near,
    /// Close CLIP vectors, confirmed by their aligned pixels.
    Clip,
}

impl DuplicateMatch {
    /// How a person would say it.
    pub fn describe(self) -> &'static str {
        match self {
            DuplicateMatch::SameBytes => "same bytes",
            DuplicateMatch::SamePixels => "same pixels",
            DuplicateMatch::Near => "near copies (hash and pixels)",
            DuplicateMatch::Clip => "near copies (CLIP and pixels)",
        }
    }
}

impl CleanRecord {
    /// The record of an input file not looked at yet: rejected, with nothing known.
    pub fn unexamined(source: &str, class: &str, category: &str) -> Self {
        Self {
            source: source.to_owned(),
            path: None,
            class: class.to_owned(),
            category: category.to_owned(),
            status: CleanStatus::Rejected,
            reason: None,
            detail: None,
            width: None,
            height: None,
            sha256: String::new(),
            pixels_xxh3: None,
            phash: None,
            mean_rgb: None,
            quality: None,
            provenance: None,
            duplicate: None,
        }
    }
}

/// An image's quality scores and the flags they raise.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// Each issue's score (lower is worse; `grayscale` is 0 for grey images, 1 otherwise).
    pub scores: std::collections::BTreeMap<crate::QualityFlag, f64>,
    /// The issues whose score is below its threshold.
    pub flags: Vec<crate::QualityFlag>,
    /// What `odd_size` is scored on: the square root of the area, in pixels.
    pub size: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
/// Whether an input file became an image of `clean/`.
pub enum CleanStatus {
    /// Written to `clean/<class>/`.
    Kept,
    /// Not kept; `reason` says why.
    Rejected,
}
