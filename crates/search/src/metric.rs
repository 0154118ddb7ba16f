use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Keeps cosine and correlation finite for all-zero (or constant) vectors.
pub const EPSILON: f64 = 1e-8;

/// The tutorial's four score functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// sum |a - b| (smaller is closer).
    L1,
    /// mean (a - b)^2 (smaller is closer).
    L2,
    /// sum ab / (|a| |b| + eps) (larger is closer).
    Cosine,
    /// Cosine of the mean-centred vectors, i.e. Pearson's r (larger is closer).
    Correlation,
}

impl Metric {
    pub const ALL: [Metric; 4] = [Metric::L1, Metric::L2, Metric::Cosine, Metric::Correlation];

    pub fn name(self) -> &'static str {
        match self {
            Metric::L1 => "l1",
            Metric::L2 => "l2",
            Metric::Cosine => "cosine",
            Metric::Correlation => "correlation",
        }
    }

    pub fn larger_is_closer(self) -> bool {
        matches!(self, Metric::Cosine | Metric::Correlation)
    }

    /// `Less` when score `a` is the better (closer) one.
    pub fn compare(self, a: f64, b: f64) -> Ordering {
        if self.larger_is_closer() { b.total_cmp(&a) } else { a.total_cmp(&b) }
    }

    /// The reference formula on float vectors of equal length.
    pub fn score(self, a: &[f32], b: &[f32]) -> f64 {
        assert_eq!(a.len(), b.len(), "vectors must have equal length");
        let pairs = || a.iter().zip(b).map(|(&x, &y)| (f64::from(x), f64::from(y)));
        match self {
            Metric::L1 => pairs().map(|(x, y)| (x - y).abs()).sum(),
            Metric::L2 => pairs().map(|(x, y)| (x - y) * (x - y)).sum::<f64>() / a.len() as f64,
            Metric::Cosine => cosine(pairs()),
            Metric::Correlation => {
                let n = a.len() as f64;
                let mean_a = pairs().map(|(x, _)| x).sum::<f64>() / n;
                let mean_b = pairs().map(|(_, y)| y).sum::<f64>() / n;
                cosine(pairs().map(|(x, y)| (x - mean_a, y - mean_b)))
            }
        }
    }
}

fn cosine(pairs: impl Iterator<Item = (f64, f64)>) -> f64 {
    let (dot, aa, bb) = pairs.fold((0.0, 0.0, 0.0), |(d, a2, b2), (x, y)| (d + x * y, a2 + x * x, b2 + y * y));
    dot / (aa.sqrt() * bb.sqrt() + EPSILON)
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Metric {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Metric::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown metric '{s}': expected l1, l2, cosine or correlation"))
    }
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
        assert!(close(Metric::L1.score(&a, &b), 9.0));
        // Sum of squares 27, so the mean is 9.
        assert!(close(Metric::L2.score(&a, &b), 27.0 / 3.0));
        assert!(close(Metric::Cosine.score(&[1.0, 0.0, 1.0], &[1.0, 1.0, 0.0]), 0.5));
        assert!(close(Metric::Correlation.score(&[2.0, 4.0], &[1.0, 2.0]), 1.0));
        assert!(close(Metric::Correlation.score(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), -1.0));
    }

    #[test]
    fn zero_vectors_give_finite_scores() {
        assert_eq!(Metric::Cosine.score(&[0.0; 3], &[0.0; 3]), 0.0);
        assert_eq!(Metric::Correlation.score(&[1.0; 3], &[2.0; 3]), 0.0);
    }

    #[test]
    fn names_parse_back() {
        for m in Metric::ALL {
            assert_eq!(m.name().parse::<Metric>().unwrap(), m);
        }
        assert!("manhattan".parse::<Metric>().unwrap_err().contains("l1, l2, cosine or correlation"));
    }
}
