//! The split stage: divides each class of a `<class>/<image>` folder (normally `clean/`)
//! into `train/<class>/` and `test/<class>/`, and records the result in `split.json`.
//!
//! The order of a class's images is a hash of (seed, class, file name), not a shuffle from
//! a random number generator, so the same input and seed give the same split on every
//! machine and library version, and adding images to one class leaves the others as they
//! were. `train/` and `test/` are owned by this stage: they are made to mirror
//! `split.json` (hard links where possible, copies otherwise), and files in them that the
//! split no longer names are removed.
//!
//! It also writes the dataset's credits (see `credits`): `provenance/train.json` and
//! `provenance/test.json` beside the sides (which hold only `<class>/<image>`), and
//! `attribution.json` and `CREDITS.md` beside `split.json`.

mod credits;
mod groups;

pub use credits::{AttributedImage, Attribution};

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use picseek_imaging::{ImageError, list_class_images};
use picseek_manifest::{
    ClassSplit, DataDir, InvalidOption, LeakageCheck, ManifestError, SplitManifest, write_json_atomic,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Where to read and write, and how many images of each class go where. [`Default`]
/// gives the documented defaults (paths relative to the working directory).
#[derive(Debug, Clone)]
pub struct SplitOptions {
    /// The `<class>/<image>` folder to split (`clean/`).
    pub input: PathBuf,
    /// `train/`, mirrored from the split.
    pub train_dir: PathBuf,
    /// `test/`, mirrored from the split.
    pub test_dir: PathBuf,
    /// `split.json`.
    pub manifest_path: PathBuf,
    /// Test images per class.
    pub test_per_class: usize,
    /// `0` means all images not in the test set.
    pub train_per_class: usize,
    /// Changes the order images are drawn in.
    pub seed: u64,
    /// Keep near copies on one side of the split (groups from clean's hashes); `false`
    /// splits image by image.
    pub keep_near_copies_together: bool,
    /// The most bits (of 64) in which two images' gradient hashes may differ to be near
    /// copies: looser than clean's duplicate distance, so crops and shifted copies count.
    pub group_distance: u32,
    /// The most two near copies' mean colours may differ, per channel.
    pub group_colour: u8,
    /// The least cosine between two images' CLIP vectors for them to be near copies, where
    /// an embedding cache has them (looser than clean's `--dedup clip` threshold).
    pub group_cosine: f32,
    /// The index folder whose embedding cache (`cache/`, written by index or by clean's
    /// `--dedup clip`) groups near copies by CLIP too; `None`: by hashes only.
    pub embeddings_dir: Option<PathBuf>,
    /// The most images a near-copy group may hold on one side; larger groups (and any
    /// holding more than a third of a class) are cut into pieces and reported.
    pub max_group: usize,
}

impl Default for SplitOptions {
    fn default() -> Self {
        Self {
            input: DataDir::default().clean(),
            train_dir: DataDir::default().train(),
            test_dir: DataDir::default().test(),
            manifest_path: DataDir::default().split_manifest(),
            test_per_class: 1,
            train_per_class: 19,
            seed: 0,
            keep_near_copies_together: true,
            group_distance: 12,
            group_colour: 40,
            group_cosine: 0.93,
            embeddings_dir: None,
            max_group: 12,
        }
    }
}

impl SplitOptions {
    /// The most images per class either side may be asked for.
    pub const MAX_PER_CLASS: usize = 1_000_000_000;

    /// Refuses options the stage cannot work with, naming the option.
    pub fn validate(&self) -> Result<(), InvalidOption> {
        for (name, value) in [("test_per_class", self.test_per_class), ("train_per_class", self.train_per_class)] {
            if value > Self::MAX_PER_CLASS {
                return Err(InvalidOption::new(name, format!("must be at most {}, not {value}", Self::MAX_PER_CLASS)));
            }
        }
        if !(0.0..=1.0).contains(&self.group_cosine) {
            return Err(InvalidOption::new("group_cosine", format!("must be from 0 to 1, not {}", self.group_cosine)));
        }
        if self.max_group < 2 {
            return Err(InvalidOption::new("max_group", format!("must be at least 2, not {}", self.max_group)));
        }
        if self.group_distance > 64 {
            return Err(InvalidOption::new(
                "group_distance",
                format!("must be from 0 to 64 bits, not {}", self.group_distance),
            ));
        }
        Ok(())
    }
}

/// Why the split could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    /// A stop was requested (Ctrl-C or SIGTERM); a re-run finishes the sides, and
    /// `split.json` is written only once they are whole.
    #[error(transparent)]
    Interrupted(#[from] picseek_manifest::stop::Interrupted),
    /// The input folder cannot be listed.
    #[error(transparent)]
    Listing(#[from] ImageError),
    /// A file of `train/` or `test/` cannot be made or removed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// `split.json` cannot be written.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// An option the stage cannot work with.
    #[error("{0}")]
    Invalid(#[from] InvalidOption),
    /// The folders overlap or lead elsewhere: splitting would delete or overwrite images
    /// that are not the split's own.
    #[error("{path}: {reason}")]
    Unsafe {
        /// The folder.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
}

/// Refuses an input inside (or holding) `train/` or `test/`, which the split rewrites,
/// and a `train/` or `test/` that is a symbolic link to elsewhere.
fn check_folders(opts: &SplitOptions) -> Result<(), SplitError> {
    let unsafe_folder = |path: &Path, reason: &str| SplitError::Unsafe { path: path.to_owned(), reason: reason.into() };
    let input = std::fs::canonicalize(&opts.input).map_err(io_error(&opts.input))?;
    for side in [&opts.train_dir, &opts.test_dir] {
        if std::fs::symlink_metadata(side).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(unsafe_folder(side, "is a symbolic link; the split only writes folders of its own"));
        }
        let Ok(side_real) = std::fs::canonicalize(side) else { continue };
        if input.starts_with(&side_real) || side_real.starts_with(&input) {
            return Err(unsafe_folder(
                &opts.input,
                &format!(
                    "overlaps {}, which the split rewrites: split another folder (normally clean/)",
                    side.display()
                ),
            ));
        }
    }
    Ok(())
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SplitError + '_ {
    move |source| SplitError::Io { path: path.to_owned(), source }
}

/// What a split did, for the summary; in JSON, `split.json`'s fields and the counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SplitReport {
    /// What `split.json` now says.
    #[serde(flatten)]
    pub manifest: SplitManifest,
    /// Files newly placed in `train/` or `test/`.
    pub placed: usize,
    /// Files already in place.
    pub unchanged: usize,
    /// Files removed from `train/` or `test/` because the split no longer names them.
    pub removed: usize,
    /// Paths in the input that are not in a class folder or could not be read.
    #[serde(skip)]
    pub problems: Vec<(PathBuf, String)>,
    /// Images per licence in `attribution.json`.
    pub licenses: BTreeMap<String, usize>,
}

/// The position of a file in its class's split order.
fn split_order_key(seed: u64, class: &str, name: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(seed.to_le_bytes());
    hasher.update(class.as_bytes());
    hasher.update([0]);
    hasher.update(name.as_bytes());
    hasher.finalize().into()
}

/// Why a class cannot be split, if it cannot: too few images.
fn too_few(count: usize, opts: &SplitOptions) -> Option<String> {
    let needed = opts.test_per_class.saturating_add(1);
    (count < needed).then(|| {
        format!(
            "has {count} image(s); needs at least {needed} (test-per-class {} plus one for train)",
            opts.test_per_class
        )
    })
}

/// Splits every class at once, group by group. Each group (a near-copy group, or an
/// image alone) is placed in the order of its first member's seeded hash: in `test/`
/// if each of its classes still has room for all its members there and keeps one for
/// train, else in `train/` (then cut to `train_per_class` per class, in hash order).
/// A class left short (its groups did not add up) then takes, of the groups that are
/// its own alone, the first set in that order whose sizes add up exactly. Without
/// groups this is the plain per-class split: the first `test_per_class` images of each
/// class in hash order.
fn assign(
    classes: &BTreeMap<String, Vec<String>>,
    groups: &[Vec<groups::Item>],
    opts: &SplitOptions,
) -> BTreeMap<String, ClassSplit> {
    let key = |(class, name): &groups::Item| split_order_key(opts.seed, class, name);
    let grouped: std::collections::HashSet<&groups::Item> = groups.iter().flatten().collect();
    let mut units: Vec<Vec<groups::Item>> = groups.to_vec();
    for (class, names) in classes {
        for name in names {
            let item = (class.clone(), name.clone());
            if !grouped.contains(&item) {
                units.push(vec![item]);
            }
        }
    }
    units.sort_by_cached_key(|unit| unit.iter().map(key).min());
    let mut in_test = vec![false; units.len()];
    let mut taken: BTreeMap<&str, usize> = BTreeMap::new();
    for (u, unit) in units.iter().enumerate() {
        let per_class = count_per_class(unit);
        let fits = per_class.iter().all(|(class, n)| {
            let already = taken.get(class).copied().unwrap_or(0);
            already + n <= opts.test_per_class && classes[*class].len() - already - n >= 1
        });
        if fits {
            in_test[u] = true;
            for (class, n) in per_class {
                *taken.entry(class).or_default() += n;
            }
        }
    }
    for class in classes.keys() {
        if taken.get(class.as_str()).copied().unwrap_or(0) != opts.test_per_class {
            fill_exactly(class, &units, &mut in_test, classes[class].len(), opts.test_per_class);
        }
    }
    let mut test: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut train: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (unit, placed_in_test) in units.iter().zip(&in_test) {
        let side = if *placed_in_test { &mut test } else { &mut train };
        for (class, name) in unit {
            side.entry(class).or_default().push(name.clone());
        }
    }
    classes
        .keys()
        .map(|class| {
            let mut train = train.remove(class.as_str()).unwrap_or_default();
            if opts.train_per_class > 0 {
                // In hash order, so which train images are kept does not depend on groups.
                train.sort_by_cached_key(|name| split_order_key(opts.seed, class, name));
                train.truncate(opts.train_per_class);
            }
            let mut test = test.remove(class.as_str()).unwrap_or_default();
            train.sort();
            test.sort();
            (class.clone(), ClassSplit { train, test })
        })
        .collect()
}

fn count_per_class(unit: &[groups::Item]) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    for (class, _) in unit {
        *counts.entry(class.as_str()).or_default() += 1;
    }
    counts
}

/// Re-places the groups that hold only `class` so that its test side holds exactly
/// `wanted` images (with what groups shared with other classes already put there), and
/// train keeps one: the first set, in unit order, whose sizes add up. Leaves the class
/// as it is when no set does.
fn fill_exactly(class: &str, units: &[Vec<groups::Item>], in_test: &mut [bool], size: usize, wanted: usize) {
    let own: Vec<usize> = (0..units.len()).filter(|&u| units[u].iter().all(|(c, _)| c == class)).collect();
    let shared_in_test: usize = (0..units.len())
        .filter(|&u| in_test[u] && !own.contains(&u))
        .map(|u| units[u].iter().filter(|(c, _)| c == class).count())
        .sum();
    let Some(need) = wanted.checked_sub(shared_in_test) else { return };
    if size - shared_in_test <= need {
        return;
    }
    // chosen[s]: the earliest units (by position in `own`) whose sizes add up to s.
    let mut chosen: Vec<Option<Vec<usize>>> = vec![None; need + 1];
    chosen[0] = Some(Vec::new());
    for (i, &u) in own.iter().enumerate() {
        let n = units[u].len();
        for s in (n..=need).rev() {
            if chosen[s].is_none()
                && let Some(base) = &chosen[s - n]
            {
                let mut with = base.clone();
                with.push(i);
                chosen[s] = Some(with);
            }
        }
    }
    if let Some(picked) = &chosen[need] {
        for (i, &u) in own.iter().enumerate() {
            in_test[u] = picked.contains(&i);
        }
    }
}

/// Runs the split stage: see the crate documentation.
pub fn split(opts: &SplitOptions) -> Result<SplitReport, SplitError> {
    opts.validate()?;
    check_folders(opts)?;
    let listing = list_class_images(&opts.input)?;
    for (path, reason) in &listing.problems {
        tracing::warn!("ignored {}: {reason}", path.display());
    }
    let mut report = SplitReport { problems: listing.problems, ..Default::default() };
    let mut manifest = SplitManifest {
        seed: opts.seed,
        test_per_class: opts.test_per_class,
        train_per_class: opts.train_per_class,
        classes: BTreeMap::new(),
        skipped_classes: BTreeMap::new(),
        groups: Vec::new(),
        cut_groups: Vec::new(),
        uneven_classes: BTreeMap::new(),
        leakage_check: None,
        left_out: 0,
    };
    let mut classes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for class in listing.classes {
        let names: Vec<String> =
            class.files.iter().filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned())).collect();
        match too_few(names.len(), opts) {
            Some(reason) => {
                tracing::warn!(class = %class.class, "class left out of the split: {reason}");
                manifest.skipped_classes.insert(class.class, reason);
            }
            None => {
                classes.insert(class.class, names);
            }
        }
    }
    let groups = if opts.keep_near_copies_together {
        let items: Vec<groups::Item> =
            classes.iter().flat_map(|(c, names)| names.iter().map(move |n| (c.clone(), n.clone()))).collect();
        let rule = groups::NearCopyRule {
            distance: opts.group_distance,
            colour: opts.group_colour,
            cosine: opts.group_cosine,
            embeddings_dir: opts.embeddings_dir.clone(),
            max_group: opts.max_group,
        };
        let sizes = classes.iter().map(|(c, names)| (c.clone(), names.len())).collect();
        let found = groups::near_copy_groups(&opts.input, &items, &rule, &sizes);
        let check = LeakageCheck { images: items.len(), compared: found.compared };
        if check.unchecked() {
            tracing::warn!(
                "near copies were not looked for: none of the {} images has clean's records or a cached CLIP \
                 vector (run picseek clean, then split its output)",
                check.images
            );
        }
        for cut in &found.cut {
            tracing::warn!("a near-copy group was cut ({}): {}", cut.reason, cut.images.join(", "));
        }
        manifest.leakage_check = Some(check);
        manifest.cut_groups = found.cut;
        found.groups
    } else {
        Vec::new()
    };
    manifest.classes = assign(&classes, &groups, opts);
    manifest.groups = groups.iter().map(|g| g.iter().map(|(c, n)| format!("{c}/{n}")).collect()).collect();
    for (class, split) in &manifest.classes {
        if split.test.len() != opts.test_per_class {
            let note = format!(
                "{} test image(s) instead of {}: near copies stay together on one side",
                split.test.len(),
                opts.test_per_class
            );
            tracing::warn!(class = %class, "{note}");
            manifest.uneven_classes.insert(class.clone(), note);
        }
        if opts.train_per_class > 0 && split.train.len() < opts.train_per_class {
            tracing::warn!(class = %class, "only {} train image(s) of the {} asked for", split.train.len(), opts.train_per_class);
        }
        manifest.left_out += classes[class].len() - split.train.len() - split.test.len();
    }
    let train = manifest.classes.iter().map(|(c, s)| (c.as_str(), s.train.as_slice())).collect();
    mirror_side(&opts.input, &opts.train_dir, &train, &mut report)?;
    let test = manifest.classes.iter().map(|(c, s)| (c.as_str(), s.test.as_slice())).collect();
    mirror_side(&opts.input, &opts.test_dir, &test, &mut report)?;
    let credits_dir = opts.manifest_path.parent().unwrap_or(Path::new(""));
    let sides = [("train", opts.train_dir.as_path()), ("test", opts.test_dir.as_path())];
    report.licenses = credits::write_credits(&opts.input, sides, &manifest, credits_dir)?.licenses;
    write_json_atomic(&opts.manifest_path, &manifest)?;
    report.manifest = manifest;
    Ok(report)
}

