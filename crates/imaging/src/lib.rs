//! Image handling shared by the stages that look at pixels (clean, index, search).
//!
//! Decoding is bounded by a memory limit so a huge or hostile file is refused as
//! [`ImageError::TooLarge`] instead of exhausting memory; every decoded image becomes
//! RGB with transparent pixels composited onto white (plain `to_rgb8` makes them black)
//! and its EXIF orientation applied. Also lists `<class>/<image>` folders.

mod folder;
mod pillow_resample;

pub use folder::{ClassImages, ClassListing, NOT_IMAGES, list_class_images, list_images};
pub use pillow_resample::{PillowFilter, resize_like_pillow, resize_nearest};

use std::io::Cursor;
use std::path::{Path, PathBuf};

use fast_image_resize::images::{Image as ResizeImage, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

/// The decode memory limit used unless a stage is told otherwise (image's own default).
pub const DEFAULT_MAX_DECODE_BYTES: u64 = 512 * 1024 * 1024;

/// Why an image file could not be used; always names the file.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: cannot read: {source}")]
    /// The file cannot be read.
    Unreadable {
        /// The file.
        path: PathBuf,
        #[source]
        /// The operating system's error.
        source: std::io::Error,
    },
    #[error("{path}: empty file")]
    /// The file is empty.
    Empty {
        /// The file.
        path: PathBuf,
    },
    #[error("{path}: not a decodable image: {reason}")]
    /// The bytes are not an image this build decodes.
    Undecodable {
        /// The file.
        path: PathBuf,
        /// The decoder's message.
        reason: String,
    },
    #[error("{path}: too large to decode safely: {reason}")]
    /// Decoding would need more memory than the limit allows.
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size, against the limit.
        reason: String,
    },
}

impl ImageError {
    /// The short machine-readable reason recorded in manifests.
    pub fn reason_code(&self) -> &'static str {
        match self {
            Self::Unreadable { .. } => "unreadable",
            Self::Empty { .. } => "empty",
            Self::Undecodable { .. } => "undecodable",
            Self::TooLarge { .. } => "too_large",
        }
    }
}

/// Reads an image file's bytes, refusing empty files.
pub fn read_image_file(path: &Path) -> Result<Vec<u8>, ImageError> {
    // Opening a FIFO or a device would block or never end: only regular files are read.
    let unreadable = |source| ImageError::Unreadable { path: path.to_owned(), source };
    let metadata = std::fs::metadata(path).map_err(unreadable)?;
    if !metadata.is_file() {
        return Err(unreadable(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file")));
    }
    let bytes = std::fs::read(path).map_err(|source| ImageError::Unreadable { path: path.to_owned(), source })?;
    if bytes.is_empty() {
        return Err(ImageError::Empty { path: path.to_owned() });
    }
    Ok(bytes)
}

/// A decoded image and what decoding it involved.
#[derive(Debug)]
pub struct Decoded {
    /// The decoded image, EXIF orientation applied.
    pub image: DynamicImage,
    /// The format its bytes are in.
    pub format: ImageFormat,
    /// Whether an EXIF orientation turned or flipped the stored pixels.
    pub reoriented: bool,
}

/// Fully decodes `bytes` (the content of `path`, named in errors) within
/// `max_decode_bytes` of memory, applying the EXIF orientation. Animations give their
/// first frame.
pub fn decode(path: &Path, bytes: &[u8], max_decode_bytes: u64) -> Result<Decoded, ImageError> {
    let classify = |e: image::ImageError| match e {
        image::ImageError::Limits(l) => ImageError::TooLarge { path: path.to_owned(), reason: l.to_string() },
        other => ImageError::Undecodable { path: path.to_owned(), reason: other.to_string() },
    };
    let mut limits = Limits::default();
    limits.max_alloc = Some(max_decode_bytes);
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImageError::Undecodable { path: path.to_owned(), reason: e.to_string() })?;
    let Some(format) = reader.format() else {
        return Err(ImageError::Undecodable { path: path.to_owned(), reason: "unknown image format".into() });
    };
    reader.limits(limits.clone());
    let mut decoder = reader.into_decoder().map_err(classify)?;
    // `into_decoder` hands the limits to the decoder but, unlike `decode`, does not
    // check the output buffer against them.
    limits.reserve(decoder.total_bytes()).map_err(classify)?;
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(classify)?;
    image.apply_orientation(orientation);
    Ok(Decoded { image, format, reoriented: orientation != image::metadata::Orientation::NoTransforms })
}

/// Reads and decodes an image file to RGB (see [`decode`] and [`to_rgb_on_white`]).
pub fn decode_rgb_file(path: &Path, max_decode_bytes: u64) -> Result<RgbImage, ImageError> {
    let bytes = read_image_file(path)?;
    Ok(to_rgb_on_white(decode(path, &bytes, max_decode_bytes)?.image))
}

/// Converts any colour type to 8-bit RGB, compositing transparent pixels onto white.
pub fn to_rgb_on_white(img: DynamicImage) -> RgbImage {
    to_rgb_over(img, |_, _| 255)
}

/// Converts any colour type to 8-bit RGB for people to look at: transparent pixels on
/// a grey checkerboard of `square`-pixel squares, as image editors show them, so that
/// white art on transparency stays visible.
pub fn to_rgb_on_checkerboard(img: DynamicImage, square: u32) -> RgbImage {
    let square = square.max(1);
    to_rgb_over(img, |x, y| if (x / square + y / square).is_multiple_of(2) { 204 } else { 153 })
}

/// 8-bit RGB with transparent pixels composited onto the grey level `background(x, y)`.
fn to_rgb_over(img: DynamicImage, background: impl Fn(u32, u32) -> u8) -> RgbImage {
    if !img.color().has_alpha() {
        return img.into_rgb8();
    }
    let rgba = img.into_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let src = rgba.get_pixel(x, y);
        let (alpha, behind) = (u32::from(src[3]), u32::from(background(x, y)));
        // Rounded integer blend: c * a / 255 + b * (255 - a) / 255.
        image::Rgb(std::array::from_fn(|c| ((u32::from(src[c]) * alpha + behind * (255 - alpha) + 127) / 255) as u8))
    })
}

