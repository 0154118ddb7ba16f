//! The dataset's credits: where each image of `train/` and `test/` came from, from the
//! clean manifest (each kept image's own source, then those of the copies clean merged
//! into it). Written three ways: `provenance/train.json` and `provenance/test.json` beside
//! the sides (what index reads; the sides hold only `<class>/<image>`),
//! `attribution.json` (per image: path, class, split, sources) and `CREDITS.md` (a page
//! grouped by licence) beside `split.json`. An image without a known source is listed as
//! of unknown licence, never guessed.

use std::collections::BTreeMap;
use std::path::Path;

use picseek_manifest::{
    CleanManifest, CleanStatus, FolderProvenance, ManifestError, PhotoSource, SplitManifest, provenance_path,
    read_json, write_atomic, write_json_atomic,
};
use serde::Serialize;

/// `attribution.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Attribution {
    /// Every image of the split.
    pub images: Vec<AttributedImage>,
    /// Images per licence (by name; `licence unknown` for the rest).
    pub licenses: BTreeMap<String, usize>,
}

/// One image of the split and its sources.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttributedImage {
    /// `train/<class>/<file>` or `test/<class>/<file>`.
    pub path: String,
    /// Its class.
    pub class: String,
    /// `train` or `test`.
    pub split: &'static str,
    /// Its licence, as [`PhotoSource::license_text`] says it.
    pub license: String,
    /// Where it came from: its own source first (empty when unknown).
    pub sources: Vec<PhotoSource>,
}

/// The sources of each kept image of the clean folder `input`, as `<class>/<file>`.
fn clean_sources(input: &Path) -> FolderProvenance {
    let path = picseek_manifest::DataDir::stage_manifest(input);
    let records: CleanManifest = match read_json(&path) {
        Ok(records) => records,
        Err(e) => {
            if path.exists() {
                tracing::warn!("{e}; the split's images get no sources");
            }
            return FolderProvenance::new();
        }
    };
    let mut sources = FolderProvenance::new();
    for record in records.iter().filter(|r| r.status == CleanStatus::Kept) {
        if let (Some(path), Some(source)) = (&record.path, &record.provenance) {
            sources.entry(path.clone()).or_default().push(source.clone());
        }
    }
    for record in records.iter().filter(|r| r.status == CleanStatus::Rejected) {
        let original = record.reason.as_ref().and_then(|r| r.duplicate_of());
        if let (Some(original), Some(source)) = (original, &record.provenance)
            && let Some(kept) = sources.get_mut(original)
            && !kept.iter().any(|s| s.url == source.url)
        {
            kept.push(source.clone());
        }
    }
    sources
}

/// Writes the credits of `manifest`'s images (see the module documentation).
pub(crate) fn write_credits(
    input: &Path,
    sides: [(&'static str, &Path); 2],
    manifest: &SplitManifest,
    out_dir: &Path,
) -> Result<Attribution, ManifestError> {
    let sources = clean_sources(input);
    let mut attribution = Attribution::default();
    for (side, dir) in sides {
        let mut folder = FolderProvenance::new();
        for (class, split) in &manifest.classes {
            let names = if side == "train" { &split.train } else { &split.test };
            for name in names {
                let key = format!("{class}/{name}");
                let image_sources = sources.get(&key).cloned().unwrap_or_default();
                let license = image_sources.first().map_or("licence unknown".to_owned(), PhotoSource::license_text);
                *attribution.licenses.entry(license.clone()).or_default() += 1;
                if !image_sources.is_empty() {
                    folder.insert(key.clone(), image_sources.clone());
                }
                let side_name = dir.file_name().map_or(side.into(), |n| n.to_string_lossy().into_owned());
                attribution.images.push(AttributedImage {
                    path: format!("{side_name}/{key}"),
                    class: class.clone(),
                    split: side,
                    license,
                    sources: image_sources,
                });
            }
        }
        write_json_atomic(&provenance_path(dir), &folder)?;
    }
    write_json_atomic(&picseek_manifest::DataDir::attribution(out_dir), &attribution)?;
    write_atomic(&picseek_manifest::DataDir::credits_page(out_dir), credits_page(&attribution).as_bytes())?;
    Ok(attribution)
}

/// The credits as a Markdown page, one section per licence, unknown last.
fn credits_page(attribution: &Attribution) -> String {
    let known: usize = attribution.licenses.iter().filter(|(l, _)| *l != "licence unknown").map(|(_, n)| n).sum();
    let mut page = format!(
        "# Credits\n\n{} images: {known} with a known licence (or set of licences), {} of unknown licence.\n\
         Each photo belongs to its owner; check its licence on its page before you publish it.\n",
        attribution.images.len(),
        attribution.images.len() - known
    );
    let mut sections: Vec<&String> = attribution.licenses.keys().collect();
    sections.sort_by_key(|l| (*l == "licence unknown", l.to_string()));
    for license in sections {
        let images: Vec<&AttributedImage> = attribution.images.iter().filter(|i| &i.license == license).collect();
        let url = images.iter().find_map(|i| i.sources.first()?.license.as_ref()?.url.clone());
        match url {
            Some(url) => page.push_str(&format!("\n## {license} ({url})\n\n")),
            None => page.push_str(&format!("\n## {}\n\n", capitalised(license))),
        }
        for image in images {
            match image.sources.split_first() {
                None => page.push_str(&format!("- `{}`: source unknown\n", image.path)),
                Some((first, others)) => {
                    let page_link = first.page.as_deref().map_or(first.url.clone(), str::to_owned);
                    page.push_str(&format!("- `{}`: {}, <{page_link}>\n", image.path, first.credit()));
                    for other in others {
                        let link = other.page.as_deref().unwrap_or(&other.url);
                        page.push_str(&format!("  - also published: {}, <{link}>\n", other.credit()));
                    }
                }
            }
        }
    }
    page
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or(String::new(), |c| c.to_uppercase().chain(chars).collect())
}
