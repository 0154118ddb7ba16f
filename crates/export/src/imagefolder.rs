//! The Hugging Face imagefolder: `<side>/<class>/<image>`, a `metadata.jsonl` per side
//! (one JSON object per image, `file_name` first), and the dataset card.

use std::collections::BTreeSet;
use std::path::Path;

use picseek_manifest::progress::Task;
use picseek_manifest::{place_file, write_atomic};

use crate::samples::Sample;
use crate::{ExportError, ExportOptions, ExportReport, Side, card, io_error};

pub(crate) fn write(
    opts: &ExportOptions,
    sides: &[(Side, Vec<Sample>)],
    progress: &dyn Task,
    report: &mut ExportReport,
) -> Result<(), ExportError> {
    for (side, samples) in sides {
        let side_dir = opts.out.join(side.name());
        let mut wanted = BTreeSet::new();
        let mut lines = String::new();
        for sample in samples {
            let dest = side_dir.join(&sample.metadata.file_name);
            wanted.insert(dest.clone());
            if same_file(&sample.path, &dest) {
                report.reused += 1;
            } else {
                let dir = dest.parent().unwrap_or(Path::new("."));
                std::fs::create_dir_all(dir).map_err(io_error(dir))?;
                place_file(&sample.path, &dest)?;
            }
            lines.push_str(&serde_json::to_string(&sample.metadata).expect("metadata serialises"));
            lines.push('\n');
            progress.advance(1);
        }
        remove_unwanted(&side_dir, &wanted)?;
        let metadata = side_dir.join("metadata.jsonl");
        write_atomic(&metadata, lines.as_bytes())?;
        report.files.push(format!("{}/metadata.jsonl", side.name()));
    }
    let card = opts.out.join("README.md");
    write_atomic(&card, card::dataset_card(opts, sides, report).as_bytes())?;
    report.files.push("README.md".into());
    Ok(())
}

/// Whether `dest` already is `src`'s content (a hard link, or a copy of the same size and
/// bytes).
fn same_file(src: &Path, dest: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(src), std::fs::metadata(dest)) {
        (Ok(a), Ok(b)) if (a.dev(), a.ino()) == (b.dev(), b.ino()) => true,
        (Ok(a), Ok(b)) if a.len() == b.len() => std::fs::read(src).ok() == std::fs::read(dest).ok(),
        _ => false,
    }
}

/// Removes images of an earlier export that this one does not hold (another licence
/// filter, a new split), and the class folders left empty.
fn remove_unwanted(side_dir: &Path, wanted: &BTreeSet<std::path::PathBuf>) -> Result<(), ExportError> {
    let Ok(classes) = std::fs::read_dir(side_dir) else { return Ok(()) };
    for class in classes.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
        for file in std::fs::read_dir(&class).map_err(io_error(&class))?.flatten().map(|e| e.path()) {
            if !wanted.contains(&file) {
                std::fs::remove_file(&file).map_err(io_error(&file))?;
            }
        }
        if std::fs::read_dir(&class).map_err(io_error(&class))?.next().is_none() {
            std::fs::remove_dir(&class).map_err(io_error(&class))?;
        }
    }
    Ok(())
}
