//! The approximate-search graphs: one `usearch` HNSW index per metric space, built from
//! the flat `f32` rows and memory-mapped for search.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use picseek_manifest::AnnFile;
use rayon::prelude::*;
use usearch::{MetricKind, ScalarKind};

use crate::IndexError;

/// A metric space usearch can search approximately. (L1 has none: it is always exact.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnnSpace {
    Cosine,
    /// Squared Euclidean distance: the same order as the mean squared difference.
    L2,
    /// Pearson correlation.
    Correlation,
}

impl AnnSpace {
    pub const ALL: [AnnSpace; 3] = [AnnSpace::Cosine, AnnSpace::L2, AnnSpace::Correlation];

    pub fn name(self) -> &'static str {
        match self {
            AnnSpace::Cosine => "cosine",
            AnnSpace::L2 => "l2",
            AnnSpace::Correlation => "correlation",
        }
    }

    fn metric_kind(self) -> MetricKind {
        match self {
            AnnSpace::Cosine => MetricKind::Cos,
            AnnSpace::L2 => MetricKind::L2sq,
            AnnSpace::Correlation => MetricKind::Pearson,
        }
    }
}

impl fmt::Display for AnnSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AnnSpace {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AnnSpace::ALL.into_iter().find(|m| m.name().eq_ignore_ascii_case(s)).ok_or_else(|| {
            format!(
                "'{s}' has no approximate index: expected cosine, l2 or correlation (l1 is always searched exactly)"
            )
        })
    }
}

/// How the graphs are built and searched. The defaults were chosen by measuring
/// recall@10 against exact search on clustered, normalised 512-d vectors
/// (`scripts/bench/run ann`): see the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnSettings {
    /// Store vectors as `f16` (half the memory, faster) rather than `f32`. Scores
    /// shown to users are recomputed from the exact `f32` rows either way.
    pub half_precision: bool,
    pub connectivity: usize,
    pub expansion_add: usize,
    pub expansion_search: usize,
}

impl Default for AnnSettings {
    fn default() -> Self {
        Self { half_precision: true, connectivity: 16, expansion_add: 128, expansion_search: 128 }
    }
}

impl AnnSettings {
    fn quantization_name(&self) -> &'static str {
        if self.half_precision { "f16" } else { "f32" }
    }

    /// A short description that changes whenever the graph would.
    pub(crate) fn describe(&self, space: AnnSpace) -> String {
        format!(
            "{space};{};m{};ea{};es{}",
            self.quantization_name(),
            self.connectivity,
            self.expansion_add,
            self.expansion_search
        )
    }

    pub(crate) fn record(&self, space: AnnSpace, file: String) -> AnnFile {
        AnnFile {
            space: space.name().to_owned(),
            file,
            quantization: self.quantization_name().to_owned(),
            connectivity: self.connectivity,
            expansion_add: self.expansion_add,
            expansion_search: self.expansion_search,
        }
    }
}

fn ann_failure(path: &Path, e: impl fmt::Display) -> IndexError {
    IndexError::Ann { path: path.to_owned(), reason: e.to_string() }
}

/// Builds a graph over `rows` (key `i` for row `i`) on all cores and saves it to `path`.
pub(crate) fn build_graph(
    space: AnnSpace,
    settings: &AnnSettings,
    dimension: usize,
    rows: &[f32],
    path: &Path,
) -> Result<(), IndexError> {
    let failed = |e| ann_failure(path, e);
    let options = usearch::IndexOptions {
        dimensions: dimension,
        metric: space.metric_kind(),
        quantization: if settings.half_precision { ScalarKind::F16 } else { ScalarKind::F32 },
        connectivity: settings.connectivity,
        expansion_add: settings.expansion_add,
        expansion_search: settings.expansion_search,
        multi: false,
    };
    let graph = usearch::Index::new(&options).map_err(&failed)?;
    let count = rows.len() / dimension.max(1);
    graph.reserve_capacity_and_threads(count, rayon::current_num_threads()).map_err(&failed)?;
    rows.par_chunks_exact(dimension)
        .enumerate()
        .try_for_each(|(key, row)| graph.add(key as u64, row).map_err(&failed))?;
    graph.save(&path.to_string_lossy()).map_err(&failed)
}

/// Opens a saved graph memory-mapped, read-only.
pub(crate) fn open_graph(path: &Path, record: &AnnFile) -> Result<usearch::Index, IndexError> {
    let graph = usearch::Index::restore_view(&path.to_string_lossy()).map_err(|e| ann_failure(path, e))?;
    graph.change_expansion_search(record.expansion_search);
    Ok(graph)
}
