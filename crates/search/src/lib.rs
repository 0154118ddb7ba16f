//! The search and eval stages: scores a query vector against the vectors of an
//! [`Index`] with one of the tutorial's four score functions,
//! returns the top k, and measures retrieval quality over a `test/` folder.
//!
//! [`Searcher`] answers exactly (brute force over every row) or, for CLIP indexes with
//! a graph for the metric, approximately: the index finds graph candidates
//! ([`Index::graph_candidates`]) and they are rescored here with the exact formula, so
//! both ways report the same scores. This crate knows nothing of usearch.
//!
//! Pixel vectors are `u8`; their scores are computed with integer kernels that the
//! compiler vectorises, over all cores, and equal the [`score`] formulas applied
//! to the values divided by 255.
//!
//! A search that cannot succeed (an unknown class, k of 0) is a [`SearchError`], not an
//! empty answer.

mod contact_sheet;
mod eval;
mod filter;
mod metric;
mod pixel_kernels;
mod query;

pub use contact_sheet::{PlotFormatError, SheetQuery, contact_sheet, sheet_format};
pub use eval::{EvalOptions, EvalReport, MetricEval, Staleness, average_precision_at_k, evaluate, staleness};
pub use filter::ItemFilter;
pub use metric::{EPSILON, Metric, score};
pub use query::{ComposedQuery, QueryTerm, TermSource, compose, split_weight};

use std::sync::OnceLock;

use picseek_embed::Vector;
use picseek_index::{Index, IndexError};
use picseek_manifest::PhotoSource;
use pixel_kernels::{Moments, Query};
use rayon::prelude::*;
use serde::Serialize;

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// 1 for the closest.
    pub rank: usize,
    /// The index item's key.
    pub key: u64,
    /// The image, as a path usable from the working directory.
    pub path: String,
    /// The item's class.
    pub class: String,
    /// The metric's score (see [`Metric::larger_is_closer`]).
    pub score: f64,
    /// Where the photo came from (page, owner, licence), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<PhotoSource>,
    /// Where the copies that clean merged into this image came from.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_sources: Vec<PhotoSource>,
}

/// How a search was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchMethod {
    /// Graph candidates, rescored exactly.
    Approximate,
    /// Every row scored.
    Exact,
}

impl SearchMethod {
    /// Its name, as in JSON.
    pub fn name(self) -> &'static str {
        match self {
            SearchMethod::Approximate => "approximate",
            SearchMethod::Exact => "exact",
        }
    }
}

/// Why a search could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The index failed (a damaged graph, a query of the wrong width).
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A query cannot be embedded (an unusable image, a text for a pixel index).
    #[error(transparent)]
    Embed(#[from] picseek_embed::EmbedError),
    /// No item of the index has this class.
    #[error("no class {class:?} in the index{}; it has {}", closest.as_ref().map(|c| format!(" (did you mean {c:?}?)")).unwrap_or_default(), known.join(", "))]
    UnknownClass {
        /// The class asked for.
        class: String,
        /// The index's classes, sorted.
        known: Vec<String>,
        /// The known class closest in spelling, if any is close.
        closest: Option<String>,
    },
    /// `k` must be at least 1.
    #[error("k must be at least 1")]
    ZeroK,
    /// A query without a term.
    #[error("the query is empty: give an image, a text or an item")]
    EmptyQuery,
    /// A term's weight is zero or not a number.
    #[error("a query term's weight must be a number other than 0, not {weight}")]
    BadWeight {
        /// The weight given.
        weight: f32,
    },
    /// Several terms, or a weight, for an index whose rows cannot be combined.
    #[error("combined or weighted queries need a CLIP index; this one uses the {embedder} embedder (one image only)")]
    CombinedPixel {
        /// The index's embedder.
        embedder: picseek_embed::EmbedderKind,
    },
    /// The index does not describe the data it is evaluated on any more.
    #[error("{}: the index is stale: {what}", index.display())]
    StaleIndex {
        /// The index folder.
        index: std::path::PathBuf,
        /// What is stale.
        what: String,
    },
    /// The terms' weighted sum is (almost) zero.
    #[error("the query's terms cancel each other out")]
    CancelledOut,
    /// A provenance or score filter the index cannot answer.
    #[error("{0}")]
    BadFilter(String),
    /// An item key the index does not have.
    #[error("no item {key} in the index (it has keys 0 to {})", items.saturating_sub(1))]
    UnknownItem {
        /// The key asked for.
        key: u64,
        /// How many items the index has.
        items: usize,
    },
}

