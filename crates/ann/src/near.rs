//! Near-copy candidates through a graph rather than all pairs: clean's `--dedup clip`
//! and split's CLIP grouping ask, for each image, which others are at least so alike,
//! and the graph answers from its nearest few, widened while all of them qualify.

use rayon::prelude::*;

use crate::AnnError;

/// Neighbours asked for first; doubled while every one returned is within the bound.
const FIRST_WIDTH: usize = 16;

/// The graph compares 8-bit copies: candidates this little below the bound are returned
/// too, so that a caller deciding on its own exact cosine misses none.
const SLACK: f32 = 0.02;

/// Vectors at least this alike are one node of the graph: HNSW links a crowd of (near)
/// copies only among themselves, an island that searches from outside do not reach, so
/// the graph holds one of them and the others are its twins. A search widens its bound
/// by the same angle, so no twin within the caller's bound is missed.
const MERGE_COSINE: f32 = 0.99;

/// Vectors added at a time: each is checked against the graph and against the chunk's
/// earlier ones before any is added, so two copies never both become nodes. (The check
/// within a chunk compares its pairs, so chunks stay small.)
const ADD_CHUNK: usize = 64;

/// Nodes added one at a time before threads add the rest.
const SERIAL_NODES: usize = 1024;

/// Unit vectors by key, in a cosine graph, for finding those at least so alike.
pub struct NearNeighbours {
    graph: usearch::Index,
    /// The keys left out of the graph, by the key of the node they are twins of.
    twins: std::collections::HashMap<u64, Vec<u64>>,
    count: usize,
}

fn failed(e: impl std::fmt::Display) -> AnnError {
    AnnError::InMemory { reason: e.to_string() }
}

impl NearNeighbours {
    /// An empty graph for unit vectors of `dimension` values.
    pub fn new(dimension: usize) -> Result<Self, AnnError> {
        let options = usearch::IndexOptions {
            dimensions: dimension,
            metric: usearch::MetricKind::Cos,
            quantization: usearch::ScalarKind::F16,
            connectivity: 16,
            expansion_add: 64,
            // Wider than it is built: what is asked is every neighbour within a bound, not
            // the top few, and a missed pair is a leak between train and test.
            expansion_search: 128,
            multi: false,
        };
        let graph = usearch::Index::new(&options).map_err(failed)?;
        graph.reserve_capacity_and_threads(0, rayon::current_num_threads()).map_err(failed)?;
        Ok(Self { graph, twins: Default::default(), count: 0 })
    }

    /// How many vectors it holds.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds vectors by key (each key once), on all cores.
    pub fn add(&mut self, vectors: &[(u64, &[f32])]) -> Result<(), AnnError> {
        for chunk in vectors.chunks(ADD_CHUNK) {
            // The node each is a twin of, if any: in the graph, else earlier in the chunk.
            let mut twin_of: Vec<Option<u64>> = chunk
                .par_iter()
                .map(|(_, vector)| {
                    if self.graph.size() == 0 {
                        return Ok(None);
                    }
                    let nearest = self.graph.search(vector, 1).map_err(failed)?;
                    let close = nearest.distances.first().is_some_and(|d| *d <= 1.0 - MERGE_COSINE);
                    Ok(close.then(|| nearest.keys[0]))
                })
                .collect::<Result<_, AnnError>>()?;
            for i in 0..chunk.len() {
                if twin_of[i].is_none() {
                    let (_, vector) = chunk[i];
                    twin_of[i] = (0..i)
                        .find(|&j| twin_of[j].is_none() && cosine(chunk[j].1, vector) >= MERGE_COSINE)
                        .map(|j| chunk[j].0);
                }
            }
            let nodes: Vec<(u64, &[f32])> =
                chunk.iter().zip(&twin_of).filter(|(_, twin)| twin.is_none()).map(|(kv, _)| *kv).collect();
            let wanted = self.graph.size() + nodes.len();
            if wanted > self.graph.capacity() {
                let capacity = wanted.max(self.graph.capacity() * 2);
                self.graph.reserve_capacity_and_threads(capacity, rayon::current_num_threads()).map_err(failed)?;
            }
            // Threads adding to a graph of a few nodes can leave one unlinked: the first
            // ones go in one at a time.
            let (first, rest) = nodes.split_at(SERIAL_NODES.saturating_sub(self.graph.size()).min(nodes.len()));
            first.iter().try_for_each(|(key, vector)| self.graph.add(*key, vector).map_err(failed))?;
            rest.par_iter().try_for_each(|(key, vector)| self.graph.add(*key, vector).map_err(failed))?;
            for ((key, _), node) in chunk.iter().zip(twin_of) {
                if let Some(node) = node {
                    self.twins.entry(node).or_default().push(*key);
                }
            }
            self.count += chunk.len();
        }
        Ok(())
    }

