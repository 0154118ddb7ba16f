//! Near-copy groups, so that no picture is on both sides of the split: crops, resized or
//! re-encoded copies, brightness changes and burst shots of one scene are grouped from
//! what clean recorded of each kept image (its 64-bit gradient hash and mean colour)
//! and from cached CLIP vectors, across classes too. Groups, not images, are then
//! assigned to test or train in seeded-hash order.
//!
//! Groups are joined by complete linkage: every two members of a group are near copies
//! of each other, so look-alikes cannot chain (A like B, B like C) into one group that
//! swallows whole classes. A group past [`NearCopyRule::max_group`] images, or holding
//! more than a third of one of its classes, is cut into pieces and reported.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use picseek_embed::EmbeddingCache;
use picseek_manifest::{CleanManifest, CleanStatus, CutGroup, read_json};

/// An image of the split: its class folder and file name.
pub(crate) type Item = (String, String);

/// What clean recorded of an image that near copies are told by.
struct Fingerprint {
    hash: u64,
    colour: [u8; 3],
}

/// The groups of two or more near copies among `items`: images whose hashes (from the
/// clean manifest in `input`) differ in at most `rule.distance` of 64 bits and whose mean
/// colours differ by at most `rule.colour` in every channel, or whose CLIP vectors (in
/// an embedding cache of `rule.embeddings_dir`) are at least `rule.cosine` alike. Pairs
/// are joined closest first, two groups only where every pair across them is close.
/// Each group is sorted; groups are in the order of their first item. Also returns the
/// groups that were too large and were cut, and how many items anything was known of.
pub(crate) fn near_copy_groups(
    input: &Path,
    items: &[Item],
    rule: &NearCopyRule,
    class_sizes: &BTreeMap<String, usize>,
) -> NearCopies {
    let mut pairs = Pairs::default();
    pairs_by_hash(input, items, rule, &mut pairs);
    if let Some(index_dir) = &rule.embeddings_dir {
        pairs_by_embedding(input, items, index_dir, rule.cosine, &mut pairs);
    }
    let mut cut = Vec::new();
    let mut groups = Vec::new();
    let as_items = |members: &[usize]| -> Vec<Item> {
        let mut group: Vec<Item> = members.iter().map(|&i| items[i].clone()).collect();
        group.sort();
        group
    };
    for members in complete_linkage(items.len(), &pairs) {
        let group = as_items(&members);
        match limit(&group, rule.max_group, class_sizes) {
            None => groups.push(group),
            Some(reason) => {
                cut.push(CutGroup { images: group.iter().map(|(c, n)| format!("{c}/{n}")).collect(), reason });
                let fits = |m: &[usize]| limit(&as_items(m), rule.max_group, class_sizes).is_none();
                for piece in tighten(&members, &pairs, &fits) {
                    groups.push(as_items(&piece));
                }
            }
        }
    }
    groups.retain(|g| g.len() > 1);
    groups.sort();
    NearCopies { groups, cut, compared: pairs.compared.len() }
}

/// What grouping found.
pub(crate) struct NearCopies {
    /// Groups of two or more, each kept on one side.
    pub groups: Vec<Vec<Item>>,
    /// Groups too large to keep together, cut into the pieces among `groups`.
    pub cut: Vec<CutGroup>,
    /// Items whose hash or CLIP vector was known, so that they could be compared.
    pub compared: usize,
}

/// Close pairs of item positions (the smaller first), with how close (smaller is closer),
/// and which items anything was known of to compare.
#[derive(Default)]
struct Pairs {
    closeness: HashMap<(usize, usize), f32>,
    compared: HashSet<usize>,
}

impl Pairs {
    fn add(&mut self, a: usize, b: usize, distance: f32) {
        let key = (a.min(b), a.max(b));
        let entry = self.closeness.entry(key).or_insert(distance);
        *entry = entry.min(distance);
    }

    fn close(&self, a: usize, b: usize) -> bool {
        self.closeness.contains_key(&(a.min(b), a.max(b)))
    }
}

