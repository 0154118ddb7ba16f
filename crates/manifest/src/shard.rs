//! Shards: one stage's work split over N processes (on one machine or many, scheduled by
//! Ray, Slurm or Kubernetes), each doing the part [`Shard::owns`] gives it.
//!
//! A shard writes its manifest and, once it has run to the end, a completion marker
//! ([`ShardCompletion`]) into its own folder, `<stage folder>/.shards/<I>-of-<N>/`
//! (hidden, so no stage ever mistakes it for a category or class). The marker records a
//! fingerprint of the stage's input: a finished shard whose input has not changed is
//! skipped, and a merge refuses shards that ran on other input. The partition is a hash
//! of a key the stage chooses (a host, a file, an image's SHA-256), so it is the same
//! on every machine and every run.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{ManifestError, read_json, sha256_hex, write_json_atomic};

/// The hidden folder of a stage's shards, inside the stage's folder.
pub const SHARDS_FOLDER: &str = ".shards";

/// The completion marker in a shard's folder.
pub const COMPLETION_FILE: &str = "complete.json";

/// The most shards a stage may be split into.
pub const MAX_SHARDS: usize = 10_000;

/// Shard `index` of `count` (0-based), written `I/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    /// Which shard, from 0.
    pub index: usize,
    /// How many shards there are.
    pub count: usize,
}

/// Why a shard cannot be named, found or merged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ShardError {
    /// `I/N` that is not one.
    #[error("'{spec}' is not a shard: {problem}")]
    BadSpec {
        /// What was given.
        spec: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The environment names no shard, or names one badly.
    #[error("{0}")]
    Environment(String),
    /// A merge found no shards.
    #[error("{dir}: no shards here (run the stage with --shard I/N first)")]
    NoShards {
        /// The shards folder.
        dir: PathBuf,
    },
    /// A merge found shards of more than one count and was not told which.
    #[error("{dir}: shards of {counts} runs are here; say which with --shards N")]
    MixedCounts {
        /// The shards folder.
        dir: PathBuf,
        /// The counts found, e.g. `3 and 4`.
        counts: String,
    },
    /// Shards that have not run to the end, or ran on other input.
    #[error("{dir}: shard(s) {shards} of {count} {problem}; run them (again), then merge")]
    NotReady {
        /// The shards folder.
        dir: PathBuf,
        /// The shards, e.g. `1, 3`.
        shards: String,
        /// How many shards there are.
        count: usize,
        /// `are not complete` or `ran on other input than there is now`.
        problem: &'static str,
    },
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let bad = |problem: &str| ShardError::BadSpec { spec: spec.to_owned(), problem: problem.to_owned() };
        let (index, count) = spec.split_once('/').ok_or_else(|| bad("write it I/N, e.g. 0/4"))?;
        let index: usize = index.trim().parse().map_err(|_| bad("I must be a whole number from 0"))?;
        let count: usize = count.trim().parse().map_err(|_| bad("N must be a whole number from 1"))?;
        Shard::new(index, count).map_err(|problem| bad(&problem))
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Serialize for Shard {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl Shard {
    /// Shard `index` of `count`, or what is wrong with them.
    pub fn new(index: usize, count: usize) -> Result<Self, String> {
        if !(1..=MAX_SHARDS).contains(&count) {
            return Err(format!("N must be from 1 to {MAX_SHARDS}, not {count}"));
        }
        if index >= count {
            return Err(format!("I counts from 0, so it must be below N ({count}), not {index}"));
        }
        Ok(Self { index, count })
    }

    /// The shard of `count` that owns `key`: the same on every machine and run.
    pub fn of_key(key: &str, count: usize) -> usize {
        let digest = sha256_hex(key.as_bytes());
        let value = u64::from_str_radix(&digest[..16], 16).expect("hex digits");
        (value % count.max(1) as u64) as usize
    }

    /// Whether this shard does the work of `key`.
    pub fn owns(&self, key: &str) -> bool {
        Self::of_key(key, self.count) == self.index
    }

    /// This shard's folder name: `I-of-N`.
    pub fn folder_name(&self) -> String {
        format!("{}-of-{}", self.index, self.count)
    }

    /// This shard's folder inside `stage_dir`.
    pub fn dir(&self, stage_dir: &Path) -> PathBuf {
        stage_dir.join(SHARDS_FOLDER).join(self.folder_name())
    }

    /// The shard a Slurm job array or a Kubernetes Indexed Job task is, from its
    /// environment (`var` looks a variable up). Slurm: `SLURM_ARRAY_TASK_ID` (less
    /// `SLURM_ARRAY_TASK_MIN`, over `SLURM_ARRAY_TASK_STEP`) of `SLURM_ARRAY_TASK_COUNT`.
    /// Kubernetes: `JOB_COMPLETION_INDEX` of `count`, which the Job's spec knows and the
    /// pod does not. A `count` given where Slurm knows it must agree.
    pub fn from_environment(var: impl Fn(&str) -> Option<String>, count: Option<usize>) -> Result<Self, ShardError> {
        let number = |name: &str| -> Result<Option<usize>, ShardError> {
            match var(name).filter(|v| !v.trim().is_empty()) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| ShardError::Environment(format!("{name} is '{v}', not a whole number from 0"))),
            }
        };
        let env_error = |problem: String| ShardError::Environment(problem);
        if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
            let slurm_count = number("SLURM_ARRAY_TASK_COUNT")?
                .ok_or_else(|| env_error("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not".into()))?;
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let step = number("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
            if id < min || (id - min) % step != 0 {
                return Err(env_error(format!(
                    "SLURM_ARRAY_TASK_ID {id} is not in an array from {min} in steps of {step}"
                )));
            }
            if let Some(count) = count.filter(|&c| c != slurm_count) {
                return Err(env_error(format!(
                    "--shards {count} disagrees with the Slurm array's SLURM_ARRAY_TASK_COUNT {slurm_count}"
                )));
            }
            return Shard::new((id - min) / step, slurm_count)
                .map_err(|problem| env_error(format!("the Slurm array task: {problem}")));
        }
        if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            let count = count.ok_or_else(|| {
                env_error("JOB_COMPLETION_INDEX is set: give the Job's completions as --shards N".into())
            })?;
            return Shard::new(index, count)
                .map_err(|problem| env_error(format!("JOB_COMPLETION_INDEX of --shards {count}: {problem}")));
        }
        Err(env_error(
            "no shard in the environment: neither SLURM_ARRAY_TASK_ID (a Slurm job array) nor \
             JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) is set; give --shard I/N"
                .into(),
        ))
    }
}