/// What to search for a query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchRequest<'c> {
    /// The score function.
    pub metric: Metric,
    /// How many results (at most the index's size are returned).
    pub k: usize,
    /// Only items of this class (all when `None`).
    pub class: Option<&'c str>,
    /// Brute force even where an approximate graph exists.
    pub exact: bool,
    /// Results to pass over first (paging: the next page starts at rank `offset + 1`).
    pub offset: usize,
    /// Items never returned (the query's own image, say).
    pub exclude: &'c [u64],
    /// Provenance and score filters (none when `None`).
    pub filter: Option<&'c ItemFilter>,
}

impl Default for SearchRequest<'_> {
    /// The top 5 by cosine, approximately where a graph allows, over every item.
    fn default() -> Self {
        Self { metric: Metric::Cosine, k: 5, class: None, exact: false, offset: 0, exclude: &[], filter: None }
    }
}

/// Searches an opened index. Keep one for many queries: for pixel indexes it caches
/// each row's sum and sum of squares the first time cosine or correlation needs them.
pub struct Searcher<'a> {
    index: IndexRef<'a>,
    row_moments: OnceLock<Vec<Moments>>,
}

/// The index a searcher searches: borrowed, or shared by a server that may swap it.
enum IndexRef<'a> {
    Borrowed(&'a Index),
    Shared(std::sync::Arc<Index>),
}

impl std::ops::Deref for IndexRef<'_> {
    type Target = Index;

    fn deref(&self) -> &Index {
        match self {
            IndexRef::Borrowed(index) => index,
            IndexRef::Shared(index) => index,
        }
    }
}

impl<'a> Searcher<'a> {
    /// A searcher over `index`.
    pub fn new(index: &'a Index) -> Self {
        Self { index: IndexRef::Borrowed(index), row_moments: OnceLock::new() }
    }

