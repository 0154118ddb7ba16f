//! Approximate nearest neighbours, over `usearch` HNSW graphs, for every stage that
//! needs them:
//!
//! - the index's graphs ([`build_graph`], [`open_graph`]) and how they are built and
//!   searched ([`AnnSettings`], with defaults by index size, [`AnnSettings::for_size`]);
//! - near-copy candidates ([`NearNeighbours`], [`close_pairs`]) for clean's
//!   `--dedup clip` and split's CLIP grouping, instead of comparing all pairs;
//! - CLIP-like test vectors ([`clip_like_vectors`]) for tests and benchmarks.
//!
//! This crate knows vectors and graphs, not images, models or index folders.

mod graph;
mod near;

use std::path::PathBuf;

pub use graph::{AnnSettings, build_graph, candidate_count, clip_like_vectors, open_graph};
pub use near::{NearNeighbours, close_pairs, cosine};
pub use picseek_manifest::AnnChoices;

/// usearch refused to build, open or search a graph.
#[derive(Debug, thiserror::Error)]
pub enum AnnError {
    /// A graph file.
    #[error("{path}: usearch failed: {reason}")]
    File {
        /// The graph file or index folder.
        path: PathBuf,
        /// usearch's message.
        reason: String,
    },
    /// A graph in memory (near-copy candidates).
    #[error("usearch failed on a graph in memory: {reason}")]
    InMemory {
        /// usearch's message.
        reason: String,
    },
}
