//! The search and eval stages: scores a query vector against every vector of an
//! [`Index`](picseek_index::Index) with one of the tutorial's four score functions,
//! returns the top k, and measures retrieval quality over a `test/` folder.
//!
//! Pixel vectors are `u8`; their scores are computed with integer kernels that the
//! compiler vectorises, over all cores, and equal the [`Metric::score`] formulas applied
//! to the values divided by 255.

mod eval;
mod metric;
mod pixel_kernels;

pub use eval::{EvalReport, MetricEval, evaluate};
pub use metric::Metric;

use picseek_index::Index;
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

/// Scores `query` (a vector made by the index's query embedder) against every item.
pub fn score_all(index: &Index, query: &[u8], metric: Metric) -> Vec<f64> {
    let dimension = index.manifest().dimension;
    assert_eq!(query.len(), dimension, "query vector must have the index's dimension");
    let query = pixel_kernels::QueryStats::new(query);
    index.u8_vectors().par_chunks_exact(dimension).map(|row| query.score(row, metric)).collect()
}

/// The `k` best items for `query`, best first (ties broken by key, so results are stable).
pub fn search_exact(index: &Index, query: &[u8], metric: Metric, k: usize) -> Vec<Hit> {
    let scores = score_all(index, query, metric);
    top_k(&scores, metric, k)
        .into_iter()
        .enumerate()
        .map(|(rank, i)| {
            let item = &index.manifest().items[i];
            Hit {
                rank: rank + 1,
                key: item.key,
                path: index.item_path(i).display().to_string(),
                class: item.class.clone(),
                score: scores[i],
            }
        })
        .collect()
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
