//! Where a photo came from, and under which licence: recorded by crawl in `sources.json`
//! beside `urls.json`, and carried with the image through download, clean, split and
//! index to search results and the dataset's attribution files. Flickr's licence ids are
//! mapped to names and URLs here, once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `sources.json`: each photo URL of `urls.json` to what is known of its photo.
pub type SourcesManifest = BTreeMap<String, PhotoSource>;

/// The file name of [`SourcesManifest`], beside `urls.json`.
pub const SOURCES_FILE: &str = "sources.json";

/// Where the images of `train/` or `test/` came from (written by split, see
/// [`provenance_path`]): each image, as `<class>/<file>`, to its sources (its own first,
/// then those of the copies clean merged into it). Images it does not list have no known
/// source.
pub type FolderProvenance = BTreeMap<String, Vec<PhotoSource>>;

/// The folder, beside `train/` and `test/`, that holds their [`FolderProvenance`]: the
/// sides themselves hold only `<class>/<image>`, so that any reader that lists them as
/// classes of images (the tutorial's own code does) finds nothing else.
pub const PROVENANCE_DIR: &str = "provenance";

/// The file of the folder it was once kept in, by versions before [`PROVENANCE_DIR`]:
/// still read when no newer file exists, and removed by split.
pub const OLD_PROVENANCE_FILE: &str = "provenance.json";

/// Where the provenance of the images of `folder` (`train/`, `test/`, or any folder
/// split wrote) is kept: `provenance/<folder name>.json` beside it.
pub fn provenance_path(folder: &std::path::Path) -> std::path::PathBuf {
    let name = folder.file_name().map_or("images".into(), |n| n.to_string_lossy().into_owned());
    folder.parent().unwrap_or(std::path::Path::new("")).join(PROVENANCE_DIR).join(format!("{name}.json"))
}

/// What is known of one photo. Only what the source said is recorded: a field that is
/// `None` is unknown, never guessed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoSource {
    /// The image URL (as in `urls.json`).
    pub url: String,
    /// The photo's page, which Flickr's guidelines ask to link to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// The photo id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_id: Option<String>,
    /// The owner's NSID or path alias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The owner's name, as shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_name: Option<String>,
    /// The photo's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// When it was taken, as the source wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_taken: Option<String>,
    /// The photo's licence, when the source said which.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<License>,
    /// When only a set is known (a search filtered to several licences, whose results
    /// do not say which each has): the licence is one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub license_among: Vec<License>,
}

impl PhotoSource {
    /// A one-line credit: `"Title" by Owner (CC BY 2.0)`, with what is known.
    pub fn credit(&self) -> String {
        let mut credit = String::new();
        if let Some(title) = self.title.as_deref().filter(|t| !t.is_empty()) {
            credit.push_str(&format!("\"{title}\" "));
        }
        match (self.owner_name.as_deref(), self.owner.as_deref()) {
            (Some(name), _) | (None, Some(name)) => credit.push_str(&format!("by {name} ")),
            (None, None) => credit.push_str("owner unknown "),
        }
        credit.push_str(&format!("({})", self.license_text()));
        credit
    }

    /// The licence's name, the set it is among, or "licence unknown".
    pub fn license_text(&self) -> String {
        match (&self.license, self.license_among.as_slice()) {
            (Some(license), _) => license.name.clone(),
            (None, []) => "licence unknown".into(),
            (None, among) => format!("one of {}", among.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ")),
        }
    }
}

/// A licence, by Flickr's id, with its name and where its terms are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct License {
    /// Flickr's licence id.
    pub id: u8,
    /// Its short code (`cc-by-sa`).
    pub code: String,
    /// Its name (`CC BY-SA 2.0`).
    pub name: String,
    /// Its terms, when there is a page for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// One row of Flickr's licence table.
struct LicenseRow {
    id: u8,
    code: &'static str,
    name: &'static str,
    url: Option<&'static str>,
    commercial: bool,
    modifiable: bool,
}

/// Flickr's licences (`flickr.photos.licenses.getInfo`).
const LICENSES: [LicenseRow; 11] = [
    LicenseRow {
        id: 0,
        code: "all-rights-reserved",
        name: "All Rights Reserved",
        url: None,
        commercial: false,
        modifiable: false,
    },
    LicenseRow {
        id: 1,
        code: "cc-by-nc-sa",
        name: "CC BY-NC-SA 2.0",
        url: Some("https://creativecommons.org/licenses/by-nc-sa/2.0/"),
        commercial: false,
        modifiable: true,
    },
    LicenseRow {
        id: 2,
        code: "cc-by-nc",
        name: "CC BY-NC 2.0",
        url: Some("https://creativecommons.org/licenses/by-nc/2.0/"),
        commercial: false,
        modifiable: true,
    },
    LicenseRow {
        id: 3,
        code: "cc-by-nc-nd",
        name: "CC BY-NC-ND 2.0",
        url: Some("https://creativecommons.org/licenses/by-nc-nd/2.0/"),
        commercial: false,
        modifiable: false,
    },
    LicenseRow {
        id: 4,
        code: "cc-by",
        name: "CC BY 2.0",
        url: Some("https://creativecommons.org/licenses/by/2.0/"),
        commercial: true,
        modifiable: true,
    },
    LicenseRow {
        id: 5,
        code: "cc-by-sa",
        name: "CC BY-SA 2.0",
        url: Some("https://creativecommons.org/licenses/by-sa/2.0/"),
        commercial: true,
        modifiable: true,
    },
    LicenseRow {
        id: 6,
        code: "cc-by-nd",
        name: "CC BY-ND 2.0",
        url: Some("https://creativecommons.org/licenses/by-nd/2.0/"),
        commercial: true,
        modifiable: false,
    },
    LicenseRow {
        id: 7,
        code: "no-known-copyright",
        name: "No known copyright restrictions",
        url: Some("https://www.flickr.com/commons/usage/"),
        commercial: true,
        modifiable: true,
    },
    LicenseRow {
        id: 8,
        code: "us-gov",
        name: "United States Government Work",
        url: Some("http://www.usa.gov/copyright.shtml"),
        commercial: true,
        modifiable: true,
    },
    LicenseRow {
        id: 9,
        code: "cc0",
        name: "CC0 1.0",
        url: Some("https://creativecommons.org/publicdomain/zero/1.0/"),
        commercial: true,
        modifiable: true,
    },
    LicenseRow {
        id: 10,
        code: "pdm",
        name: "Public Domain Mark 1.0",
        url: Some("https://creativecommons.org/publicdomain/mark/1.0/"),
        commercial: true,
        modifiable: true,
    },
];

impl License {
    /// Flickr's licence `id`, or `None` for an id it does not have.
    pub fn from_id(id: u8) -> Option<Self> {
        LICENSES.iter().find(|row| row.id == id).map(|row| Self {
            id: row.id,
            code: row.code.into(),
            name: row.name.into(),
            url: row.url.map(str::to_owned),
        })
    }

