//! The search and eval stages: scores a query vector against the vectors of an
//! [`Index`](picseek_index::Index) with one of the tutorial's four score functions,
//! returns the top k, and measures retrieval quality over a `test/` folder.
//!
//! [`Searcher`] answers exactly (brute force over every row) or, for CLIP indexes with
//! a graph for the metric, approximately through `usearch`; approximate candidates are
//! rescored with the exact formula, so both ways report the same scores.
//!
//! Pixel vectors are `u8`; their scores are computed with integer kernels that the
//! compiler vectorises, over all cores, and equal the [`Metric::score`] formulas applied
//! to the values divided by 255.

mod contact_sheet;
mod eval;
mod metric;
mod pixel_kernels;

pub use contact_sheet::{SheetQuery, contact_sheet};
pub use eval::{EvalReport, MetricEval, evaluate};
pub use metric::Metric;

use std::sync::OnceLock;

use picseek_index::{AnnSpace, Index, IndexError, QueryVector, candidate_count};
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

/// What to search for a query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchRequest<'c> {
    pub metric: Metric,
    pub k: usize,
    /// Only items of this class (all when `None`).
    pub class: Option<&'c str>,
    /// Brute force even where an approximate graph exists.
    pub exact: bool,
}

impl Metric {
    /// The approximate-search space of this metric (L1 has none).
    pub fn ann_space(self) -> Option<AnnSpace> {
        match self {
            Metric::L1 => None,
            Metric::L2 => Some(AnnSpace::L2),
            Metric::Cosine => Some(AnnSpace::Cosine),
            Metric::Correlation => Some(AnnSpace::Correlation),
        }
    }
}

/// Searches an opened index. Keep one for many queries: for pixel indexes it caches
/// each row's sum and sum of squares the first time cosine or correlation needs them.
pub struct Searcher<'a> {
    index: &'a Index,
    row_moments: OnceLock<Vec<Moments>>,
}

impl<'a> Searcher<'a> {
    pub fn new(index: &'a Index) -> Self {
        Self { index, row_moments: OnceLock::new() }
    }

    fn dimension(&self) -> usize {
        self.index.manifest().dimension
    }

    /// Exact scores of `query` (made by the index's query embedder) against every item.
    pub fn score_all(&self, query: &QueryVector, metric: Metric) -> Vec<f64> {
        match query {
            QueryVector::Pixel(query) => self.score_all_pixels(query, metric),
            QueryVector::Float(query) => {
                assert_eq!(query.len(), self.dimension(), "query vector must have the index's dimension");
                self.index
                    .f32_vectors()
                    .par_chunks_exact(self.dimension())
                    .map(|row| metric.score(query, row))
                    .collect()
            }
        }
    }

    fn score_all_pixels(&self, query: &[u8], metric: Metric) -> Vec<f64> {
        assert_eq!(query.len(), self.dimension(), "query vector must have the index's dimension");
        let rows = || self.index.u8_vectors().par_chunks_exact(self.dimension());
        let query = Query::new(query);
        if matches!(metric, Metric::L1 | Metric::L2) {
            let no_moments = || unreachable!("L1 and L2 do not use row moments");
            return rows().map(|row| query.score(row, no_moments, metric)).collect();
        }
        let moments = self.row_moments.get_or_init(|| rows().map(Moments::of).collect());
        rows().zip(moments.par_iter()).map(|(row, m)| query.score(row, || *m, metric)).collect()
    }

    /// The graph [`search`](Self::search) answers `metric` through, unless `exact`.
    fn graph(&self, metric: Metric, exact: bool) -> Option<&usearch::Index> {
        if exact { None } else { metric.ann_space().and_then(|s| self.index.graph(s)) }
    }

    /// Whether [`search`](Self::search) would answer `metric` approximately.
    pub fn is_approximate(&self, metric: Metric, exact: bool) -> bool {
        self.graph(metric, exact).is_some()
    }

    /// How [`search`](Self::search) would answer `metric`, as reports name it:
    /// `approximate` or `exact`.
    pub fn method_name(&self, metric: Metric, exact: bool) -> &'static str {
        if self.is_approximate(metric, exact) { "approximate" } else { "exact" }
    }

    /// The `k` best items for `query`, best first (ties broken by key, so results are
    /// stable).
    pub fn search(&self, query: &QueryVector, request: &SearchRequest) -> Result<Vec<Hit>, IndexError> {
        let length = match query {
            QueryVector::Pixel(q) => q.len(),
            QueryVector::Float(q) => q.len(),
        };
        if length != self.dimension() {
            return Err(IndexError::Unsupported(format!(
                "{}: the query vector has {length} values but the index's vectors have {}",
                self.index.dir().display(),
                self.dimension()
            )));
        }
        let items = &self.index.manifest().items;
        let in_class = |i: usize| request.class.is_none_or(|c| items[i].class == c);
        let scored: Vec<(usize, f64)> = match (query, self.graph(request.metric, request.exact)) {
            (QueryVector::Float(q), Some(graph)) => {
                let count = candidate_count(request.k);
                let found = match request.class {
                    None => graph.search(q, count),
                    Some(_) => graph.filtered_search(q, count, |key| in_class(key as usize)),
                }
                .map_err(|e| IndexError::Ann { path: self.index.dir().to_owned(), reason: e.to_string() })?;
                let mut scored: Vec<(usize, f64)> = found
                    .keys
                    .iter()
                    .map(|&key| key as usize)
                    .filter(|&i| i < items.len())
                    .map(|i| (i, request.metric.score(q, self.index.f32_vector(i))))
                    .collect();
                scored.sort_by(|a, b| request.metric.compare(a.1, b.1).then(a.0.cmp(&b.0)));
                scored.truncate(request.k);
                scored
            }
            _ => {
                let mut scores = self.score_all(query, request.metric);
                if request.class.is_some() {
                    let worst = if request.metric.larger_is_closer() { f64::NEG_INFINITY } else { f64::INFINITY };
                    for (i, score) in scores.iter_mut().enumerate() {
                        if !in_class(i) {
                            *score = worst;
                        }
                    }
                }
                top_k(&scores, request.metric, request.k)
                    .into_iter()
                    .filter(|&i| in_class(i))
                    .map(|i| (i, scores[i]))
                    .collect()
            }
        };
        Ok(scored
            .into_iter()
            .enumerate()
            .map(|(rank, (i, score))| Hit {
                rank: rank + 1,
                key: items[i].key,
                path: self.index.item_path(i).display().to_string(),
                class: items[i].class.clone(),
                score,
            })
            .collect())
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