/// Makes `side_dir` hold exactly `wanted` (class to file names) from `input`.
fn mirror_side(
    input: &Path,
    side_dir: &Path,
    wanted: &BTreeMap<&str, &[String]>,
    report: &mut SplitReport,
) -> Result<(), SplitError> {
    std::fs::create_dir_all(side_dir).map_err(io_error(side_dir))?;
    for entry in std::fs::read_dir(side_dir).map_err(io_error(side_dir))? {
        let path = entry.map_err(io_error(side_dir))?.path();
        let class = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let keep: BTreeSet<&str> =
            wanted.get(class.as_str()).map(|v| v.iter().map(String::as_str).collect()).unwrap_or_default();
        // A symbolic link (a folder a user linked in) is removed as a link: what it
        // points to is not the split's to change.
        let is_link = std::fs::symlink_metadata(&path).map_err(io_error(&path))?.file_type().is_symlink();
        if is_link || !path.is_dir() {
            std::fs::remove_file(&path).map_err(io_error(&path))?;
            report.removed += 1;
            continue;
        }
        for file in std::fs::read_dir(&path).map_err(io_error(&path))? {
            let file = file.map_err(io_error(&path))?.path();
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if !keep.contains(name.as_str()) {
                std::fs::remove_file(&file).map_err(io_error(&file))?;
                report.removed += 1;
            }
        }
        if keep.is_empty() {
            std::fs::remove_dir(&path).map_err(io_error(&path))?;
        }
    }
    let total: usize = wanted.values().map(|names| names.len()).sum();
    let mut done = 0;
    for (class, names) in wanted {
        let dest_dir = side_dir.join(class);
        std::fs::create_dir_all(&dest_dir).map_err(io_error(&dest_dir))?;
        for name in names.iter() {
            picseek_manifest::stop::Interrupted::check(done, total)?;
            done += 1;
            let src = input.join(class).join(name);
            let dest = dest_dir.join(name);
            if is_same_file(&src, &dest) {
                report.unchanged += 1;
            } else {
                picseek_manifest::place_file(&src, &dest)?;
                report.placed += 1;
            }
        }
    }
    Ok(())
}