/// A shard's completion marker: it ran to the end on the input of `input`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardCompletion {
    /// The shard, `I/N`.
    pub shard: String,
    /// The fingerprint of the stage's whole input when the shard ran (see
    /// [`input_fingerprint`]).
    pub input: String,
    /// The units of work (URLs, files, images) that were this shard's.
    pub items: usize,
}

/// A fingerprint of a stage's input, from the parts that decide its work, in order.
pub fn input_fingerprint<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut all = Vec::new();
    for part in parts {
        all.extend_from_slice(&(part.len() as u64).to_le_bytes());
        all.extend_from_slice(part);
    }
    sha256_hex(&all)
}

impl Shard {
    /// This shard's marker in `stage_dir`, if it finished on the input of `fingerprint`.
    pub fn completed(&self, stage_dir: &Path, fingerprint: &str) -> Option<ShardCompletion> {
        let path = self.dir(stage_dir).join(COMPLETION_FILE);
        read_json::<ShardCompletion>(&path).ok().filter(|c| c.input == fingerprint)
    }

    /// Removes this shard's marker (the shard is about to do work again).
    pub fn clear_completion(&self, stage_dir: &Path) -> Result<(), ManifestError> {
        let path = self.dir(stage_dir).join(COMPLETION_FILE);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ManifestError::io(&path, e)),
            _ => Ok(()),
        }
    }

    /// Writes this shard's marker: it ran to the end on the input of `fingerprint`.
    pub fn mark_complete(&self, stage_dir: &Path, fingerprint: &str, items: usize) -> Result<(), ManifestError> {
        let completion = ShardCompletion { shard: self.to_string(), input: fingerprint.to_owned(), items };
        write_json_atomic(&self.dir(stage_dir).join(COMPLETION_FILE), &completion)
    }
}

