//! The tutorial's score formulas over float vectors.

pub use picseek_manifest::Metric;

/// Keeps cosine and correlation finite for all-zero (or constant) vectors.
pub const EPSILON: f64 = 1e-8;

/// The reference formula of `metric` on float vectors of equal length (checked by the
/// caller): L1 = sum |a-b|, L2 = mean (a-b)^2, cosine, and correlation (Pearson's r).
pub fn score(metric: Metric, a: &[f32], b: &[f32]) -> f64 {
    debug_assert_eq!(a.len(), b.len(), "vectors must have equal length");
    let pairs = || a.iter().zip(b).map(|(&x, &y)| (f64::from(x), f64::from(y)));
    match metric {
        Metric::L1 => pairs().map(|(x, y)| (x - y).abs()).sum(),
        Metric::L2 => pairs().map(|(x, y)| (x - y) * (x - y)).sum::<f64>() / a.len().max(1) as f64,
        Metric::Cosine => cosine(pairs()),
        Metric::Correlation => {
            let n = a.len().max(1) as f64;
            let mean_a = pairs().map(|(x, _)| x).sum::<f64>() / n;
            let mean_b = pairs().map(|(_, y)| y).sum::<f64>() / n;
            cosine(pairs().map(|(x, y)| (x - mean_a, y - mean_b)))
        }
    }
}

fn cosine(pairs: impl Iterator<Item = (f64, f64)>) -> f64 {
    let (dot, aa, bb) = pairs.fold((0.0, 0.0, 0.0), |(d, a2, b2), (x, y)| (d + x * y, a2 + x * x, b2 + y * y));
    dot / (aa.sqrt() * bb.sqrt() + EPSILON)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn hand_computed_scores() {
        let (a, b) = ([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]);
        assert!(close(score(Metric::L1, &a, &b), 9.0));
        // Sum of squares 27, so the mean is 9.
        assert!(close(score(Metric::L2, &a, &b), 27.0 / 3.0));
        assert!(close(score(Metric::Cosine, &[1.0, 0.0, 1.0], &[1.0, 1.0, 0.0]), 0.5));
        assert!(close(score(Metric::Correlation, &[2.0, 4.0], &[1.0, 2.0]), 1.0));
        assert!(close(score(Metric::Correlation, &[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), -1.0));
    }

    #[test]
    fn zero_vectors_give_finite_scores() {
        assert_eq!(score(Metric::Cosine, &[0.0; 3], &[0.0; 3]), 0.0);
        assert_eq!(score(Metric::Correlation, &[1.0; 3], &[2.0; 3]), 0.0);
    }
}
