//! What the vector benchmarks share: exact scoring of CLIP-like rows (unit length, so
//! cosine is the dot product), the reference approximate results are measured against.

/// The vectors' width.
pub const DIM: usize = 512;
/// Results per query.
pub const K: usize = 10;

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Row `key` of the flat `rows`.
pub fn row(rows: &[f32], key: u64) -> &[f32] {
    &rows[key as usize * DIM..(key as usize + 1) * DIM]
}

/// The top `K` by cosine among `keys`.
pub fn top_k(rows: &[f32], q: &[f32], keys: impl Iterator<Item = u64>) -> Vec<u64> {
    let mut scored: Vec<(f32, u64)> = keys.map(|k| (-dot(row(rows, k), q), k)).collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    scored.iter().take(K).map(|s| s.1).collect()
}

/// What picseek's search does: graph candidates, rescored exactly.
pub fn approximate_top_k(graph: &usearch::Index, rows: &[f32], q: &[f32]) -> Vec<u64> {
    top_k(rows, q, graph.search(q, picseek_index::candidate_count(K)).expect("search").keys.into_iter())
}
