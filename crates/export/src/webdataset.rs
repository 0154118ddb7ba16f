//! WebDataset tar shards: `<side>-000000.tar`, … of at most `shard_size` samples, each
//! `<key>.jpg|png` (the image's bytes), `<key>.cls` (its class's number) and `<key>.json`
//! (its metadata); `index.json` names the shards and the classes.

use std::collections::BTreeMap;

use picseek_manifest::progress::Task;
use picseek_manifest::{TEMPORARY_PREFIX, read_json, write_json_atomic};
use serde::{Deserialize, Serialize};

use crate::samples::Sample;
use crate::{ExportError, ExportOptions, ExportReport, Side, io_error};

/// `index.json`: the classes (a `.cls` is a position in this list) and each side's shards.
#[derive(Default, Serialize, Deserialize)]
struct ShardIndex {
    classes: Vec<String>,
    sides: BTreeMap<String, Vec<ShardRecord>>,
}

/// One shard: its file, and the SHA-256 of each sample in order (what a re-run compares
/// to keep a shard it would write again identically).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
struct ShardRecord {
    file: String,
    samples: Vec<String>,
}

pub(crate) fn write(
    opts: &ExportOptions,
    sides: &[(Side, Vec<Sample>)],
    progress: &dyn Task,
    report: &mut ExportReport,
) -> Result<(), ExportError> {
    let index_path = opts.out.join("index.json");
    let earlier: ShardIndex = read_json(&index_path).unwrap_or_default();
    let mut classes: Vec<String> = sides.iter().flat_map(|(_, s)| s.iter().map(|s| s.metadata.label.clone())).collect();
    classes.sort();
    classes.dedup();
    let mut index = ShardIndex { classes: classes.clone(), sides: BTreeMap::new() };
    for (side, samples) in sides {
        let mut shards = Vec::new();
        for (number, chunk) in samples.chunks(opts.shard_size).enumerate() {
            let record = ShardRecord {
                file: format!("{}-{number:06}.tar", side.name()),
                samples: chunk.iter().map(|s| s.metadata.sha256.clone()).collect(),
            };
            let path = opts.out.join(&record.file);
            let unchanged = earlier.classes == classes
                && earlier.sides.get(side.name()).is_some_and(|s| s.contains(&record))
                && path.is_file();
            if unchanged {
                report.reused += 1;
            } else {
                write_shard(opts, &record.file, number * opts.shard_size, chunk, &classes)?;
            }
            progress.advance(chunk.len() as u64);
            report.files.push(record.file.clone());
            shards.push(record);
        }
        index.sides.insert(side.name().to_owned(), shards);
    }
    // Shards of an earlier, larger export are not this one's.
    for record in earlier.sides.values().flatten() {
        if !report.files.contains(&record.file) {
            let _ = std::fs::remove_file(opts.out.join(&record.file));
        }
    }
    write_json_atomic(&index_path, &index)?;
    report.files.push("index.json".into());
    Ok(())
}

/// Writes one shard under a temporary name and renames it when whole.
fn write_shard(
    opts: &ExportOptions,
    name: &str,
    first_key: usize,
    samples: &[Sample],
    classes: &[String],
) -> Result<(), ExportError> {
    let path = opts.out.join(name);
    let temporary = opts.out.join(format!("{TEMPORARY_PREFIX}{name}"));
    let file = std::fs::File::create(&temporary).map_err(io_error(&temporary))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    let mut append = |entry: String, bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, &entry, bytes).map_err(io_error(&temporary))
    };
    for (offset, sample) in samples.iter().enumerate() {
        let key = format!("{:06}", first_key + offset);
        let extension = sample.path.extension().map_or("jpg".into(), |e| e.to_string_lossy().to_lowercase());
        let extension = if extension == "jpeg" { "jpg".to_owned() } else { extension };
        let image = std::fs::read(&sample.path).map_err(io_error(&sample.path))?;
        append(format!("{key}.{extension}"), &image)?;
        let class = classes.iter().position(|c| *c == sample.metadata.label).unwrap_or_default();
        append(format!("{key}.cls"), class.to_string().as_bytes())?;
        append(format!("{key}.json"), &serde_json::to_vec(&sample.metadata).expect("metadata serialises"))?;
    }
    let writer = tar.into_inner().map_err(io_error(&temporary))?;
    let file = writer.into_inner().map_err(|e| ExportError::Io { path: temporary.clone(), source: e.into_error() })?;
    file.sync_all().map_err(io_error(&temporary))?;
    std::fs::rename(&temporary, &path).map_err(io_error(&path))
}
