//! Near-copy groups, so that no picture is on both sides of the split: crops, resized or
//! re-encoded copies, brightness changes and burst shots of one scene are grouped from
//! what clean recorded of each kept image (its 64-bit gradient hash and mean colour),
//! with a looser distance than clean's duplicate rule, across classes too. Groups, not
//! images, are then assigned to test or train in seeded-hash order.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use picseek_manifest::{CleanManifest, CleanStatus, read_json};

/// An image of the split: its class folder and file name.
pub(crate) type Item = (String, String);

/// What clean recorded of an image that near copies are told by.
struct Fingerprint {
    hash: u64,
    colour: [u8; 3],
}

/// Union-find over item positions.
struct Groups(Vec<usize>);

impl Groups {
    fn root(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }

    fn join(&mut self, a: usize, b: usize) {
        let (a, b) = (self.root(a), self.root(b));
        if a != b {
            self.0[a.max(b)] = a.min(b);
        }
    }
}

/// The groups of two or more near copies among `items`: images whose hashes (from the
/// clean manifest in `input`) differ in at most `rule.distance` of 64 bits and whose mean
/// colours differ by at most `rule.colour` in every channel, or whose CLIP vectors (in
/// an embedding cache of `rule.embeddings_dir`) are at least `rule.cosine` alike; joined
/// transitively. Each group is sorted; groups are in the order of their first item.
pub(crate) fn near_copy_groups(input: &Path, items: &[Item], rule: &NearCopyRule) -> Vec<Vec<Item>> {
    let mut groups = Groups((0..items.len()).collect());
    join_by_hash(input, items, rule, &mut groups);
    if let Some(index_dir) = &rule.embeddings_dir {
        join_by_embedding(input, items, index_dir, rule.cosine, &mut groups);
    }
    let mut by_root: BTreeMap<usize, Vec<Item>> = BTreeMap::new();
    for i in 0..items.len() {
        let root = groups.root(i);
        by_root.entry(root).or_default().push(items[i].clone());
    }
    by_root
        .into_values()
        .filter(|g| g.len() > 1)
        .map(|mut g| {
            g.sort();
            g
        })
        .collect()
}

/// When two images are near copies.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NearCopyRule {
    /// Most bits in which gradient hashes differ.
    pub distance: u32,
    /// Most mean-colour difference per channel.
    pub colour: u8,
    /// Least cosine between CLIP embeddings, where an embedding cache has them.
    pub cosine: f32,
    /// The index folder whose embedding cache is used, if any.
    pub embeddings_dir: Option<std::path::PathBuf>,
}

/// Joins the items whose CLIP vectors, in the embedding cache that holds the most of
/// them (by the SHA-256 of their files), are at least `cosine` alike.
fn join_by_embedding(input: &Path, items: &[Item], index_dir: &Path, cosine: f32, groups: &mut Groups) {
    let caches = picseek_index::cached_embeddings(index_dir);
    if caches.is_empty() {
        return;
    }
    let shas: Vec<Option<String>> = items
        .iter()
        .map(|(class, name)| std::fs::read(input.join(class).join(name)).ok().map(|b| picseek_manifest::sha256_hex(&b)))
        .collect();
    let covered =
        |vectors: &HashMap<String, Vec<f32>>| shas.iter().flatten().filter(|s| vectors.contains_key(*s)).count();
    let Some((identity, vectors)) = caches.iter().max_by_key(|(_, v)| covered(v)) else { return };
    tracing::debug!(
        "grouping near copies by the embeddings of {identity} ({} of {} images)",
        covered(vectors),
        items.len()
    );
    let known: Vec<(usize, &Vec<f32>)> =
        shas.iter().enumerate().filter_map(|(i, s)| Some((i, vectors.get(s.as_ref()?)?))).collect();
    for (n, (i, a)) in known.iter().enumerate() {
        for (j, b) in &known[n + 1..] {
            if a.iter().zip(b.iter()).map(|(x, y)| x * y).sum::<f32>() >= cosine {
                groups.join(*i, *j);
            }
        }
    }
}

/// Joins the items whose gradient hashes and mean colours (from clean's manifest) are close.
fn join_by_hash(input: &Path, items: &[Item], rule: &NearCopyRule, groups: &mut Groups) {
    let (distance, colour) = (rule.distance, rule.colour);
    let path = input.join("manifest.json");
    let Ok(records) = read_json::<CleanManifest>(&path) else {
        if path.exists() {
            tracing::warn!("{}: unreadable; near copies cannot be kept together", path.display());
        }
        return;
    };
    let fingerprints: HashMap<&str, Fingerprint> = records
        .iter()
        .filter(|r| r.status == CleanStatus::Kept)
        .filter_map(|r| {
            let hash = u64::from_str_radix(r.phash.as_deref()?, 16).ok()?;
            Some((r.path.as_deref()?, Fingerprint { hash, colour: r.mean_rgb? }))
        })
        .collect();
    let known: Vec<(usize, &Fingerprint)> = items
        .iter()
        .enumerate()
        .filter_map(|(i, (class, name))| fingerprints.get(format!("{class}/{name}").as_str()).map(|f| (i, f)))
        .collect();
    for (n, (i, a)) in known.iter().enumerate() {
        for (j, b) in &known[n + 1..] {
            let close = (a.hash ^ b.hash).count_ones() <= distance
                && a.colour.iter().zip(b.colour).all(|(x, y)| x.abs_diff(y) <= colour);
            if close {
                groups.join(*i, *j);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_join_transitively() {
        let mut groups = Groups((0..5).collect());
        groups.join(0, 3);
        groups.join(3, 4);
        assert_eq!(groups.root(4), 0);
        assert_ne!(groups.root(1), groups.root(0));
    }
}
