//! Image-quality scores and flags, defined as cleanvision 0.3.7 defines them (its
//! `image_property.py` and default parameters), so that flags mean what a user of that
//! tool expects. Every score is in [0, 1] and an issue is flagged when its score is below
//! the threshold:
//!
//! - `dark`: the 99th percentile of pixel brightness, `sqrt(0.241 r² + 0.691 g² +
//!   0.068 b²) / 255` (grey images: `v / 255`); threshold 0.32.
//! - `light`: 1 minus the 5th percentile of brightness; threshold 0.05.
//! - `low_information`: 0.1 x the entropy (bits) of the image's histogram (768 bins for
//!   colour, 256 for grey, as Pillow's `Image.entropy`), at most 1; threshold 0.3.
//! - `blurry`: on the image resized (Pillow's bicubic) to at most 64 px a side and made
//!   grey (Pillow's integer weights), `1 - exp(-0.01 x sqrt(var(FIND_EDGES)))`, plus
//!   `1 - exp(-0.01 x std(grey histogram))` where that exceeds 0.18, at most 1;
//!   threshold 0.29.
//! - `grayscale`: 0 for a single-channel image, else 1 (flagged at 0).
//! - `odd_aspect_ratio`: `min(w / h, h / w)`; threshold 0.35.
//! - `odd_size`: relative to the dataset: `sqrt(w x h)` against the interquartile range
//!   of all kept images (3 IQRs either side); see [`mark_odd_sizes`].

use std::collections::BTreeMap;

use image::{DynamicImage, RgbImage};
use picseek_imaging::{PillowFilter, resize_like_pillow};
use picseek_manifest::{CleanRecord, CleanStatus, Quality, QualityFlag};

/// The thresholds below which a score raises its flag; [`Default`] is cleanvision's.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityThresholds {
    /// For `dark`.
    pub dark: f64,
    /// For `light`.
    pub light: f64,
    /// For `blurry`.
    pub blurry: f64,
    /// For `low_information`.
    pub low_information: f64,
    /// For `odd_aspect_ratio`.
    pub odd_aspect_ratio: f64,
    /// How many interquartile ranges beyond the quartiles a size may lie before it is odd.
    pub odd_size_iqr_factor: f64,
}

impl Default for QualityThresholds {
    fn default() -> Self {
        Self {
            dark: 0.32,
            light: 0.05,
            blurry: 0.29,
            low_information: 0.3,
            odd_aspect_ratio: 0.35,
            odd_size_iqr_factor: 3.0,
        }
    }
}

/// The largest side the blur measure looks at (cleanvision's `MAX_RESOLUTION_FOR_BLURRY_DETECTION`).
const BLUR_RESOLUTION: f64 = 64.0;

/// The `p`th percentile of `values` as numpy computes it (linear between neighbours);
/// reorders `values`.
fn percentile(values: &mut [f64], p: f64) -> f64 {
    let position = p / 100.0 * (values.len() - 1) as f64;
    let low = position.floor() as usize;
    let (_, &mut at_low, above) = values.select_nth_unstable_by(low, f64::total_cmp);
    let fraction = position - low as f64;
    if fraction == 0.0 || above.is_empty() {
        return at_low;
    }
    let next = above.iter().copied().fold(f64::INFINITY, f64::min);
    at_low + (next - at_low) * fraction
}

/// Pillow's RGB to L: `(19595 r + 38470 g + 7471 b + 0x8000) >> 16`.
fn luma(p: &image::Rgb<u8>) -> u8 {
    let [r, g, b] = p.0.map(u32::from);
    ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16) as u8
}

/// Entropy in bits of a histogram.
fn entropy(histogram: &[u64]) -> f64 {
    let total: u64 = histogram.iter().sum();
    histogram
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / total as f64;
            -p * p.log2()
        })
        .sum()
}

