//! The tutorial's pixel embedder: each image resized to a square, its RGB bytes the
//! vector.

use std::path::Path;

use picseek_imaging::{ImageError, decode, read_image_file, resize_exact, to_rgb_on_white};

/// The weight-free embedder: an image's RGB pixels after resizing to `size` x `size`,
/// kept as `u8` (the score functions read them as values in [0, 1]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelEmbedder {
    size: u32,
    max_decode_bytes: u64,
}

impl PixelEmbedder {
    /// The largest side accepted (a 4096 x 4096 row is 50 MB).
    pub const MAX_SIZE: u32 = 4096;

    /// An embedder to `size` x `size` pixels (1 to [`MAX_SIZE`](Self::MAX_SIZE), checked
    /// by the caller), decoding within `max_decode_bytes`.
    pub fn new(size: u32, max_decode_bytes: u64) -> Self {
        Self { size, max_decode_bytes }
    }

    /// The side of the square images are resized to.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Values per vector: `size * size * 3`.
    pub fn dimension(&self) -> usize {
        let side = self.size as usize;
        side * side * 3
    }

    /// How images are turned into vectors, as recorded in `index.json`.
    pub fn preprocessing(&self) -> String {
        let s = self.size;
        format!("decode;exif-orientation;rgb;alpha-onto-white;resize-exact-{s}x{s}-catmull-rom;u8")
    }

    /// Embeds an image already read into memory (`path` names it in errors).
    pub fn embed_bytes(&self, path: &Path, bytes: &[u8]) -> Result<Vec<u8>, ImageError> {
        let rgb = to_rgb_on_white(decode(path, bytes, self.max_decode_bytes)?.image);
        Ok(resize_exact(&rgb, self.size, self.size).into_raw())
    }

    /// Reads and embeds an image file.
    pub fn embed_file(&self, path: &Path) -> Result<Vec<u8>, ImageError> {
        self.embed_bytes(path, &read_image_file(path)?)
    }
}
