//! Examining one file: decode, check, convert, hash, encode.

use std::path::Path;

use image::ImageFormat;
use image_hasher::{HashAlg, Hasher, HasherConfig, ImageHash};
use picseek_imaging::{ImageError, decode, resize_exact, to_rgb_on_white};
use picseek_manifest::{CleanRecord, CleanStatus, RejectReason, sha256_hex};

use crate::inputs::Input;
use crate::likeness::{Likeness, comparison_view};
use crate::quality::{QualityThresholds, image_quality, is_grey};
use crate::{CleanOptions, output_path};

pub(crate) enum Examined {
    /// The earlier record still holds (same bytes, and its output is in place).
    Unchanged(CleanRecord),
    /// A fresh record; a kept image comes with its output file, not yet written, and
    /// what duplicates are told by.
    New { record: CleanRecord, phash: Option<ImageHash>, likeness: Option<Likeness>, output: Option<Vec<u8>> },
}

pub(crate) struct Examiner {
    hasher: Hasher,
    min_side: u32,
    max_decode_bytes: u64,
    jpeg_quality: u8,
    quality: QualityThresholds,
}

impl Examiner {
    pub(crate) fn new(opts: &CleanOptions) -> Self {
        Self {
            hasher: HasherConfig::new().hash_alg(HashAlg::Gradient).hash_size(8, 8).to_hasher(),
            min_side: opts.min_side,
            max_decode_bytes: opts.max_decode_bytes,
            jpeg_quality: opts.jpeg_quality,
            quality: opts.quality.clone(),
        }
    }

    pub(crate) fn examine(&self, input: &Input, earlier: Option<&CleanRecord>, out: &Path) -> Examined {
        let mut record = CleanRecord::unexamined(&input.source, &input.class, &input.category);
        record.provenance = input.provenance.clone();
        let bytes = match std::fs::read(&input.path) {
            Ok(bytes) => bytes,
            Err(source) => return rejected(record, &ImageError::Unreadable { path: input.path.clone(), source }),
        };
        record.sha256 = sha256_hex(&bytes);
        if let Some(earlier) = earlier.filter(|r| r.sha256 == record.sha256) {
            let output_in_place = earlier.path.as_ref().is_none_or(|p| out.join(p).is_file());
            // Records of a version that did not score quality are examined again.
            let scored = earlier.status != CleanStatus::Kept || earlier.quality.is_some();
            // So are images a quality flag or a duplicate rejected: the flags to reject, the
            // dedup mode and the images they were duplicates of may have changed.
            let decided_by_others =
                matches!(earlier.reason, Some(RejectReason::Flagged(_) | RejectReason::DuplicateOf(_)));
            let scored = scored && !decided_by_others;
            if output_in_place && earlier.class == record.class && scored {
                return Examined::Unchanged(earlier.clone());
            }
        }
        if bytes.is_empty() {
            return rejected(record, &ImageError::Empty { path: input.path.clone() });
        }
        let decoded = match decode(&input.path, &bytes, self.max_decode_bytes) {
            Ok(decoded) => decoded,
            Err(e) => return rejected(record, &e),
        };
        let (width, height) = (decoded.image.width(), decoded.image.height());
        record.width = Some(width);
        record.height = Some(height);
        if width.min(height) < self.min_side {
            record.reason = Some(RejectReason::TooSmall);
            record.detail = Some(format!("{width}x{height} has a side below the minimum of {} pixels", self.min_side));
            return Examined::New { record, phash: None, likeness: None, output: None };
        }
        let copy_as_is = decoded.format == ImageFormat::Jpeg
            && decoded.image.color() == image::ColorType::Rgb8
            && !decoded.reoriented;
        let grey = is_grey(&decoded.image);
        // Duplicates are told by the comparison view (transparency on mid-grey), which
        // is the written RGB image itself for an opaque one.
        let (phash, mean, pixels_xxh3, likeness) = self.fingerprint(&comparison_view(&decoded.image));
        let rgb = to_rgb_on_white(decoded.image);
        record.quality = Some(image_quality(grey, &rgb, &self.quality));
        record.pixels_xxh3 = Some(pixels_xxh3);
        record.phash = Some(hex::encode(phash.as_bytes()));
        record.mean_rgb = Some(mean);
        let fits_jpeg = width <= JPEG_MAX_SIDE && height <= JPEG_MAX_SIDE;
        let output = if copy_as_is {
            bytes
        } else {
            let encoded = if fits_jpeg { encode_jpeg(&rgb, self.jpeg_quality) } else { encode_png(&rgb) };
            match encoded {
                Ok(file) => file,
                Err(e) => {
                    record.reason = Some(RejectReason::Unencodable);
                    record.detail = Some(e);
                    return Examined::New { record, phash: None, likeness: None, output: None };
                }
            }
        };
        record.status = CleanStatus::Kept;
        let extension = if fits_jpeg { "jpg" } else { "png" };
        record.path = Some(output_path(&record.class, &input.path, extension));
        Examined::New { record, phash: Some(phash), likeness: Some(likeness), output: Some(output) }
    }

