//! Building, storing and querying a pixel index of real image files: what a re-run
//! reuses, what it refuses, and that a stored row is what a query of the same image
//! gives.

use std::path::Path;

use image::{Rgb, RgbImage};
use picseek_embed::{EmbedError, EmbedderSettings, ModelOptions, Vector};
use picseek_manifest::DataDir;

use crate::{Index, IndexError, IndexOptions, build_index};

fn write_image(dir: &Path, class: &str, name: &str, shade: u8) {
    let folder = dir.join("train").join(class);
    std::fs::create_dir_all(&folder).unwrap();
    RgbImage::from_fn(12, 10, |x, y| Rgb([shade, (x * 20) as u8, (y * 20) as u8])).save(folder.join(name)).unwrap();
}

fn pixel_options(dir: &Path, size: u32) -> IndexOptions {
    IndexOptions {
        train: dir.join("train"),
        index_dir: dir.join("index"),
        embedder: EmbedderSettings::Pixel { size },
        graphs: Vec::new(),
        ..IndexOptions::default()
    }
}

#[test]
fn a_re_run_embeds_only_what_is_new_and_refuses_another_embedding() {
    let dir = tempfile::tempdir().unwrap();
    write_image(dir.path(), "a", "1.png", 10);
    write_image(dir.path(), "b", "2.png", 200);
    let first = build_index(&pixel_options(dir.path(), 4)).unwrap();
    assert_eq!((first.items, first.embedded, first.reused), (2, 2, 0));
    write_image(dir.path(), "b", "3.png", 120);
    let second = build_index(&pixel_options(dir.path(), 4)).unwrap();
    assert_eq!((second.items, second.embedded, second.reused), (3, 1, 2));

    let other_size = build_index(&pixel_options(dir.path(), 5));
    assert!(matches!(other_size, Err(IndexError::Mismatch { .. })), "{other_size:?}");
    let rebuilt = build_index(&IndexOptions { rebuild: true, ..pixel_options(dir.path(), 5) }).unwrap();
    assert_eq!(rebuilt.embedded, 3);
}

#[test]
fn the_stored_rows_are_what_a_query_of_the_same_image_gives() {
    let dir = tempfile::tempdir().unwrap();
    write_image(dir.path(), "a", "1.png", 10);
    write_image(dir.path(), "a", "2.png", 90);
    build_index(&pixel_options(dir.path(), 6)).unwrap();
    let index = Index::open(&dir.path().join("index")).unwrap();
    assert_eq!((index.len(), index.manifest().dimension), (2, 3 * 6 * 6));
    let embedder = index.query_embedder(&ModelOptions::default()).unwrap();
    for row in 0..index.len() {
        let path = index.item_path(row);
        assert!(path.is_file(), "{} is where the index says", path.display());
        let query = embedder.embed_image_file(&path).unwrap();
        assert_eq!(query, Vector::Pixel(index.u8_vector(row).to_vec()));
    }
    assert!(matches!(embedder.embed_text("a cat"), Err(EmbedError::NoTextEncoder { .. })));
    assert!(index.graph_candidates(picseek_manifest::Metric::Cosine, &[0.0; 3], 1, None).unwrap().is_none());
}

#[test]
fn an_index_whose_files_disagree_is_damaged_and_a_missing_one_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(Index::open(&dir.path().join("index")), Err(IndexError::Missing { .. })));
    write_image(dir.path(), "a", "1.png", 10);
    build_index(&pixel_options(dir.path(), 4)).unwrap();
    let index_dir = dir.path().join("index");
    let manifest: picseek_manifest::IndexManifest =
        picseek_manifest::read_json(&DataDir::index_manifest(&index_dir)).unwrap();
    std::fs::write(index_dir.join(&manifest.vectors.file), b"short").unwrap();
    assert!(matches!(Index::open(&index_dir), Err(IndexError::Damaged { .. })));
}
