//! The images of a side and what is known of each: its label, its photo's provenance
//! (split's `provenance/<side>.json`), clean's quality flags, its SHA-256 and size.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use picseek_imaging::list_class_images;
use picseek_manifest::{CleanManifest, DataDir, FolderProvenance, PhotoSource, provenance_path, read_json, sha256_hex};
use serde::Serialize;

use crate::{ExportError, Side, io_error};

/// One image to export.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The side it is on.
    pub side: Side,
    /// The image file.
    pub path: PathBuf,
    /// Its metadata, as every format writes it.
    pub metadata: SampleMetadata,
}

/// What an export says of one image (a line of `metadata.jsonl`, a WebDataset `.json`).
#[derive(Debug, Clone, Serialize)]
pub struct SampleMetadata {
    /// `<class>/<file>`, relative to its side.
    pub file_name: String,
    /// Its class.
    pub label: String,
    /// The photo's URL, page, owner, owner's name and title, where known.
    pub source_url: Option<String>,
    /// The photo's page.
    pub page: Option<String>,
    /// The owner's id.
    pub owner: Option<String>,
    /// The owner's name.
    pub owner_name: Option<String>,
    /// The photo's title.
    pub title: Option<String>,
    /// The licence's short code (`cc-by`), name and terms.
    pub license: Option<String>,
    /// The licence's name.
    pub license_name: Option<String>,
    /// The licence's terms.
    pub license_url: Option<String>,
    /// The image file's SHA-256.
    pub sha256: String,
    /// Its width in pixels.
    pub width: u32,
    /// Its height in pixels.
    pub height: u32,
    /// clean's quality flags (`blurry`, `dark`, …).
    pub quality_flags: Vec<String>,
}

/// clean's quality flags of each kept image, by `<class>/<file>` (none without clean's
/// manifest): read once for every side.
pub(crate) fn quality_flags(data: &DataDir) -> Result<BTreeMap<String, Vec<String>>, ExportError> {
    let clean: CleanManifest = read_if_there(&DataDir::stage_manifest(&data.clean()))?.unwrap_or_default();
    Ok(clean
        .into_iter()
        .filter_map(|r| {
            let flags = r.quality?.flags.iter().map(|f| f.name().to_owned()).collect();
            Some((r.path?, flags))
        })
        .collect())
}

/// The images of `side` (in `dir`) that pass the licence filter, and how many were left
/// out, by licence code (`unknown` for none).
pub(crate) fn collect(
    flags: &BTreeMap<String, Vec<String>>,
    side: Side,
    dir: &Path,
    licenses: &[u8],
    include_unknown: bool,
) -> Result<(Vec<Sample>, BTreeMap<String, usize>), ExportError> {
    let provenance: FolderProvenance = read_if_there(&provenance_path(dir))?.unwrap_or_default();
    let listing = list_class_images(dir)?;
    let mut kept = Vec::new();
    let mut left_out: BTreeMap<String, usize> = BTreeMap::new();
    for class in &listing.classes {
        for path in &class.files {
            let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            let file_name = format!("{}/{file}", class.class);
            let source: Option<&PhotoSource> = provenance.get(&file_name).and_then(|s| s.first());
            let license = source.and_then(|s| s.license.as_ref());
            let keep = match license {
                Some(l) => licenses.is_empty() || licenses.contains(&l.id),
                None => include_unknown,
            };
            if !keep {
                *left_out.entry(license.map_or("unknown".into(), |l| l.code.clone())).or_default() += 1;
                continue;
            }
            let bytes = std::fs::read(path).map_err(io_error(path))?;
            let (width, height) = image::ImageReader::new(std::io::Cursor::new(&bytes))
                .with_guessed_format()
                .ok()
                .and_then(|r| r.into_dimensions().ok())
                .unwrap_or_default();
            let metadata = SampleMetadata {
                quality_flags: flags.get(&file_name).cloned().unwrap_or_default(),
                file_name,
                label: class.class.clone(),
                source_url: source.map(|s| s.url.clone()),
                page: source.and_then(|s| s.page.clone()),
                owner: source.and_then(|s| s.owner.clone()),
                owner_name: source.and_then(|s| s.owner_name.clone()),
                title: source.and_then(|s| s.title.clone()),
                license: license.map(|l| l.code.clone()),
                license_name: license.map(|l| l.name.clone()),
                license_url: license.and_then(|l| l.url.clone()),
                sha256: sha256_hex(&bytes),
                width,
                height,
            };
            kept.push(Sample { side, path: path.clone(), metadata });
        }
    }
    Ok((kept, left_out))
}

fn read_if_there<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, ExportError> {
    if path.is_file() { Ok(Some(read_json(path)?)) } else { Ok(None) }
}