/// Pillow's `FIND_EDGES` (3 x 3, 8 in the middle and -1 around it, clipped to 0..255),
/// with the border pixels copied unchanged as Pillow does.
fn find_edges(grey: &[u8], width: usize, height: usize) -> Vec<u8> {
    let mut out = grey.to_vec();
    if width < 3 || height < 3 {
        return out;
    }
    for y in 1..height - 1 {
        for x in 1..width - 1 {
            let at = |dx: usize, dy: usize| i32::from(grey[(y + dy - 1) * width + x + dx - 1]);
            let around: i32 = (0..3).flat_map(|dy| (0..3).map(move |dx| (dx, dy))).map(|(dx, dy)| at(dx, dy)).sum();
            let sum = 9 * at(1, 1) - around;
            out[y * width + x] = sum.clamp(0, 255) as u8;
        }
    }
    out
}

fn blur_score(rgb: &RgbImage) -> f64 {
    let (w, h) = (f64::from(rgb.width()), f64::from(rgb.height()));
    let ratio = w.max(h) / BLUR_RESOLUTION;
    let small = if ratio > 1.0 {
        let (nw, nh) = (((w / ratio).floor() as u32).max(1), ((h / ratio).floor() as u32).max(1));
        resize_like_pillow(rgb, nw, nh, PillowFilter::Bicubic)
    } else {
        rgb.clone()
    };
    let grey: Vec<u8> = small.pixels().map(luma).collect();
    let edges = find_edges(&grey, small.width() as usize, small.height() as usize);
    let n = edges.len() as f64;
    let mean = edges.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let variance = edges.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / n - mean * mean;
    let mut histogram = [0f64; 256];
    for &v in &grey {
        histogram[usize::from(v)] += 1.0;
    }
    let hist_mean = histogram.iter().sum::<f64>() / 256.0;
    let hist_std = (histogram.iter().map(|c| (c - hist_mean).powi(2)).sum::<f64>() / 256.0).sqrt();
    let blur = 1.0 - (-0.01 * variance.max(0.0).sqrt()).exp();
    let contrast = 1.0 - (-0.01 * hist_std).exp();
    (blur + if contrast > 0.18 { contrast } else { 0.0 }).min(1.0)
}

/// Whether a decoded file is single-channel (grey), as cleanvision's `grayscale` asks.
pub(crate) fn is_grey(image: &DynamicImage) -> bool {
    matches!(
        image.color(),
        image::ColorType::L8 | image::ColorType::La8 | image::ColorType::L16 | image::ColorType::La16
    )
}

/// The scores and flags of one image, all but `odd_size` (which needs the dataset):
/// `rgb` is the image in RGB, `grey` whether its file was single-channel.
pub(crate) fn image_quality(grey: bool, rgb: &RgbImage, thresholds: &QualityThresholds) -> Quality {
    let mut brightness: Vec<f64> = if grey {
        rgb.pixels().map(|p| f64::from(p.0[0]) / 255.0).collect()
    } else {
        rgb.pixels()
            .map(|p| {
                let [r, g, b] = p.0.map(f64::from);
                (0.241 * r * r + 0.691 * g * g + 0.068 * b * b).sqrt() / 255.0
            })
            .collect()
    };
    let dark = percentile(&mut brightness, 99.0);
    let light = 1.0 - percentile(&mut brightness, 5.0);
    let histogram: Vec<u64> = if grey {
        let mut h = vec![0u64; 256];
        rgb.pixels().for_each(|p| h[usize::from(p.0[0])] += 1);
        h
    } else {
        let mut h = vec![0u64; 768];
        for p in rgb.pixels() {
            for (band, &v) in p.0.iter().enumerate() {
                h[band * 256 + usize::from(v)] += 1;
            }
        }
        h
    };
    let (w, h) = (f64::from(rgb.width()), f64::from(rgb.height()));
    let scores = BTreeMap::from([
        (QualityFlag::Dark, dark),
        (QualityFlag::Light, light),
        (QualityFlag::LowInformation, (0.1 * entropy(&histogram)).min(1.0)),
        (QualityFlag::Blurry, blur_score(rgb)),
        (QualityFlag::Grayscale, if grey { 0.0 } else { 1.0 }),
        (QualityFlag::OddAspectRatio, (w / h).min(h / w)),
    ]);
    let threshold = |flag: QualityFlag| match flag {
        QualityFlag::Dark => thresholds.dark,
        QualityFlag::Light => thresholds.light,
        QualityFlag::Blurry => thresholds.blurry,
        QualityFlag::LowInformation => thresholds.low_information,
        QualityFlag::OddAspectRatio => thresholds.odd_aspect_ratio,
        QualityFlag::Grayscale => 0.5,
        QualityFlag::OddSize => 0.5,
    };
    let flags = scores.iter().filter(|(flag, score)| **score < threshold(**flag)).map(|(flag, _)| *flag).collect();
    Quality { scores, flags, size: w.sqrt() * h.sqrt() }
}