fn is_same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make_input(dir: &Path, classes: &[(&str, usize)]) {
        for (class, n) in classes {
            std::fs::create_dir_all(dir.join(class)).unwrap();
            for i in 0..*n {
                std::fs::write(dir.join(class).join(format!("{i:03}.jpg")), format!("{class}{i}")).unwrap();
            }
        }
    }

    fn options(root: &Path, seed: u64) -> SplitOptions {
        SplitOptions {
            input: root.join("clean"),
            train_dir: root.join("train"),
            test_dir: root.join("test"),
            manifest_path: root.join("split.json"),
            test_per_class: 2,
            train_per_class: 3,
            seed,
            ..SplitOptions::default()
        }
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn splits_per_class_reproducibly_and_mirrors_the_folders() {
        let root = tempfile::tempdir().unwrap();
        make_input(&root.path().join("clean"), &[("cat", 10), ("dog", 4), ("lonely", 2)]);
        let opts = options(root.path(), 7);
        let first = split(&opts).unwrap();
        let cat = &first.manifest.classes["cat"];
        assert_eq!((cat.train.len(), cat.test.len()), (3, 2));
        assert!(cat.train.iter().all(|f| !cat.test.contains(f)));
        let dog = &first.manifest.classes["dog"];
        assert_eq!((dog.train.len(), dog.test.len()), (2, 2));
        assert!(first.manifest.skipped_classes["lonely"].contains("has 2 image(s)"));
        assert_eq!(files_in(&root.path().join("train/cat")), cat.train);
        assert_eq!(files_in(&root.path().join("test/cat")), cat.test);
        assert!(!root.path().join("train/lonely").exists());

        let again = split(&opts).unwrap();
        assert_eq!(again.manifest, first.manifest);
        assert_eq!((again.placed, again.removed), (0, 0));
        let on_disk: SplitManifest = picseek_manifest::read_json(&root.path().join("split.json")).unwrap();
        assert_eq!(on_disk, first.manifest);
    }

    #[test]
    fn another_seed_gives_another_split_and_stale_files_go() {
        let root = tempfile::tempdir().unwrap();
        make_input(&root.path().join("clean"), &[("cat", 30)]);
        let a = split(&options(root.path(), 1)).unwrap();
        let b = split(&options(root.path(), 2)).unwrap();
        assert_ne!(a.manifest.classes["cat"], b.manifest.classes["cat"]);
        assert!(b.removed > 0);
        assert_eq!(files_in(&root.path().join("train/cat")), b.manifest.classes["cat"].train);
    }

    #[test]
    fn adding_a_class_leaves_the_others_unchanged() {
        let root = tempfile::tempdir().unwrap();
        make_input(&root.path().join("clean"), &[("cat", 8)]);
        let before = split(&options(root.path(), 0)).unwrap();
        make_input(&root.path().join("clean"), &[("dog", 8)]);
        let after = split(&options(root.path(), 0)).unwrap();
        assert_eq!(after.manifest.classes["cat"], before.manifest.classes["cat"]);
        assert_eq!(after.placed, 5);
    }

    #[test]
    fn train_zero_takes_all_the_rest() {
        let root = tempfile::tempdir().unwrap();
        make_input(&root.path().join("clean"), &[("cat", 9)]);
        let opts = SplitOptions { train_per_class: 0, ..options(root.path(), 0) };
        assert_eq!(split(&opts).unwrap().manifest.classes["cat"].train.len(), 7);
    }
}
