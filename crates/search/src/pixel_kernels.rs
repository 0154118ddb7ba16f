//! Integer kernels for `u8` vectors. Each sums a chunk into 32-bit lanes (which the
//! compiler vectorises) and chunks into `u64`; a chunk of 2^15 values cannot overflow
//! `u32` even for 255^2 per value. A product of two bytes fits in `u16`, so products are
//! taken in 16-bit lanes (`pmullw`, native on baseline x86-64) and only widened to add.

use crate::Metric;
use crate::metric::EPSILON;

const CHUNK: usize = 1 << 15;
/// Pixel values are read as value / 255.
const SCALE: f64 = 1.0 / 255.0;

fn chunked_sum(a: &[u8], b: &[u8], term: impl Fn(u8, u8) -> u32 + Copy) -> u64 {
    a.chunks(CHUNK)
        .zip(b.chunks(CHUNK))
        .map(|(x, y)| u64::from(x.iter().zip(y).map(|(&p, &q)| term(p, q)).sum::<u32>()))
        .sum()
}

pub(crate) fn abs_diff_sum(a: &[u8], b: &[u8]) -> u64 {
    chunked_sum(a, b, |p, q| u32::from(p.abs_diff(q)))
}

fn product(p: u8, q: u8) -> u32 {
    u32::from(u16::from(p) * u16::from(q))
}

pub(crate) fn squared_diff_sum(a: &[u8], b: &[u8]) -> u64 {
    // Measured: the difference taken in i16 vectorises twice as well as u8 `abs_diff`.
    chunked_sum(a, b, |p, q| {
        let d = (i16::from(p) - i16::from(q)).unsigned_abs();
        u32::from(d * d)
    })
}

pub(crate) fn dot(a: &[u8], b: &[u8]) -> u64 {
    chunked_sum(a, b, product)
}

/// The sum and sum of squares of a vector: all that cosine and correlation need of it
/// besides its dot product with the query, so they are computed once per row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moments {
    sum: u64,
    sum_sq: u64,
}

impl Moments {
    pub(crate) fn of(v: &[u8]) -> Self {
        Self { sum: chunked_sum(v, v, |p, _| u32::from(p)), sum_sq: dot(v, v) }
    }
}

/// A query vector with its own moments.
pub(crate) struct Query<'a> {
    values: &'a [u8],
    moments: Moments,
}

impl<'a> Query<'a> {
    pub(crate) fn new(values: &'a [u8]) -> Self {
        Self { values, moments: Moments::of(values) }
    }

    /// [`score`](crate::score) of the query and `row` (whose moments are `row_moments`), both
    /// read as value / 255.
    pub(crate) fn score(&self, row: &[u8], row_moments: impl FnOnce() -> Moments, metric: Metric) -> f64 {
        let n = self.values.len() as f64;
        match metric {
            Metric::L1 => abs_diff_sum(self.values, row) as f64 * SCALE,
            Metric::L2 => squared_diff_sum(self.values, row) as f64 * SCALE * SCALE / n,
            Metric::Cosine => {
                let (a, b) = (self.moments, row_moments());
                let dot = dot(self.values, row) as f64 * SCALE * SCALE;
                dot / ((a.sum_sq as f64).sqrt() * SCALE * (b.sum_sq as f64).sqrt() * SCALE + EPSILON)
            }
            Metric::Correlation => {
                let (a, b) = (self.moments, row_moments());
                let (sa, sb) = (a.sum as f64, b.sum as f64);
                // Centred sums from raw ones: sum (a - ma)(b - mb) = sum ab - sa sb / n.
                let cov = (dot(self.values, row) as f64 - sa * sb / n) * SCALE * SCALE;
                let var_a = (a.sum_sq as f64 - sa * sa / n).max(0.0) * SCALE * SCALE;
                let var_b = (b.sum_sq as f64 - sb * sb / n).max(0.0) * SCALE * SCALE;
                cov / (var_a.sqrt() * var_b.sqrt() + EPSILON)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random byte sequence (xorshift), long enough to span chunks.
    fn bytes(seed: u64, n: usize) -> Vec<u8> {
        let mut x = seed.max(1);
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn kernels_equal_the_reference_formulas_on_scaled_values() {
        let n = 3 * CHUNK + 17;
        let (a, b) = (bytes(1, n), bytes(2, n));
        let scaled = |v: &[u8]| v.iter().map(|&x| f32::from(x) / 255.0).collect::<Vec<f32>>();
        let (fa, fb) = (scaled(&a), scaled(&b));
        let query = Query::new(&a);
        for &metric in Metric::ALL {
            let fast = query.score(&b, || Moments::of(&b), metric);
            let reference = crate::metric::score(metric, &fa, &fb);
            assert!((fast - reference).abs() <= 1e-6 * reference.abs().max(1.0), "{metric}: {fast} vs {reference}");
        }
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let (a, b) = (vec![255u8; 2 * CHUNK], vec![0u8; 2 * CHUNK]);
        assert_eq!(squared_diff_sum(&a, &b), 255 * 255 * 2 * CHUNK as u64);
        assert_eq!(dot(&a, &a), 255 * 255 * 2 * CHUNK as u64);
        assert_eq!(abs_diff_sum(&a, &b), 255 * 2 * CHUNK as u64);
    }

    #[test]
    fn identical_vectors_score_as_closest() {
        let a = bytes(3, 1000);
        let query = Query::new(&a);
        let score = |metric| query.score(&a, || Moments::of(&a), metric);
        assert_eq!(score(Metric::L1), 0.0);
        assert_eq!(score(Metric::L2), 0.0);
        assert!((score(Metric::Cosine) - 1.0).abs() < 1e-9);
        assert!((score(Metric::Correlation) - 1.0).abs() < 1e-9);
    }
}