/// Complete-linkage clusters of two or more among `count` items: pairs are taken
/// closest first, and two clusters merge only if every pair across them is close.
fn complete_linkage(count: usize, pairs: &Pairs) -> Vec<Vec<usize>> {
    let mut ordered: Vec<(&(usize, usize), &f32)> = pairs.closeness.iter().collect();
    ordered.sort_by(|a, b| a.1.total_cmp(b.1).then(a.0.cmp(b.0)));
    let mut cluster_of: Vec<usize> = (0..count).collect();
    let mut clusters: Vec<Vec<usize>> = (0..count).map(|i| vec![i]).collect();
    for (&(a, b), _) in ordered {
        let (ca, cb) = (cluster_of[a], cluster_of[b]);
        if ca == cb {
            continue;
        }
        let all_close = clusters[ca].iter().all(|&x| clusters[cb].iter().all(|&y| pairs.close(x, y)));
        if all_close {
            let (keep, gone) = (ca.min(cb), ca.max(cb));
            let moved = std::mem::take(&mut clusters[gone]);
            for &m in &moved {
                cluster_of[m] = keep;
            }
            clusters[keep].extend(moved);
        }
    }
    clusters.into_iter().filter(|c| c.len() > 1).collect()
}

/// Why `group` may not stay whole, if it may not: more than `max_group` images, or more
/// than a third of one of its classes (so that class could not be split as asked).
fn limit(group: &[Item], max_group: usize, class_sizes: &BTreeMap<String, usize>) -> Option<String> {
    if group.len() > max_group {
        return Some(format!("{} images, more than the {max_group} a group may hold", group.len()));
    }
    per_class(group).into_iter().find_map(|(class, n)| {
        let size = class_sizes.get(class).copied().unwrap_or(0);
        (n > third(size)).then(|| format!("{n} of the {size} images of {class}, more than a third of the class"))
    })
}

fn third(size: usize) -> usize {
    (size / 3).max(1)
}

fn per_class(group: &[Item]) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    for (class, _) in group {
        *counts.entry(class.as_str()).or_default() += 1;
    }
    counts
}

/// A group too large, in pieces that `fits`: linked again from only its closer pairs
/// (closer than its loosest pair), so that the closest copies stay together, until
/// every piece fits; pieces of identical images that still do not fit are cut in order.
fn tighten(members: &[usize], pairs: &Pairs, fits: &dyn Fn(&[usize]) -> bool) -> Vec<Vec<usize>> {
    if fits(members) {
        return vec![members.to_vec()];
    }
    let inside: Vec<((usize, usize), f32)> = pairs
        .closeness
        .iter()
        .filter(|((a, b), _)| members.contains(a) && members.contains(b))
        .map(|(k, d)| (*k, *d))
        .collect();
    let loosest = inside.iter().map(|(_, d)| *d).fold(0.0, f32::max);
    let closer: Vec<_> = inside.iter().filter(|(_, d)| *d < loosest).collect();
    if closer.is_empty() {
        return cut_in_order(members, fits);
    }
    let mut tighter = Pairs::default();
    for ((a, b), d) in closer {
        tighter.add(*a, *b, *d);
    }
    let count = members.iter().max().map_or(0, |m| m + 1);
    let clusters = complete_linkage(count, &tighter);
    let clustered: HashSet<usize> = clusters.iter().flatten().copied().collect();
    let mut pieces: Vec<Vec<usize>> = members.iter().filter(|m| !clustered.contains(m)).map(|&m| vec![m]).collect();
    for cluster in clusters {
        pieces.extend(tighten(&cluster, &tighter, fits));
    }
    pieces
}

/// `members` in pieces, in their order, each as large as `fits` allows.
fn cut_in_order(members: &[usize], fits: &dyn Fn(&[usize]) -> bool) -> Vec<Vec<usize>> {
    let mut pieces: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    for &m in members {
        current.push(m);
        if !fits(&current) && current.len() > 1 {
            current.pop();
            pieces.push(std::mem::replace(&mut current, vec![m]));
        }
    }
    pieces.push(current);
    pieces
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
    /// The most images a group may hold before it is cut.
    pub max_group: usize,
}