    /// Parses a licence filter: ids (`4`), codes (`cc-by`, `cc0`, `pdm`, ...) and groups
    /// (`commercial`: commercial use allowed; `modifiable`: modifications allowed;
    /// `open`: both; `cc`: every Creative Commons licence), separated by commas. The
    /// ids, sorted and without repeats.
    pub fn parse_filter(list: &str) -> Result<Vec<u8>, String> {
        let mut ids = Vec::new();
        for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let lower = part.to_ascii_lowercase();
            let group: Vec<u8> = match lower.as_str() {
                "commercial" => LICENSES.iter().filter(|r| r.commercial).map(|r| r.id).collect(),
                "modifiable" => LICENSES.iter().filter(|r| r.modifiable).map(|r| r.id).collect(),
                "open" => LICENSES.iter().filter(|r| r.commercial && r.modifiable).map(|r| r.id).collect(),
                "cc" => LICENSES.iter().filter(|r| r.code.starts_with("cc")).map(|r| r.id).collect(),
                _ => match lower.parse::<u8>().ok().filter(|id| Self::from_id(*id).is_some()) {
                    Some(id) => vec![id],
                    None => match LICENSES.iter().find(|r| r.code == lower) {
                        Some(row) => vec![row.id],
                        None => {
                            let codes: Vec<&str> = LICENSES.iter().map(|r| r.code).collect();
                            return Err(format!(
                                "{part:?} is not a licence: give ids 0 to 10, or {}, or the groups commercial, modifiable, open, cc",
                                codes.join(", ")
                            ));
                        }
                    },
                },
            };
            ids.extend(group);
        }
        if ids.is_empty() {
            return Err("names no licence".into());
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licence_filters_take_ids_codes_and_groups() {
        assert_eq!(License::parse_filter("cc0,pdm").unwrap(), vec![9, 10]);
        assert_eq!(License::parse_filter("4, cc-by-sa,4").unwrap(), vec![4, 5]);
        assert_eq!(License::parse_filter("commercial").unwrap(), vec![4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(License::parse_filter("modifiable").unwrap(), vec![1, 2, 4, 5, 7, 8, 9, 10]);
        assert_eq!(License::parse_filter("open").unwrap(), vec![4, 5, 7, 8, 9, 10]);
        assert!(License::parse_filter("gpl").unwrap_err().contains("cc-by"));
        assert!(License::parse_filter("11").is_err());
        assert!(License::parse_filter(",").is_err());
    }

    #[test]
    fn credits_say_what_is_known_and_no_more() {
        let source = PhotoSource {
            url: "u".into(),
            title: Some("Fox".into()),
            owner_name: Some("Ann".into()),
            license: License::from_id(4),
            ..PhotoSource::default()
        };
        assert_eq!(source.credit(), "\"Fox\" by Ann (CC BY 2.0)");
        let bare = PhotoSource { url: "u".into(), ..PhotoSource::default() };
        assert_eq!(bare.credit(), "owner unknown (licence unknown)");
        let among =
            PhotoSource { license_among: vec![License::from_id(9).unwrap(), License::from_id(10).unwrap()], ..bare };
        assert_eq!(among.license_text(), "one of CC0 1.0, Public Domain Mark 1.0");
    }
}