    /// What duplicates of the comparison view `view` are told by: its gradient hash and
    /// mean colour (of a thumbnail: the hash only looks at a 9 x 8 grid, and a mean needs
    /// no detail), a hash of its pixels and size, and its likeness.
    pub(crate) fn fingerprint(&self, view: &image::RgbImage) -> (ImageHash, [u8; 3], String, Likeness) {
        let mut pixels = xxhash_rust::xxh3::Xxh3::new();
        pixels.update(&view.width().to_le_bytes());
        pixels.update(view.as_raw());
        let thumbnail = resize_exact(view, THUMBNAIL, THUMBNAIL);
        let phash = self.hasher.hash_image(&thumbnail);
        (phash, mean_rgb(&thumbnail), format!("{:032x}", pixels.digest128()), Likeness::of(view))
    }

    /// The likeness of an image examined by an earlier run, from its input file.
    pub(crate) fn likeness_of_file(&self, path: &Path) -> Option<Likeness> {
        let bytes = std::fs::read(path).ok()?;
        let decoded = decode(path, &bytes, self.max_decode_bytes).ok()?;
        Some(Likeness::of(&comparison_view(&decoded.image)))
    }
}

/// JPEG cannot store a side longer than this; such images are written as PNG.
const JPEG_MAX_SIDE: u32 = 65_535;

/// The side of the thumbnail the perceptual hash and mean colour are computed on.
const THUMBNAIL: u32 = 64;

fn encode_jpeg(rgb: &image::RgbImage, quality: u8) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let (width, height) = (rgb.width() as u16, rgb.height() as u16);
    jpeg_encoder::Encoder::new(&mut out, quality)
        .encode(rgb.as_raw(), width, height, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

fn encode_png(rgb: &image::RgbImage) -> Result<Vec<u8>, String> {
    let mut out = std::io::Cursor::new(Vec::new());
    rgb.write_to(&mut out, ImageFormat::Png).map_err(|e| e.to_string())?;
    Ok(out.into_inner())
}

fn mean_rgb(rgb: &image::RgbImage) -> [u8; 3] {
    let mut sums = [0u64; 3];
    for pixel in rgb.pixels() {
        for (sum, &value) in sums.iter_mut().zip(&pixel.0) {
            *sum += u64::from(value);
        }
    }
    let n = u64::from(rgb.width()) * u64::from(rgb.height());
    sums.map(|s| (s / n.max(1)) as u8)
}

fn rejected(mut record: CleanRecord, e: &ImageError) -> Examined {
    record.reason = Some(match e {
        ImageError::Unreadable { .. } => RejectReason::Unreadable,
        ImageError::Empty { .. } => RejectReason::Empty,
        ImageError::Undecodable { .. } => RejectReason::Undecodable,
        ImageError::TooLarge { .. } => RejectReason::TooLarge,
    });
    record.detail = Some(e.to_string());
    Examined::New { record, phash: None, likeness: None, output: None }
}