/// The pairs of items whose CLIP vectors, in the embedding cache that holds the most of
/// them (by the SHA-256 of their files), are at least `cosine` alike.
fn pairs_by_embedding(input: &Path, items: &[Item], index_dir: &Path, cosine: f32, pairs: &mut Pairs) {
    let caches = picseek_embed::cached_embeddings(index_dir);
    if caches.is_empty() {
        return;
    }
    let shas: Vec<Option<String>> = items
        .iter()
        .map(|(class, name)| std::fs::read(input.join(class).join(name)).ok().map(|b| picseek_manifest::sha256_hex(&b)))
        .collect();
    let covered = |cache: &EmbeddingCache| shas.iter().flatten().filter(|s| cache.contains(s)).count();
    let Some(cache) = caches.iter().max_by_key(|c| covered(c)) else { return };
    tracing::debug!(
        "grouping near copies by the embeddings of {} ({} of {} images)",
        cache.identity(),
        covered(cache),
        items.len()
    );
    let known: Vec<(usize, &[f32])> =
        shas.iter().enumerate().filter_map(|(i, s)| Some((i, cache.get(s.as_ref()?)?))).collect();
    pairs.compared.extend(known.iter().map(|(i, _)| *i));
    let vectors: Vec<&[f32]> = known.iter().map(|(_, v)| *v).collect();
    match picseek_ann::close_pairs(&vectors, cosine) {
        Ok(close) => {
            for (a, b, similarity) in close {
                pairs.add(known[a].0, known[b].0, 1.0 - similarity);
            }
        }
        Err(e) => tracing::warn!("{e}; near copies are grouped by their hashes only"),
    }
}

/// The pairs of items whose gradient hashes and mean colours (from clean's manifest) are
/// close.
fn pairs_by_hash(input: &Path, items: &[Item], rule: &NearCopyRule, pairs: &mut Pairs) {
    let (distance, colour) = (rule.distance, rule.colour);
    let path = picseek_manifest::DataDir::stage_manifest(input);
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
    pairs.compared.extend(known.iter().map(|(i, _)| *i));
    for (n, (i, a)) in known.iter().enumerate() {
        for (j, b) in &known[n + 1..] {
            let bits = (a.hash ^ b.hash).count_ones();
            let close = bits <= distance && a.colour.iter().zip(b.colour).all(|(x, y)| x.abs_diff(y) <= colour);
            if close {
                pairs.add(*i, *j, bits as f32 / 64.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(close: &[(usize, usize, f32)]) -> Pairs {
        let mut pairs = Pairs::default();
        for &(a, b, d) in close {
            pairs.add(a, b, d);
        }
        pairs
    }

    #[test]
    fn a_chain_is_not_one_group() {
        // A ~ B ~ C, but A and C are far apart: B joins the closer of the two.
        let groups = complete_linkage(3, &pairs(&[(0, 1, 0.2), (1, 2, 0.1)]));
        assert_eq!(groups, [vec![1, 2]]);
        // A ring of look-alikes (each like its neighbours only) stays in pairs.
        let ring: Vec<(usize, usize, f32)> = (0..8).map(|i| (i, (i + 1) % 8, 0.1 + i as f32 / 100.0)).collect();
        assert!(complete_linkage(8, &pairs(&ring)).iter().all(|g| g.len() == 2));
        // Every pair close: one group.
        let all = pairs(&[(0, 1, 0.1), (0, 2, 0.1), (1, 2, 0.1)]);
        assert_eq!(complete_linkage(3, &all), [vec![0, 1, 2]]);
    }

    #[test]
    fn a_group_too_large_is_cut_and_says_why() {
        let item = |c: &str, n: usize| (c.to_owned(), format!("{n}.jpg"));
        let sizes: BTreeMap<String, usize> = [("a".to_owned(), 9), ("b".to_owned(), 30)].into();
        let big: Vec<Item> = (0..5).map(|n| item("a", n)).collect();
        assert!(limit(&big, 20, &sizes).unwrap().contains("more than a third of the class"));
        let many: Vec<Item> = (0..10).map(|n| item("b", n)).collect();
        assert!(limit(&many, 4, &sizes).unwrap().contains("more than the 4"));
        assert_eq!(limit(&many[..3], 4, &sizes), None);
        // Cut from the closest pairs: 0-1 and 2-3 are copies, all four look alike.
        let close = pairs(&[(0, 1, 0.01), (2, 3, 0.02), (0, 2, 0.1), (0, 3, 0.1), (1, 2, 0.1), (1, 3, 0.1)]);
        let fits = |m: &[usize]| m.len() <= 2;
        let mut pieces = tighten(&[0, 1, 2, 3], &close, &fits);
        pieces.sort();
        assert_eq!(pieces, [vec![0, 1], vec![2, 3]]);
        // Nothing closer than the rest: cut in order.
        let alike = pairs(&[(0, 1, 0.1), (0, 2, 0.1), (1, 2, 0.1)]);
        assert_eq!(tighten(&[0, 1, 2], &alike, &fits), [vec![0, 1], vec![2]]);
    }
}
