//! Listing folders of images: `<class>/<image>` one level deep (split), or any layout
//! with the class of each image from [`ClassNaming`] (clean, index).

use std::path::{Path, PathBuf};

use picseek_manifest::{ClassNaming, class_name};

use crate::ImageError;

/// The files of one class folder, sorted by name.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassImages {
    /// The class (its folder name).
    pub class: String,
    /// Its image files, sorted.
    pub files: Vec<PathBuf>,
}

/// A `<class>/<image>` folder: its classes (sorted), and what could not be listed.
#[derive(Debug, Default)]
pub struct ClassListing {
    /// The class folders, sorted by name.
    pub classes: Vec<ClassImages>,
    /// Paths that could not be read or do not fit the layout, with the reason.
    pub problems: Vec<(PathBuf, String)>,
}

fn is_hidden(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'))
}

/// Lists `dir` as `<class>/<image>`: every non-hidden sub-folder is a class and every
/// non-hidden file in it a candidate image (decoding decides whether it is one). A stage's
/// `*.json` manifest directly in `dir` is expected and ignored; other files directly in
/// `dir`, folders inside class folders (their images are not used: a class is one level
/// deep) and unreadable class folders are reported in `problems`.
pub fn list_class_images(dir: &Path) -> Result<ClassListing, ImageError> {
    let unreadable = |path: &Path, source| ImageError::Unreadable { path: path.to_owned(), source };
    let mut listing = ClassListing::default();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| unreadable(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !is_hidden(p))
        .collect();
    entries.sort();
    for path in entries {
        if !path.is_dir() {
            if path.extension().is_some_and(|e| e == "json") {
                continue;
            }
            listing.problems.push((path, "not inside a class folder".into()));
            continue;
        }
        let class = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match std::fs::read_dir(&path) {
            Ok(files) => {
                let (mut nested, mut files): (Vec<PathBuf>, Vec<PathBuf>) =
                    files.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| !is_hidden(p)).partition(|p| p.is_dir());
                files.sort();
                nested.sort();
                for folder in nested {
                    let reason = format!(
                        "a folder inside class {class}: its images are not used (a class is one folder deep; move them up or make it a class of its own)"
                    );
                    listing.problems.push((folder, reason));
                }
                listing.classes.push(ClassImages { class, files });
            }
            Err(e) => listing.problems.push((path, format!("cannot read class folder: {e}"))),
        }
    }
    Ok(listing)
}

/// Files that sit beside images in folders of one's own and are never images: skipped
/// without a word (a stage's manifest, credits, notes, editors' sidecars).
pub const NOT_IMAGES: &[&str] = &["json", "md", "txt", "xmp", "aae", "ini", "db", "csv"];

/// Lists every image file under `dir`, at any depth, with the class `naming` gives it:
/// a `<class>/<image>` folder, a flat folder and a nested tree (`2024/summer/`) alike.
/// Hidden files and folders, and files that are never images ([`NOT_IMAGES`]), are
/// passed over; symbolic links to folders are not followed (no loops). Classes are
/// sorted by name, their files by path. What cannot be read is in `problems`.
pub fn list_images(dir: &Path, naming: ClassNaming) -> Result<ClassListing, ImageError> {
    let unreadable = |path: &Path, source| ImageError::Unreadable { path: path.to_owned(), source };
    std::fs::read_dir(dir).map_err(|e| unreadable(dir, e))?;
    let own_name = std::path::absolute(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "images".into());
    let mut by_class: std::collections::BTreeMap<String, Vec<PathBuf>> = std::collections::BTreeMap::new();
    let mut problems = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) => {
                problems.push((folder, format!("cannot read folder: {e}")));
                continue;
            }
        };
        for path in entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| !is_hidden(p)) {
            let is_link = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
            if path.is_dir() {
                if !is_link {
                    folders.push(path);
                }
                continue;
            }
            let extension = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
            if extension.as_deref().is_some_and(|e| NOT_IMAGES.contains(&e)) {
                continue;
            }
            let within = path.strip_prefix(dir).unwrap_or(&path);
            let folders_above: Vec<String> = within
                .parent()
                .map(|p| p.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            let class = match naming {
                ClassNaming::Folder => folders_above.last().cloned(),
                ClassNaming::Top => folders_above.first().cloned(),
                ClassNaming::None => None,
            }
            .unwrap_or_else(|| own_name.clone());
            by_class.entry(class_name(&class)).or_default().push(path);
        }
    }
    let classes = by_class
        .into_iter()
        .map(|(class, mut files)| {
            files.sort();
            ClassImages { class, files }
        })
        .collect();
    problems.sort();
    Ok(ClassListing { classes, problems })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_classes_and_files_sorted_and_reports_strays() {
        let dir = tempfile::tempdir().unwrap();
        for (class, file) in [("b", "2.png"), ("b", "1.png"), ("a", "x.jpg"), ("a", ".hidden")] {
            std::fs::create_dir_all(dir.path().join(class)).unwrap();
            std::fs::write(dir.path().join(class).join(file), b"x").unwrap();
        }
        std::fs::create_dir_all(dir.path().join("empty")).unwrap();
        std::fs::create_dir_all(dir.path().join("a/nested")).unwrap();
        std::fs::write(dir.path().join("stray.jpg"), b"x").unwrap();
        std::fs::write(dir.path().join("manifest.json"), b"{}").unwrap();
        let listing = list_class_images(dir.path()).unwrap();
        let names: Vec<(&str, Vec<String>)> = listing
            .classes
            .iter()
            .map(|c| {
                (
                    c.class.as_str(),
                    c.files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect(),
                )
            })
            .collect();
        assert_eq!(
            names,
            vec![("a", vec!["x.jpg".into()]), ("b", vec!["1.png".into(), "2.png".into()]), ("empty", vec![])]
        );
        assert_eq!(listing.problems.len(), 2);
        assert!(listing.problems[0].0.ends_with("a/nested") && listing.problems[0].1.contains("not used"));
        assert!(listing.problems[1].0.ends_with("stray.jpg"));
    }

    #[test]
    fn a_missing_folder_is_an_error_naming_it() {
        let err = list_class_images(Path::new("/nonexistent/picseek")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/picseek"));
    }

    #[test]
    fn any_layout_is_listed_with_the_classes_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("photos");
        for file in ["beach.jpg", "2024/summer/a.jpg", "2024/summer/b.png", "2024/winter/c.jpg", "cats/d.jpg"] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"x").unwrap();
        }
        std::fs::write(root.join("2024/summer/notes.txt"), b"x").unwrap();
        std::fs::write(root.join("2024/.hidden.jpg"), b"x").unwrap();
        let classes = |naming| -> Vec<(String, usize)> {
            list_images(&root, naming).unwrap().classes.into_iter().map(|c| (c.class, c.files.len())).collect()
        };
        let owned = |v: &[(&str, usize)]| v.iter().map(|(c, n)| (c.to_string(), *n)).collect::<Vec<_>>();
        assert_eq!(classes(ClassNaming::Folder), owned(&[("cats", 1), ("photos", 1), ("summer", 2), ("winter", 1)]));
        assert_eq!(classes(ClassNaming::Top), owned(&[("2024", 3), ("cats", 1), ("photos", 1)]));
        assert_eq!(classes(ClassNaming::None), owned(&[("photos", 5)]));
    }
}