    /// The keys of the vectors that may be at least `min_cosine` alike to `query` (itself
    /// too, if it was added): every one that is, and some that are not; the caller
    /// decides on its own cosine.
    pub fn within(&self, query: &[f32], min_cosine: f32) -> Result<Vec<u64>, AnnError> {
        let nodes = self.graph.size();
        if nodes == 0 {
            return Ok(Vec::new());
        }
        // A twin within the bound has its node within the bound plus the twins' angle.
        let widened = min_cosine.clamp(-1.0, 1.0).acos() + MERGE_COSINE.acos();
        let most_distant = 1.0 - (widened.min(std::f32::consts::PI).cos() - SLACK);
        let mut width = FIRST_WIDTH;
        let found = loop {
            let found = self.graph.search(query, width.min(nodes)).map_err(failed)?;
            let all_within = found.distances.last().is_some_and(|d| *d <= most_distant);
            // Asked for every node, it may still return fewer (one it cannot reach).
            if !all_within || width >= nodes {
                break found;
            }
            width *= 2;
        };
        let within = found.distances.iter().take_while(|d| **d <= most_distant).count();
        let mut keys = Vec::with_capacity(within);
        for key in &found.keys[..within] {
            keys.push(*key);
            keys.extend(self.twins.get(key).into_iter().flatten());
        }
        Ok(keys)
    }
}

/// The pairs of `vectors` (by position, the smaller first) whose cosine is at least
/// `min_cosine`, with that cosine (`a · b` in `f32`, as an all-pairs comparison computes
/// it), found through a [`NearNeighbours`] graph; sorted.
pub fn close_pairs(vectors: &[&[f32]], min_cosine: f32) -> Result<Vec<(usize, usize, f32)>, AnnError> {
    let Some(dimension) = vectors.first().map(|v| v.len()) else { return Ok(Vec::new()) };
    let mut graph = NearNeighbours::new(dimension)?;
    let keyed: Vec<(u64, &[f32])> = vectors.iter().enumerate().map(|(i, v)| (i as u64, *v)).collect();
    graph.add(&keyed)?;
    let found: Vec<Vec<(usize, usize, f32)>> = vectors
        .par_iter()
        .enumerate()
        .map(|(i, a)| {
            let candidates = graph.within(a, min_cosine)?;
            // Both ends of a pair look for it: a node the graph reaches poorly is still
            // found from its own search.
            Ok(candidates
                .into_iter()
                .map(|j| j as usize)
                .filter(|&j| j != i)
                .map(|j| (i.min(j), i.max(j)))
                .map(|(a, b)| (a, b, cosine(vectors[a], vectors[b])))
                .filter(|(_, _, c)| *c >= min_cosine)
                .collect())
        })
        .collect::<Result<_, AnnError>>()?;
    let mut pairs: Vec<(usize, usize, f32)> = found.into_iter().flatten().collect();
    pairs.sort_by_key(|&(i, j, _)| (i, j));
    pairs.dedup_by_key(|&mut (i, j, _)| (i, j));
    Ok(pairs)
}

/// The cosine of two unit vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clip_like_vectors;

    fn all_pairs(vectors: &[&[f32]], min_cosine: f32) -> Vec<(usize, usize, f32)> {
        let mut pairs = Vec::new();
        for i in 0..vectors.len() {
            for j in i + 1..vectors.len() {
                let c = cosine(vectors[i], vectors[j]);
                if c >= min_cosine {
                    pairs.push((i, j, c));
                }
            }
        }
        pairs
    }

    /// Near copies planted among CLIP-like vectors, in groups of up to 40 (more than the
    /// first width, so the search must widen), are found exactly as all pairs finds them.
    #[test]
    fn the_graph_finds_every_pair_all_pairs_finds() {
        const DIM: usize = 64;
        let mut rows = clip_like_vectors(3000, DIM, 30, 7);
        // Every 100th row gets 39 near copies: itself, nudged.
        for group in 0..5 {
            let original: Vec<f32> = rows[group * 100 * DIM..(group * 100 + 1) * DIM].to_vec();
            for copy in 1..40 {
                let at = (group * 100 + copy) * DIM;
                let mut v: Vec<f32> =
                    original.iter().enumerate().map(|(d, x)| x + 0.002 * ((d * copy) % 7) as f32).collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter_mut().for_each(|x| *x /= norm);
                rows[at..at + DIM].copy_from_slice(&v);
            }
        }
        let vectors: Vec<&[f32]> = rows.chunks_exact(DIM).collect();
        for min_cosine in [0.9, 0.97, 0.995] {
            let expected = all_pairs(&vectors, min_cosine);
            assert!(expected.len() > 5 * 39 * 38 / 2, "{min_cosine}: {} pairs", expected.len());
            let found = close_pairs(&vectors, min_cosine).unwrap();
            let missed: Vec<_> = expected.iter().filter(|p| !found.contains(p)).collect();
            let extra: Vec<_> = found.iter().filter(|p| !expected.contains(p)).collect();
            assert!(missed.is_empty() && extra.is_empty(), "{min_cosine}: missed {missed:?}, extra {extra:?}");
        }
    }

    #[test]
    fn vectors_added_in_steps_are_all_searched() {
        let rows = clip_like_vectors(500, 32, 5, 3);
        let vectors: Vec<&[f32]> = rows.chunks_exact(32).collect();
        let mut graph = NearNeighbours::new(32).unwrap();
        for (start, chunk) in vectors.chunks(7).enumerate() {
            let keyed: Vec<(u64, &[f32])> =
                chunk.iter().enumerate().map(|(i, v)| ((start * 7 + i) as u64, *v)).collect();
            graph.add(&keyed).unwrap();
        }
        assert_eq!(graph.len(), 500);
        for (i, v) in vectors.iter().enumerate() {
            assert!(graph.within(v, 0.9999).unwrap().contains(&(i as u64)));
        }
        assert!(NearNeighbours::new(32).unwrap().within(vectors[0], 0.5).unwrap().is_empty());
    }
}