    /// A searcher that keeps `index` alive itself (for a server that replaces its
    /// index when it is rebuilt).
    pub fn shared(index: std::sync::Arc<Index>) -> Searcher<'static> {
        Searcher { index: IndexRef::Shared(index), row_moments: OnceLock::new() }
    }

    /// The index searched.
    pub fn index(&self) -> &Index {
        &self.index
    }

    fn dimension(&self) -> usize {
        self.index.manifest().dimension
    }

    /// Exact scores of `query` (made by the index's query embedder) against every item.
    pub fn score_all(&self, query: &Vector, metric: Metric) -> Vec<f64> {
        match query {
            Vector::Pixel(query) => self.score_all_pixels(query, metric),
            Vector::Float(query) => self
                .index
                .f32_vectors()
                .par_chunks_exact(self.dimension())
                .map(|row| score(metric, query, row))
                .collect(),
        }
    }

    fn score_all_pixels(&self, query: &[u8], metric: Metric) -> Vec<f64> {
        let rows = || self.index.u8_vectors().par_chunks_exact(self.dimension());
        let query = Query::new(query);
        if matches!(metric, Metric::L1 | Metric::L2) {
            let no_moments = || unreachable!("L1 and L2 do not use row moments");
            return rows().map(|row| query.score(row, no_moments, metric)).collect();
        }
        let moments = self.row_moments.get_or_init(|| rows().map(Moments::of).collect());
        rows().zip(moments.par_iter()).map(|(row, m)| query.score(row, || *m, metric)).collect()
    }

    /// Whether [`search`](Self::search) would answer `metric` approximately.
    pub fn is_approximate(&self, metric: Metric, exact: bool) -> bool {
        !exact && self.index.has_graph(metric)
    }

    /// How [`search`](Self::search) would answer `metric`.
    pub fn method(&self, metric: Metric, exact: bool) -> SearchMethod {
        if self.is_approximate(metric, exact) { SearchMethod::Approximate } else { SearchMethod::Exact }
    }

    /// The `k` best items for `query`, best first (ties broken by key, so results are
    /// stable).
    pub fn search(&self, query: &Vector, request: &SearchRequest) -> Result<Vec<Hit>, SearchError> {
        let length = query.len();
        if length != self.dimension() {
            return Err(IndexError::QueryWidth { got: length, expected: self.dimension() }.into());
        }
        if request.k == 0 {
            return Err(SearchError::ZeroK);
        }
        let items = &self.index.manifest().items;
        if let Some(class) = request.class {
            self.check_class(class)?;
        }
        let filter = request.filter.filter(|f| !f.is_empty());
        if let Some(filter) = filter {
            filter.check(&self.index)?;
        }
        let k = request.k.saturating_add(request.offset).min(items.len());
        let in_class = |i: usize| {
            request.class.is_none_or(|c| items[i].class == c)
                && !request.exclude.contains(&items[i].key)
                && filter.is_none_or(|f| f.keeps(&items[i]))
        };
        let filtered = request.class.is_some() || !request.exclude.is_empty() || filter.is_some();
        let candidates = match query {
            Vector::Float(q) if !request.exact => {
                let keep: Option<&dyn Fn(usize) -> bool> = filtered.then_some(&in_class as &dyn Fn(usize) -> bool);
                self.index.graph_candidates(request.metric, q, k, keep)?
            }
            _ => None,
        };
        let scored: Vec<(usize, f64)> = match (query, candidates) {
            (Vector::Float(q), Some(candidates)) => {
                let mut scored: Vec<(usize, f64)> =
                    candidates.into_iter().map(|i| (i, score(request.metric, q, self.index.f32_vector(i)))).collect();
                scored.sort_by(|a, b| request.metric.compare(a.1, b.1).then(a.0.cmp(&b.0)));
                scored.truncate(k);
                scored
            }
            _ => {
                let mut scores = self.score_all(query, request.metric);
                if filtered {
                    let worst = if request.metric.larger_is_closer() { f64::NEG_INFINITY } else { f64::INFINITY };
                    for (i, score) in scores.iter_mut().enumerate() {
                        if !in_class(i) {
                            *score = worst;
                        }
                    }
                }
                top_k(&scores, request.metric, k).into_iter().filter(|&i| in_class(i)).map(|i| (i, scores[i])).collect()
            }
        };
        Ok(scored
            .into_iter()
            .filter(|(_, score)| filter.is_none_or(|f| f.reaches(request.metric, *score)))
            .enumerate()
            .skip(request.offset)
            .map(|(rank, (i, score))| Hit {
                rank: rank + 1,
                key: items[i].key,
                path: self.index.item_path(i).display().to_string(),
                class: items[i].class.clone(),
                score,
                source: items[i].sources.first().cloned(),
                other_sources: items[i].sources.iter().skip(1).cloned().collect(),
            })
            .collect())
    }
}

impl Searcher<'_> {
    /// Refuses a class no item has, naming the known ones and the closest.
    fn check_class(&self, class: &str) -> Result<(), SearchError> {
        let items = &self.index.manifest().items;
        if items.iter().any(|i| i.class == class) {
            return Ok(());
        }
        let mut known: Vec<String> = items.iter().map(|i| i.class.clone()).collect();
        known.sort_unstable();
        known.dedup();
        let closest = known
            .iter()
            .map(|k| (strsim::levenshtein(&k.to_lowercase(), &class.to_lowercase()), k))
            .filter(|(d, k)| *d <= (k.chars().count() / 3).max(2))
            .min()
            .map(|(_, k)| k.clone());
        Err(SearchError::UnknownClass { class: class.to_owned(), known, closest })
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
    fn a_search_method_is_named_as_in_json() {
        for method in [SearchMethod::Approximate, SearchMethod::Exact] {
            assert_eq!(serde_json::to_string(&method).unwrap(), format!("\"{}\"", method.name()));
        }
    }

    #[test]
    fn top_k_orders_by_metric_direction_and_breaks_ties_by_position() {
        let scores = [0.5, 0.9, 0.1, 0.9, 0.3];
        assert_eq!(top_k(&scores, Metric::Cosine, 3), vec![1, 3, 0]);
        assert_eq!(top_k(&scores, Metric::L1, 2), vec![2, 4]);
        assert_eq!(top_k(&scores, Metric::L2, 10), vec![2, 4, 0, 1, 3]);
        assert!(top_k(&scores, Metric::L2, 0).is_empty());
    }
}
