//! The search and eval stages: scores a query vector against every vector of an
//! [`Index`](picseek_index::Index) with one of the tutorial's four score functions,
//! returns the top k, and measures retrieval quality over a `test/` folder.
//!
//! Pixel vectors are `u8`; their scores are computed with integer kernels that the
//! compiler vectorises, over all cores, and equal the [`Metric::score`] formulas applied
//! to the values divided by 255.

mod contact_sheet;
mod eval;
mod metric;
mod pixel_kernels;

pub use contact_sheet::contact_sheet;
pub use eval::{EvalReport, MetricEval, evaluate};
pub use metric::Metric;

use std::sync::OnceLock;

use picseek_index::Index;
use pixel_kernels::{Moments, Query};
use rayon::prelude::*;
use serde::Serialize;

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub rank: usize,
    pub key: u64,
    pub path: String,
    pub class: String,
    pub score: f64,
}

/// Exact (brute-force) search over an opened pixel index. Keep one for many queries:
/// it caches each row's sum and sum of squares the first time cosine or correlation
/// needs them.
pub struct ExactSearch<'a> {
    index: &'a Index,
    row_moments: OnceLock<Vec<Moments>>,
}

impl<'a> ExactSearch<'a> {
    pub fn new(index: &'a Index) -> Self {
        Self { index, row_moments: OnceLock::new() }
    }

    fn rows(&self) -> rayon::slice::ChunksExact<'a, u8> {
        self.index.u8_vectors().par_chunks_exact(self.index.manifest().dimension)
    }

    /// Scores `query` (a vector made by the index's query embedder) against every item.
    pub fn score_all(&self, query: &[u8], metric: Metric) -> Vec<f64> {
        assert_eq!(query.len(), self.index.manifest().dimension, "query vector must have the index's dimension");
        let query = Query::new(query);
        if matches!(metric, Metric::L1 | Metric::L2) {
            let no_moments = || unreachable!("L1 and L2 do not use row moments");
            return self.rows().map(|row| query.score(row, no_moments, metric)).collect();
        }
        let moments = self.row_moments.get_or_init(|| self.rows().map(Moments::of).collect());
        self.rows().zip(moments.par_iter()).map(|(row, m)| query.score(row, || *m, metric)).collect()
    }

    /// The `k` best items for `query`, best first (ties broken by key, so results are
    /// stable).
    pub fn search(&self, query: &[u8], metric: Metric, k: usize) -> Vec<Hit> {
        self.search_in_class(query, metric, k, None)
    }

    /// Like [`search`](Self::search), among the items of `class` only (all when `None`).
    pub fn search_in_class(&self, query: &[u8], metric: Metric, k: usize, class: Option<&str>) -> Vec<Hit> {
        let items = &self.index.manifest().items;
        let mut scores = self.score_all(query, metric);
        if let Some(class) = class {
            let worst = if metric.larger_is_closer() { f64::NEG_INFINITY } else { f64::INFINITY };
            for (score, item) in scores.iter_mut().zip(items) {
                if item.class != class {
                    *score = worst;
                }
            }
        }
        let in_class = |i: &usize| class.is_none_or(|c| items[*i].class == c);
        top_k(&scores, metric, k)
            .into_iter()
            .filter(in_class)
            .enumerate()
            .map(|(rank, i)| {
                let item = &self.index.manifest().items[i];
                Hit {
                    rank: rank + 1,
                    key: item.key,
                    path: self.index.item_path(i).display().to_string(),
                    class: item.class.clone(),
                    score: scores[i],
                }
            })
            .collect()
    }
}

/// Positions of the `k` best scores, best first.
fn top_k(scores: &[f64], metric: Metric, k: usize) -> Vec<usize> {
    let better = |a: &usize, b: &usize| metric.compare(scores[*a], scores[*b]).then(a.cmp(b));
    let mut order: Vec<usize> = (0..scores.len()).collect();
    let k = k.min(order.len());
    if k == 0 {
        return Vec::new();
    }
    if k < order.len() {
        order.select_nth_unstable_by(k - 1, better);
        order.truncate(k);
    }
    order.sort_by(better);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_orders_by_metric_direction_and_breaks_ties_by_position() {
        let scores = [0.5, 0.9, 0.1, 0.9, 0.3];
        assert_eq!(top_k(&scores, Metric::Cosine, 3), vec![1, 3, 0]);
        assert_eq!(top_k(&scores, Metric::L1, 2), vec![2, 4]);
        assert_eq!(top_k(&scores, Metric::L2, 10), vec![2, 4, 0, 1, 3]);
        assert!(top_k(&scores, Metric::L2, 0).is_empty());
    }
}
