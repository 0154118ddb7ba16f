//! Examining one file: decode, check, convert, hash, encode.

use std::io::Cursor;
use std::path::Path;

use image::ImageEncoder;
use image::codecs::jpeg::JpegEncoder;
use image_hasher::{HashAlg, Hasher, HasherConfig, ImageHash};
use picseek_imaging::{ImageError, decode, to_rgb_on_white};
use picseek_manifest::{CleanRecord, CleanStatus, sha256_hex};

use crate::inputs::Input;
use crate::{CleanOptions, output_path};

pub(crate) enum Examined {
    /// The earlier record still holds (same bytes, and its output is in place).
    Unchanged(CleanRecord),
    /// A fresh record; a kept image comes with its JPEG, not yet written.
    New { record: CleanRecord, phash: Option<ImageHash>, jpeg: Option<Vec<u8>> },
}

pub(crate) struct Examiner {
    hasher: Hasher,
    min_side: u32,
    max_decode_bytes: u64,
    jpeg_quality: u8,
}

impl Examiner {
    pub(crate) fn new(opts: &CleanOptions) -> Self {
        Self {
            hasher: HasherConfig::new().hash_alg(HashAlg::Gradient).hash_size(8, 8).to_hasher(),
            min_side: opts.min_side,
            max_decode_bytes: opts.max_decode_bytes,
            jpeg_quality: opts.jpeg_quality,
        }
    }

    pub(crate) fn examine(&self, input: &Input, earlier: Option<&CleanRecord>, out: &Path) -> Examined {
        let mut record = CleanRecord {
            source: input.source.clone(),
            path: None,
            class: input.class.clone(),
            category: input.category.clone(),
            status: CleanStatus::Rejected,
            reason: None,
            detail: None,
            width: None,
            height: None,
            sha256: String::new(),
            pixels_sha256: None,
            phash: None,
            mean_rgb: None,
        };
        let bytes = match std::fs::read(&input.path) {
            Ok(bytes) => bytes,
            Err(source) => return rejected(record, &ImageError::Unreadable { path: input.path.clone(), source }),
        };
        record.sha256 = sha256_hex(&bytes);
        if let Some(earlier) = earlier.filter(|r| r.sha256 == record.sha256) {
            let output_in_place = earlier.path.as_ref().is_none_or(|p| out.join(p).is_file());
            if output_in_place && earlier.class == record.class {
                return Examined::Unchanged(earlier.clone());
            }
        }
        if bytes.is_empty() {
            return rejected(record, &ImageError::Empty { path: input.path.clone() });
        }
        let img = match decode(&input.path, &bytes, self.max_decode_bytes) {
            Ok(img) => img,
            Err(e) => return rejected(record, &e),
        };
        record.width = Some(img.width());
        record.height = Some(img.height());
        if img.width().min(img.height()) < self.min_side {
            record.reason = Some("too_small".into());
            record.detail = Some(format!("{}x{} is below --min-side {}", img.width(), img.height(), self.min_side));
            return Examined::New { record, phash: None, jpeg: None };
        }
        let rgb = to_rgb_on_white(img);
        let mut pixels = rgb.as_raw().clone();
        pixels.extend(rgb.width().to_le_bytes());
        record.pixels_sha256 = Some(sha256_hex(&pixels));
        let phash = self.hasher.hash_image(&rgb);
        record.phash = Some(hex::encode(phash.as_bytes()));
        record.mean_rgb = Some(mean_rgb(&rgb));
        let mut jpeg = Cursor::new(Vec::new());
        if let Err(e) = JpegEncoder::new_with_quality(&mut jpeg, self.jpeg_quality).write_image(
            rgb.as_raw(),
            rgb.width(),
            rgb.height(),
            image::ExtendedColorType::Rgb8,
        ) {
            record.reason = Some("unencodable".into());
            record.detail = Some(e.to_string());
            return Examined::New { record, phash: None, jpeg: None };
        }
        record.status = CleanStatus::Kept;
        record.path = Some(output_path(&record.class, &input.path));
        Examined::New { record, phash: Some(phash), jpeg: Some(jpeg.into_inner()) }
    }
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
    record.reason = Some(e.reason_code().into());
    record.detail = Some(e.to_string());
    Examined::New { record, phash: None, jpeg: None }
}