/// Scores every kept image's size against the others' and flags the odd ones: sizes
/// beyond 3 interquartile ranges (`iqr_factor`) from the quartiles score below 0.5 (when
/// every image has the same size, any other size is odd).
pub(crate) fn mark_odd_sizes(records: &mut [CleanRecord], iqr_factor: f64) {
    let mut sizes: Vec<f64> = records
        .iter()
        .filter(|r| r.status == CleanStatus::Kept)
        .filter_map(|r| r.quality.as_ref().map(|q| q.size))
        .collect();
    if sizes.is_empty() {
        return;
    }
    // Sorted, so the quartiles come out to the last bit the same whatever the order.
    sizes.sort_by(f64::total_cmp);
    let (q1, q3) = (percentile(&mut sizes, 25.0), percentile(&mut sizes, 75.0));
    let (low, high) = (q1 - iqr_factor * (q3 - q1), q3 + iqr_factor * (q3 - q1));
    let (mid, gap) = ((low + high) / 2.0, high - low);
    let (norm, threshold) = if gap > 0.0 { (gap, 0.5) } else { (mid, 1.0) };
    for record in records.iter_mut().filter(|r| r.status == CleanStatus::Kept) {
        let Some(quality) = record.quality.as_mut() else { continue };
        let score = 1.0 - ((quality.size - mid).abs() / norm).clamp(0.0, 1.0);
        quality.scores.insert(QualityFlag::OddSize, score);
        quality.flags.retain(|f| *f != QualityFlag::OddSize);
        if score < threshold {
            quality.flags.push(QualityFlag::OddSize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_as_numpy_does() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(percentile(&mut v, 50.0), 2.5);
        assert_eq!(percentile(&mut v, 0.0), 1.0);
        assert_eq!(percentile(&mut v, 100.0), 4.0);
        assert!((percentile(&mut v, 99.0) - 3.97).abs() < 1e-12);
    }

    #[test]
    fn flat_dark_and_grey_images_are_flagged() {
        let t = QualityThresholds::default();
        let dark = RgbImage::from_pixel(80, 60, image::Rgb([10, 10, 12]));
        let quality = image_quality(false, &dark, &t);
        assert!(quality.flags.contains(&QualityFlag::Dark) && quality.flags.contains(&QualityFlag::LowInformation));
        assert!(!quality.flags.contains(&QualityFlag::Grayscale), "an RGB file is not grey");
        let grey = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(80, 60, image::Luma([128])));
        assert!(is_grey(&grey) && image_quality(true, &grey.to_rgb8(), &t).flags.contains(&QualityFlag::Grayscale));
        let wide = RgbImage::from_pixel(400, 60, image::Rgb([120, 130, 140]));
        assert!(image_quality(false, &wide, &t).flags.contains(&QualityFlag::OddAspectRatio));
    }

    #[test]
    fn sizes_far_from_the_rest_are_odd() {
        let record = |side: f64| CleanRecord {
            status: CleanStatus::Kept,
            quality: Some(Quality { size: side, ..Quality::default() }),
            ..CleanRecord::unexamined("", "", "")
        };
        let mut records: Vec<CleanRecord> = [100.0, 104.0, 98.0, 101.0, 103.0, 99.0, 2000.0].map(record).into();
        mark_odd_sizes(&mut records, 3.0);
        let odd: Vec<bool> =
            records.iter().map(|r| r.quality.as_ref().unwrap().flags.contains(&QualityFlag::OddSize)).collect();
        assert_eq!(odd, [false, false, false, false, false, false, true]);
    }
}
