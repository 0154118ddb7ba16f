//! Pillow's resampling (`Image.resize`, libImaging/Resample.c), reproduced exactly for
//! 8-bit RGB: CLIP exports are trained and checked with Pillow's preprocessing, and
//! fast_image_resize differs from it (other fixed-point rounding, vertical pass first)
//! by up to a few levels per pixel, which moves embeddings well past 1e-5.
//!
//! The algorithm: per output pixel, filter weights over the source pixels the filter
//! covers (support scaled up when downscaling), normalised to sum 1, turned into
//! 22-bit fixed point; a horizontal pass into an 8-bit image, then a vertical one.

use image::RgbImage;

/// The filters of `PIL.Image.Resampling` that resample by convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PillowFilter {
    /// Pillow's BOX.
    Box,
    /// Pillow's BILINEAR.
    Bilinear,
    /// Pillow's HAMMING.
    Hamming,
    /// Pillow's BICUBIC.
    Bicubic,
    /// Pillow's LANCZOS.
    Lanczos,
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

impl PillowFilter {
    fn support(self) -> f64 {
        match self {
            PillowFilter::Box => 0.5,
            PillowFilter::Bilinear | PillowFilter::Hamming => 1.0,
            PillowFilter::Bicubic => 2.0,
            PillowFilter::Lanczos => 3.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        use std::f64::consts::PI;
        let sinc = |x: f64| if x == 0.0 { 1.0 } else { (x * PI).sin() / (x * PI) };
        match self {
            PillowFilter::Box => f64::from(u8::from(x > -0.5 && x <= 0.5)),
            PillowFilter::Bilinear => (1.0 - x.abs()).max(0.0),
            PillowFilter::Hamming => {
                let x = x.abs();
                if x == 0.0 {
                    1.0
                } else if x >= 1.0 {
                    0.0
                } else {
                    let x = x * PI;
                    x.sin() / x * (0.54 + 0.46 * x.cos())
                }
            }
            PillowFilter::Bicubic => {
                const A: f64 = -0.5;
                let x = x.abs();
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
            PillowFilter::Lanczos => {
                if (-3.0..3.0).contains(&x) {
                    sinc(x) * sinc(x / 3.0)
                } else {
                    0.0
                }
            }
        }
    }
}

/// Fixed-point weights of one output pixel over source pixels `first..first + weights.len()`.
struct Taps {
    first: usize,
    weights: Vec<i32>,
}

/// Pillow's `precompute_coeffs` followed by `normalize_coeffs_8bpc`.
fn taps(in_size: u32, out_size: u32, filter: PillowFilter) -> Vec<Taps> {
    let scale = f64::from(in_size) / f64::from(out_size);
    let filter_scale = scale.max(1.0);
    let support = filter.support() * filter_scale;
    (0..out_size)
        .map(|xx| {
            let center = (f64::from(xx) + 0.5) * scale;
            // C's (int) cast truncates toward zero, as `as i64` does.
            let xmin = ((center - support + 0.5) as i64).max(0);
            let xmax = ((center + support + 0.5) as i64).min(i64::from(in_size));
            let raw: Vec<f64> = (xmin..xmax).map(|x| filter.weight((x as f64 - center + 0.5) / filter_scale)).collect();
            let total: f64 = raw.iter().sum();
            let weights = raw
                .iter()
                .map(|&w| {
                    let w = if total == 0.0 { w } else { w / total };
                    let fixed = w * f64::from(1u32 << PRECISION_BITS);
                    if w < 0.0 { (-0.5 + fixed) as i32 } else { (0.5 + fixed) as i32 }
                })
                .collect();
            Taps { first: xmin as usize, weights }
        })
        .collect()
}

fn clip8(v: i32) -> u8 {
    if v >= (1 << PRECISION_BITS << 8) {
        255
    } else if v <= 0 {
        0
    } else {
        (v >> PRECISION_BITS) as u8
    }
}

/// Resizes to exactly `width` x `height` as Pillow's `img.resize((width, height), filter)`
/// does, to the byte.
pub fn resize_like_pillow(img: &RgbImage, width: u32, height: u32, filter: PillowFilter) -> RgbImage {
    let horizontal = if img.width() == width { img.clone() } else { resize_rows(img, width, filter) };
    if horizontal.height() == height {
        return horizontal;
    }
    resize_columns(&horizontal, height, filter)
}

/// The horizontal pass: every row to `width` pixels.
fn resize_rows(img: &RgbImage, width: u32, filter: PillowFilter) -> RgbImage {
    let columns = taps(img.width(), width, filter);
    let (in_stride, out_stride) = (img.width() as usize * 3, width as usize * 3);
    let mut out = vec![0u8; out_stride * img.height() as usize];
    for (src, dst) in img.as_raw().chunks_exact(in_stride).zip(out.chunks_exact_mut(out_stride)) {
        for (t, pixel) in columns.iter().zip(dst.chunks_exact_mut(3)) {
            let mut sums = [1i32 << (PRECISION_BITS - 1); 3];
            for (source, &w) in src[t.first * 3..].chunks_exact(3).zip(&t.weights) {
                for c in 0..3 {
                    sums[c] += i32::from(source[c]) * w;
                }
            }
            for c in 0..3 {
                pixel[c] = clip8(sums[c]);
            }
        }
    }
    RgbImage::from_raw(width, img.height(), out).expect("buffer matches its dimensions")
}

/// The vertical pass: every column to `height` pixels, a whole output row at a time.
fn resize_columns(img: &RgbImage, height: u32, filter: PillowFilter) -> RgbImage {
    let rows = taps(img.height(), height, filter);
    let stride = img.width() as usize * 3;
    let src = img.as_raw();
    let mut out = vec![0u8; stride * height as usize];
    let mut sums = vec![0i32; stride];
    for (t, dst) in rows.iter().zip(out.chunks_exact_mut(stride)) {
        sums.fill(1 << (PRECISION_BITS - 1));
        for (i, &w) in t.weights.iter().enumerate() {
            let row = &src[(t.first + i) * stride..][..stride];
            for (sum, &value) in sums.iter_mut().zip(row) {
                *sum += i32::from(value) * w;
            }
        }
        for (value, &sum) in dst.iter_mut().zip(&sums) {
            *value = clip8(sum);
        }
    }
    RgbImage::from_raw(img.width(), height, out).expect("buffer matches its dimensions")
}

/// Nearest-neighbour resizing, sampling each output pixel's centre.
pub fn resize_nearest(img: &RgbImage, width: u32, height: u32) -> RgbImage {
    let pick = |out: u32, out_size: u32, in_size: u32| {
        (((f64::from(out) + 0.5) * f64::from(in_size) / f64::from(out_size)) as u32).min(in_size - 1)
    };
    RgbImage::from_fn(width, height, |x, y| *img.get_pixel(pick(x, width, img.width()), pick(y, height, img.height())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_of_each_output_pixel_sum_to_one_in_fixed_point() {
        for (from, to) in [(640, 224), (3, 224), (224, 224), (1, 5)] {
            for t in taps(from, to, PillowFilter::Bicubic) {
                let sum: i32 = t.weights.iter().sum();
                assert!((sum - (1 << PRECISION_BITS)).abs() <= t.weights.len() as i32, "{from}->{to}: {sum}");
            }
        }
    }

    #[test]
    fn flat_images_stay_flat_and_sizes_are_exact() {
        let img = RgbImage::from_pixel(37, 11, image::Rgb([200, 100, 50]));
        for filter in [PillowFilter::Bicubic, PillowFilter::Lanczos, PillowFilter::Bilinear, PillowFilter::Box] {
            let out = resize_like_pillow(&img, 224, 300, filter);
            assert_eq!(out.dimensions(), (224, 300));
            assert!(out.pixels().all(|p| p.0 == [200, 100, 50]), "{filter:?}");
        }
    }
}
