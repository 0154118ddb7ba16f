//! Thumbnails for the page's result cards: made once per image and kept on disk, named
//! by the image's SHA-256, so a re-indexed or replaced image never shows a stale one.

use std::path::{Path, PathBuf};

use picseek_imaging::{
    DEFAULT_MAX_DECODE_BYTES, ImageError, decode, read_image_file, resize_exact, to_rgb_on_checkerboard,
};

/// The longest side of a thumbnail.
pub(crate) const THUMBNAIL_SIDE: u32 = 256;

/// The thumbnail cache, in one folder.
pub(crate) struct Thumbnails {
    dir: PathBuf,
}

impl Thumbnails {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The JPEG thumbnail of the image at `path`, whose bytes have `sha256`: from the
    /// cache, or made and (atomically) cached. A cache that cannot be written (a
    /// read-only index) only costs making it again.
    pub(crate) fn get(&self, path: &Path, sha256: &str) -> Result<Vec<u8>, ImageError> {
        // "c": drawn on a checkerboard (thumbnails cached before were drawn on white).
        let cached = self.dir.join(format!("{sha256}-c.jpg"));
        if let Ok(bytes) = std::fs::read(&cached) {
            return Ok(bytes);
        }
        let decoded = decode(path, &read_image_file(path)?, DEFAULT_MAX_DECODE_BYTES)?.image;
        // Squares of about 12 px once the thumbnail is made.
        let square = decoded.width().max(decoded.height()) * 12 / THUMBNAIL_SIDE;
        let image = to_rgb_on_checkerboard(decoded, square);
        let scale = f64::from(THUMBNAIL_SIDE) / f64::from(image.width().max(image.height()));
        let small = if scale < 1.0 {
            let w = ((f64::from(image.width()) * scale).round() as u32).max(1);
            let h = ((f64::from(image.height()) * scale).round() as u32).max(1);
            resize_exact(&image, w, h)
        } else {
            image
        };
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85)
            .encode_image(&small)
            .map_err(|e| ImageError::Undecodable { path: path.to_owned(), reason: e.to_string() })?;
        if let Err(e) = picseek_manifest::write_atomic(&cached, &jpeg) {
            tracing::debug!("not caching the thumbnail: {e}");
        }
        Ok(jpeg)
    }
}