/// Resizes to exactly `width` x `height` (aspect ratio not kept) with a bicubic
/// (Catmull-Rom) filter: fast, and within a level or two of PIL's bicubic `resize`
/// (use [`resize_like_pillow`] where byte-exact agreement matters).
pub fn resize_exact(img: &RgbImage, width: u32, height: u32) -> RgbImage {
    if img.dimensions() == (width, height) {
        return img.clone();
    }
    let src = ImageRef::new(img.width(), img.height(), img.as_raw(), PixelType::U8x3)
        .expect("an RgbImage buffer always matches its dimensions");
    let mut dst = ResizeImage::new(width, height, PixelType::U8x3);
    Resizer::new()
        .resize(&src, &mut dst, &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom)))
        .expect("U8x3 to U8x3 resize of a non-empty image cannot fail");
    RgbImage::from_raw(width, height, dst.into_vec()).expect("resize output matches its dimensions")
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgba, RgbaImage};

    fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn transparent_pixels_become_white_and_opaque_ones_stay() {
        let mut rgba = RgbaImage::new(2, 1);
        rgba.put_pixel(0, 0, Rgba([10, 20, 30, 0]));
        rgba.put_pixel(1, 0, Rgba([10, 20, 30, 255]));
        let png = encode(&DynamicImage::ImageRgba8(rgba), ImageFormat::Png);
        let rgb = to_rgb_on_white(decode(Path::new("a.png"), &png, DEFAULT_MAX_DECODE_BYTES).unwrap().image);
        assert_eq!(rgb.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(rgb.get_pixel(1, 0).0, [10, 20, 30]);
    }

    #[test]
    fn half_transparent_black_is_mid_grey() {
        let rgba = RgbaImage::from_pixel(1, 1, Rgba([0, 0, 0, 128]));
        let rgb = to_rgb_on_white(DynamicImage::ImageRgba8(rgba));
        assert_eq!(rgb.get_pixel(0, 0).0, [127, 127, 127]);
    }

    #[test]
    fn sixteen_bit_grey_decodes_to_rgb() {
        let grey = image::ImageBuffer::<image::Luma<u16>, _>::from_pixel(3, 3, image::Luma([65535u16]));
        let png = encode(&DynamicImage::ImageLuma16(grey), ImageFormat::Png);
        let rgb = to_rgb_on_white(decode(Path::new("g.png"), &png, DEFAULT_MAX_DECODE_BYTES).unwrap().image);
        assert_eq!(rgb.get_pixel(1, 1).0, [255, 255, 255]);
    }

    #[test]
    fn an_image_over_the_memory_limit_is_too_large_not_undecodable() {
        let png = encode(&DynamicImage::new_rgb8(200, 200), ImageFormat::Png);
        let Err(err) = decode(Path::new("big.png"), &png, 10_000) else { panic!("decoded over the limit") };
        assert_eq!(err.reason_code(), "too_large", "{err}");
        assert!(err.to_string().contains("big.png"));
    }

    #[test]
    fn text_and_truncated_files_are_undecodable() {
        let err = decode(Path::new("x.jpg"), b"<html>not found</html>", DEFAULT_MAX_DECODE_BYTES).unwrap_err();
        assert_eq!(err.reason_code(), "undecodable");
        let png = encode(&DynamicImage::new_rgb8(64, 64), ImageFormat::Png);
        let err = decode(Path::new("t.png"), &png[..png.len() / 2], DEFAULT_MAX_DECODE_BYTES).unwrap_err();
        assert_eq!(err.reason_code(), "undecodable");
    }

    #[test]
    fn empty_file_is_refused_before_decoding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zero.jpg");
        std::fs::write(&path, b"").unwrap();
        assert_eq!(read_image_file(&path).unwrap_err().reason_code(), "empty");
    }

    #[test]
    fn resize_gives_exact_size_and_keeps_flat_colour() {
        let img = RgbImage::from_pixel(37, 11, image::Rgb([200, 100, 50]));
        let out = resize_exact(&img, 16, 16);
        assert_eq!(out.dimensions(), (16, 16));
        assert!(out.pixels().all(|p| p.0 == [200, 100, 50]));
    }
}
