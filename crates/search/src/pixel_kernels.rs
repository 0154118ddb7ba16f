//! Integer kernels for `u8` vectors. Each sums a chunk into 32-bit lanes (which the
//! compiler vectorises) and chunks into `u64`; a chunk of 2^15 values cannot overflow
//! `i32` even for 255^2 per value. Products are written as i16 x i16 -> i32 so that
//! baseline x86-64 (SSE2) gets a multiply-add instruction (`pmaddwd`) for them.

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

/// Sum over chunks of sum_i i16(x_i) * i16(y_i), where `f` maps the bytes to i16 values.
fn chunked_product_sum(a: &[u8], b: &[u8], f: impl Fn(u8, u8) -> (i16, i16) + Copy) -> u64 {
    a.chunks(CHUNK)
        .zip(b.chunks(CHUNK))
        .map(|(x, y)| {
            let sum: i32 = x
                .iter()
                .zip(y)
                .map(|(&p, &q)| {
                    let (u, v) = f(p, q);
                    i32::from(u) * i32::from(v)
                })
                .sum();
            sum as u64
        })
        .sum()
}

pub(crate) fn squared_diff_sum(a: &[u8], b: &[u8]) -> u64 {
    chunked_product_sum(a, b, |p, q| {
        let d = i16::from(p) - i16::from(q);
        (d, d)
    })
}

pub(crate) fn dot(a: &[u8], b: &[u8]) -> u64 {
    chunked_product_sum(a, b, |p, q| (i16::from(p), i16::from(q)))
}

/// Sum and sum of squares of one vector.
fn moments(v: &[u8]) -> (u64, u64) {
    (chunked_sum(v, v, |p, _| u32::from(p)), dot(v, v))
}

/// (sum ab, sum b, sum b^2) in one pass over memory.
pub(crate) fn dot_and_moments(a: &[u8], b: &[u8]) -> (u64, u64, u64) {
    let mut totals = (0u64, 0u64, 0u64);
    for (x, y) in a.chunks(CHUNK).zip(b.chunks(CHUNK)) {
        let (mut dot, mut sum, mut sum_sq) = (0i32, 0u32, 0i32);
        for (&p, &q) in x.iter().zip(y) {
            let (p16, q16) = (i16::from(p), i16::from(q));
            dot += i32::from(p16) * i32::from(q16);
            sum += u32::from(q);
            sum_sq += i32::from(q16) * i32::from(q16);
        }
        totals = (totals.0 + dot as u64, totals.1 + u64::from(sum), totals.2 + sum_sq as u64);
    }
    totals
}

/// A query vector with the sums every comparison needs computed once.
pub(crate) struct QueryStats<'a> {
    values: &'a [u8],
    sum: u64,
    sum_sq: u64,
}

impl<'a> QueryStats<'a> {
    pub(crate) fn new(values: &'a [u8]) -> Self {
        let (sum, sum_sq) = moments(values);
        Self { values, sum, sum_sq }
    }

    /// [`Metric::score`] of the query and `row`, both read as value / 255.
    pub(crate) fn score(&self, row: &[u8], metric: Metric) -> f64 {
        let n = self.values.len() as f64;
        match metric {
            Metric::L1 => abs_diff_sum(self.values, row) as f64 * SCALE,
            Metric::L2 => squared_diff_sum(self.values, row) as f64 * SCALE * SCALE / n,
            Metric::Cosine => {
                let (dot, _, row_sq) = dot_and_moments(self.values, row);
                let dot = dot as f64 * SCALE * SCALE;
                dot / ((self.sum_sq as f64).sqrt() * SCALE * (row_sq as f64).sqrt() * SCALE + EPSILON)
            }
            Metric::Correlation => {
                let (dot, row_sum, row_sq) = dot_and_moments(self.values, row);
                let (sa, sb) = (self.sum as f64, row_sum as f64);
                // Centred sums from raw ones: sum (a - ma)(b - mb) = sum ab - sa sb / n.
                let cov = (dot as f64 - sa * sb / n) * SCALE * SCALE;
                let var_a = (self.sum_sq as f64 - sa * sa / n).max(0.0) * SCALE * SCALE;
                let var_b = (row_sq as f64 - sb * sb / n).max(0.0) * SCALE * SCALE;
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
        let query = QueryStats::new(&a);
        for metric in Metric::ALL {
            let fast = query.score(&b, metric);
            let reference = metric.score(&fa, &fb);
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
        let query = QueryStats::new(&a);
        assert_eq!(query.score(&a, Metric::L1), 0.0);
        assert_eq!(query.score(&a, Metric::L2), 0.0);
        assert!((query.score(&a, Metric::Cosine) - 1.0).abs() < 1e-9);
        assert!((query.score(&a, Metric::Correlation) - 1.0).abs() < 1e-9);
    }
}