/// The shards of `stage_dir` a merge takes: all `count` of them (or, without `count`, of
/// the one count whose folders are there), each complete on the input of `fingerprint`.
pub fn shards_to_merge(stage_dir: &Path, count: Option<usize>, fingerprint: &str) -> Result<Vec<Shard>, ShardError> {
    let dir = stage_dir.join(SHARDS_FOLDER);
    let mut counts: Vec<usize> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let (_, n) = name.split_once("-of-")?;
            n.parse().ok()
        })
        .collect();
    counts.sort_unstable();
    counts.dedup();
    let count = match (count, counts.as_slice()) {
        (Some(count), _) => count,
        (None, []) => return Err(ShardError::NoShards { dir }),
        (None, [one]) => *one,
        (None, many) => {
            let names: Vec<String> = many.iter().map(usize::to_string).collect();
            return Err(ShardError::MixedCounts { dir, counts: names.join(" and ") });
        }
    };
    let shards: Vec<Shard> = (0..count).map(|index| Shard { index, count }).collect();
    let list = |shards: Vec<&Shard>| shards.iter().map(|s| s.index.to_string()).collect::<Vec<_>>().join(", ");
    let unfinished: Vec<&Shard> = shards.iter().filter(|s| !s.dir(stage_dir).join(COMPLETION_FILE).is_file()).collect();
    if !unfinished.is_empty() {
        return Err(ShardError::NotReady { dir, shards: list(unfinished), count, problem: "are not complete" });
    }
    let stale: Vec<&Shard> = shards.iter().filter(|s| s.completed(stage_dir, fingerprint).is_none()).collect();
    if !stale.is_empty() {
        return Err(ShardError::NotReady {
            dir,
            shards: list(stale),
            count,
            problem: "ran on other input than there is now",
        });
    }
    Ok(shards)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_is_written_i_of_n_from_zero() {
        assert_eq!("2/4".parse::<Shard>().unwrap(), Shard { index: 2, count: 4 });
        assert_eq!(Shard { index: 2, count: 4 }.to_string(), "2/4");
        for bad in ["4/4", "1", "a/4", "0/0", "-1/3", "1/100000"] {
            assert!(matches!(bad.parse::<Shard>(), Err(ShardError::BadSpec { .. })), "{bad}");
        }
    }

    #[test]
    fn every_key_has_exactly_one_shard_the_same_every_time() {
        let keys: Vec<String> = (0..500).map(|i| format!("host{i}.example")).collect();
        for count in [1, 2, 3, 7] {
            let mut per_shard = vec![0; count];
            for key in &keys {
                let owners: Vec<usize> = (0..count).filter(|&i| Shard { index: i, count }.owns(key)).collect();
                assert_eq!(owners.len(), 1, "{key} of {count}");
                assert_eq!(owners[0], Shard::of_key(key, count));
                per_shard[owners[0]] += 1;
            }
            assert!(per_shard.iter().all(|&n| n > 500 / count / 2), "spread evenly enough: {per_shard:?}");
        }
        // Fixed across versions: a cluster with machines of two builds must agree.
        assert_eq!(Shard::of_key("live.staticflickr.com", 4), Shard::of_key("live.staticflickr.com", 4));
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn slurm_arrays_and_kubernetes_indexed_jobs_name_the_shard() {
        let slurm = [("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_COUNT", "4")];
        assert_eq!(Shard::from_environment(env(&slurm), None).unwrap(), Shard { index: 3, count: 4 });
        let from_one = [
            ("SLURM_ARRAY_TASK_ID", "7"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ];
        assert_eq!(Shard::from_environment(env(&from_one), None).unwrap(), Shard { index: 3, count: 4 });
        assert!(Shard::from_environment(env(&slurm), Some(5)).unwrap_err().to_string().contains("disagrees"));
        let k8s = [("JOB_COMPLETION_INDEX", "1")];
        assert_eq!(Shard::from_environment(env(&k8s), Some(2)).unwrap(), Shard { index: 1, count: 2 });
        assert!(Shard::from_environment(env(&k8s), None).unwrap_err().to_string().contains("--shards N"));
        assert!(Shard::from_environment(env(&k8s), Some(1)).is_err());
        assert!(Shard::from_environment(env(&[]), Some(2)).unwrap_err().to_string().contains("--shard I/N"));
        let junk = [("JOB_COMPLETION_INDEX", "x")];
        assert!(Shard::from_environment(env(&junk), Some(2)).unwrap_err().to_string().contains("'x'"));
    }

    #[test]
    fn a_merge_takes_only_complete_shards_of_the_same_input() {
        let dir = tempfile::tempdir().unwrap();
        let stage = dir.path();
        assert!(matches!(shards_to_merge(stage, None, "f"), Err(ShardError::NoShards { .. })));
        let shard = |index| Shard { index, count: 3 };
        shard(0).mark_complete(stage, "f", 1).unwrap();
        std::fs::create_dir_all(shard(2).dir(stage)).unwrap();
        let err = shards_to_merge(stage, None, "f").unwrap_err().to_string();
        assert!(err.contains("shard(s) 1, 2 of 3 are not complete"), "{err}");
        shard(1).mark_complete(stage, "f", 1).unwrap();
        shard(2).mark_complete(stage, "other", 1).unwrap();
        let err = shards_to_merge(stage, None, "f").unwrap_err().to_string();
        assert!(err.contains("shard(s) 2 of 3 ran on other input"), "{err}");
        shard(2).mark_complete(stage, "f", 1).unwrap();
        assert_eq!(shards_to_merge(stage, None, "f").unwrap().len(), 3);
        Shard { index: 0, count: 2 }.mark_complete(stage, "f", 1).unwrap();
        assert!(matches!(shards_to_merge(stage, None, "f"), Err(ShardError::MixedCounts { .. })));
        assert_eq!(shards_to_merge(stage, Some(3), "f").unwrap().len(), 3);
        shard(1).clear_completion(stage).unwrap();
        assert!(shards_to_merge(stage, Some(3), "f").is_err());
    }
}
