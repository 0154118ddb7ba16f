//! CLIP's image preprocessing, read from the folder's own settings and applied exactly
//! as its own code does with Pillow: Hugging Face's processor for
//! `preprocessor_config.json`, Immich's OpenCLIP transforms for `visual/preprocess_cfg.json`.

use image::RgbImage;
use picseek_imaging::{PillowFilter, resize_like_pillow, resize_nearest};
use serde_json::Value;

use crate::files::read_json;
use crate::{ClipError, ModelFiles, ModelLayout, bad_model};

/// How a model folder turns an RGB image into its image encoder's input: as
/// `preprocessor_config.json` says (Hugging Face's `CLIPImageProcessor` fields, old and
/// new spellings), or `visual/preprocess_cfg.json` (OpenCLIP's `size`, `resize_mode`,
/// `interpolation`, `mean`, `std`).
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocessing {
    resize: Resize,
    /// PIL's resample code (0 nearest, 1 Lanczos, 2 bilinear, 3 bicubic, 4 box, 5 Hamming).
    resample: u8,
    /// `(height, width)` of the centre crop.
    crop: Option<(u32, u32)>,
    rescale: f32,
    mean: [f32; 3],
    std: [f32; 3],
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Resize {
    None,
    /// The shorter side becomes this; the longer keeps the aspect ratio (truncated), as
    /// Hugging Face computes it: `int(size * long / short)`.
    ShortestEdge(u32),
    /// The same, as OpenCLIP's transforms in Immich compute it: `int(long / short * size)`
    /// (a float product that rounds differently now and then).
    ShortestSide(u32),
    Exact {
        height: u32,
        width: u32,
    },
}

impl Resize {
    /// The `(width, height)` an image of `width` x `height` is resized to.
    fn size_for(self, width: u32, height: u32) -> (u32, u32) {
        match self {
            Resize::None => (width, height),
            Resize::ShortestEdge(n) => shortest_edge_size(width, height, n),
            Resize::ShortestSide(n) => shortest_side_size(width, height, n),
            Resize::Exact { height, width } => (width, height),
        }
    }
}

impl Preprocessing {
    /// Reads the preprocessing settings of the model folder `files`.
    pub fn load(files: &ModelFiles) -> Result<Self, ClipError> {
        let path = files.require(files.preprocessing())?;
        let config = read_json(&path)?;
        match files.layout {
            ModelLayout::HuggingFace => Self::from_config(&config),
            ModelLayout::Immich => Self::from_open_clip_config(&config),
        }
        .map_err(|reason| bad_model(&path, reason))
    }

    /// OpenCLIP's `preprocess_cfg.json`, as Immich's `OpenClipVisualEncoder` applies it:
    /// `shortest` (the default) resizes the shorter side to `size` and crops the centre,
    /// `squash` resizes to `size` x `size`; Pillow's filter by name; values `/ 255`, then
    /// `(x - mean) / std`.
    fn from_open_clip_config(config: &Value) -> Result<Self, String> {
        let size = match config.get("size") {
            Some(Value::Number(n)) => side(n)?,
            Some(Value::Array(sides)) => match sides.as_slice() {
                [Value::Number(h), Value::Number(w)] if h == w => side(h)?,
                [Value::Number(n)] => side(n)?,
                _ => return Err(format!("\"size\" {} is not one square size", config["size"])),
            },
            _ => return Err("\"size\" is missing or not a number".into()),
        };
        let (resize, crop) = match config.get("resize_mode").map(|m| m.as_str().unwrap_or_default()) {
            None | Some("shortest") => (Resize::ShortestSide(size), Some((size, size))),
            Some("squash") => (Resize::Exact { height: size, width: size }, None),
            Some(mode) => return Err(format!("unsupported \"resize_mode\" {mode:?}: shortest and squash are")),
        };
        let resample = match config.get("interpolation") {
            None => 3,
            Some(v) => {
                let name = v.as_str().unwrap_or_default().to_lowercase();
                RESAMPLE
                    .iter()
                    .position(|(n, _)| *n == name)
                    .ok_or_else(|| format!("unsupported \"interpolation\": {v}"))? as u8
            }
        };
        let (mean, std) = (triple(config, "mean")?, triple(config, "std")?);
        if std.contains(&0.0) {
            return Err("\"std\" has a zero".into());
        }
        Ok(Self { resize, resample, crop, rescale: 1.0 / 255.0, mean, std })
    }

    fn from_config(config: &Value) -> Result<Self, String> {
        let flag = |name: &str| config.get(name).and_then(Value::as_bool).unwrap_or(true);
        let resize = match config.get("size") {
            _ if !flag("do_resize") => Resize::None,
            Some(Value::Number(n)) => Resize::ShortestEdge(side(n)?),
            Some(Value::Object(size)) => match (size.get("shortest_edge"), size.get("height"), size.get("width")) {
                (Some(Value::Number(n)), _, _) => Resize::ShortestEdge(side(n)?),
                (None, Some(Value::Number(h)), Some(Value::Number(w))) => {
                    Resize::Exact { height: side(h)?, width: side(w)? }
                }
                _ => return Err(format!("unsupported \"size\": {}", config["size"])),
            },
            _ => return Err("\"do_resize\" is set but \"size\" is missing or not understood".into()),
        };
        let crop = match config.get("crop_size") {
            _ if !flag("do_center_crop") => None,
            Some(Value::Number(n)) => Some((side(n)?, side(n)?)),
            Some(Value::Object(c)) => match (c.get("height"), c.get("width")) {
                (Some(Value::Number(h)), Some(Value::Number(w))) => Some((side(h)?, side(w)?)),
                _ => return Err(format!("unsupported \"crop_size\": {}", config["crop_size"])),
            },
            _ => return Err("\"do_center_crop\" is set but \"crop_size\" is missing".into()),
        };
        let resample = match config.get("resample") {
            None => 3,
            Some(v) => v
                .as_u64()
                .filter(|&r| r < RESAMPLE.len() as u64)
                .ok_or_else(|| format!("unsupported \"resample\": {v}"))? as u8,
        };
        let rescale = if flag("do_rescale") {
            config.get("rescale_factor").and_then(Value::as_f64).unwrap_or(1.0 / 255.0) as f32
        } else {
            1.0
        };
        let (mean, std) = if flag("do_normalize") {
            (triple(config, "image_mean")?, triple(config, "image_std")?)
        } else {
            ([0.0; 3], [1.0; 3])
        };
        if std.contains(&0.0) {
            return Err("\"image_std\" has a zero".into());
        }
        let preprocessing = Self { resize, resample, crop, rescale, mean, std };
        if preprocessing.output_size().is_none() {
            return Err("the images it makes are not of one fixed square size (no centre crop or exact resize)".into());
        }
        Ok(preprocessing)
    }

    /// The side of the square `pixel_values` images.
    pub fn image_size(&self) -> u32 {
        self.output_size().map_or(0, |(h, _)| h)
    }

    fn output_size(&self) -> Option<(u32, u32)> {
        let size = self.crop.or(match self.resize {
            Resize::Exact { height, width } => Some((height, width)),
            _ => None,
        })?;
        (size.0 == size.1).then_some(size)
    }

    /// A canonical description, recorded in `index.json`: an index is only extended
    /// with vectors made the same way.
    pub fn describe(&self) -> String {
        let resize = match self.resize {
            Resize::None => "no-resize".to_owned(),
            Resize::ShortestEdge(n) => format!("resize-shortest-edge-{n}"),
            Resize::ShortestSide(n) => format!("resize-shortest-side-{n}"),
            Resize::Exact { height, width } => format!("resize-{width}x{height}"),
        };
        let crop = self.crop.map_or("no-crop".to_owned(), |(h, w)| format!("centre-crop-{w}x{h}"));
        format!(
            "decode;exif-orientation;rgb;alpha-onto-white;{resize}-{};{crop};rescale-{};mean-{:?};std-{:?};nchw-f32",
            RESAMPLE[usize::from(self.resample)].0,
            self.rescale,
            self.mean,
            self.std
        )
    }

    /// Pillow's `resize` with the configured filter, as Hugging Face's processor calls it.
    fn resize(&self, img: &RgbImage, width: u32, height: u32) -> RgbImage {
        if img.dimensions() == (width, height) {
            return img.clone();
        }
        match RESAMPLE[usize::from(self.resample)].1 {
            Some(filter) => resize_like_pillow(img, width, height, filter),
            None => resize_nearest(img, width, height),
        }
    }

    /// The model input for one image: `3 * size * size` values, channel by channel.
    /// The most pixels an image may have after resizing: an image of extreme aspect
    /// ratio (1 x 100000 pixels fits in 470 bytes of PNG) would otherwise ask for
    /// gigabytes when its shortest edge is scaled up.
    pub const MAX_RESIZED_PIXELS: u64 = 40_000_000;

    /// Refuses an image of `width` x `height` whose resized size would pass
    /// [`MAX_RESIZED_PIXELS`](Self::MAX_RESIZED_PIXELS), saying what it would be.
    pub fn check_size(&self, width: u32, height: u32) -> Result<(), String> {
        let (w, h) = self.resize.size_for(width, height);
        if u64::from(w) * u64::from(h) > Self::MAX_RESIZED_PIXELS {
            return Err(format!(
                "{width}x{height} would be resized to {w}x{h}, more than {} pixels",
                Self::MAX_RESIZED_PIXELS
            ));
        }
        Ok(())
    }

    /// The model input of `img` (call [`check_size`](Self::check_size) first).
    pub fn pixel_values(&self, img: &RgbImage) -> Vec<f32> {
        let resized = (self.resize != Resize::None).then(|| {
            let (w, h) = self.resize.size_for(img.width(), img.height());
            self.resize(img, w, h)
        });
        let img = resized.as_ref().unwrap_or(img);
        let (out_h, out_w) = self.crop.unwrap_or((img.height(), img.width()));
        // As Hugging Face's `center_crop`: floor division, zero padding where the crop
        // reaches past a too-small image.
        let top = (i64::from(img.height()) - i64::from(out_h)).div_euclid(2);
        let left = (i64::from(img.width()) - i64::from(out_w)).div_euclid(2);
        let plane = (out_h * out_w) as usize;
        let mut values = vec![0.0f32; 3 * plane];
        for y in 0..out_h {
            let src_y = i64::from(y) + top;
            for x in 0..out_w {
                let src_x = i64::from(x) + left;
                let inside =
                    (0..i64::from(img.height())).contains(&src_y) && (0..i64::from(img.width())).contains(&src_x);
                let pixel = if inside { img.get_pixel(src_x as u32, src_y as u32).0 } else { [0; 3] };
                let at = (y * out_w + x) as usize;
                for c in 0..3 {
                    values[c * plane + at] = (f32::from(pixel[c]) * self.rescale - self.mean[c]) / self.std[c];
                }
            }
        }
        values
    }
}

/// Hugging Face's `get_resize_output_image_size` for a shortest-edge size: returns
/// `(width, height)`.
fn shortest_edge_size(width: u32, height: u32, shortest: u32) -> (u32, u32) {
    let (short, long) = if width <= height { (width, height) } else { (height, width) };
    let new_long = ((f64::from(shortest) * f64::from(long) / f64::from(short.max(1))) as u32).max(1);
    if width <= height { (shortest, new_long) } else { (new_long, shortest) }
}

/// Immich's `resize_pil`: returns `(width, height)`.
fn shortest_side_size(width: u32, height: u32, shortest: u32) -> (u32, u32) {
    let scaled =
        |long: u32, short: u32| ((f64::from(long) / f64::from(short.max(1)) * f64::from(shortest)) as u32).max(1);
    if width < height { (shortest, scaled(height, width)) } else { (scaled(width, height), shortest) }
}

/// PIL's resample codes 0 to 5, in order: the name recorded in `index.json`, and the
/// filter (none for nearest neighbour).
const RESAMPLE: [(&str, Option<PillowFilter>); 6] = [
    ("nearest", None),
    ("lanczos", Some(PillowFilter::Lanczos)),
    ("bilinear", Some(PillowFilter::Bilinear)),
    ("bicubic", Some(PillowFilter::Bicubic)),
    ("box", Some(PillowFilter::Box)),
    ("hamming", Some(PillowFilter::Hamming)),
];

fn side(n: &serde_json::Number) -> Result<u32, String> {
    n.as_u64().filter(|&n| (1..=8192).contains(&n)).map(|n| n as u32).ok_or_else(|| format!("bad image size {n}"))
}

fn triple(config: &Value, name: &str) -> Result<[f32; 3], String> {
    let values: Vec<f32> = config
        .get(name)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_f64).map(|v| v as f32).collect())
        .unwrap_or_default();
    values.try_into().map_err(|_| format!("\"{name}\" must be a list of 3 numbers"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn clip_config() -> Value {
        json!({"crop_size": 224, "do_center_crop": true, "do_normalize": true, "do_resize": true,
               "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
               "resample": 3, "size": 224})
    }

    #[test]
    fn old_and_new_config_spellings_mean_the_same() {
        let old = Preprocessing::from_config(&clip_config()).unwrap();
        let mut new = clip_config();
        new["size"] = json!({"shortest_edge": 224});
        new["crop_size"] = json!({"height": 224, "width": 224});
        new["do_rescale"] = json!(true);
        new["rescale_factor"] = json!(0.00392156862745098);
        assert_eq!(Preprocessing::from_config(&new).unwrap(), old);
        assert_eq!(old.image_size(), 224);
        assert!(old.describe().contains("resize-shortest-edge-224-bicubic;centre-crop-224x224"), "{}", old.describe());
    }

    #[test]
    fn configs_that_cannot_feed_a_square_model_are_refused() {
        let mut no_crop = clip_config();
        no_crop["do_center_crop"] = json!(false);
        assert!(Preprocessing::from_config(&no_crop).unwrap_err().contains("fixed square size"));
        let mut bad_mean = clip_config();
        bad_mean["image_mean"] = json!([0.5, 0.5]);
        assert!(Preprocessing::from_config(&bad_mean).unwrap_err().contains("image_mean"));
    }

    #[test]
    fn shortest_edge_truncates_the_long_side_like_hugging_face() {
        assert_eq!(shortest_edge_size(640, 480, 224), (298, 224));
        assert_eq!(shortest_edge_size(3, 500, 224), (224, 37333));
        assert_eq!(shortest_edge_size(1, 1, 224), (224, 224));
    }

    #[test]
    fn a_flat_image_normalises_to_its_formula_and_crop_is_centred() {
        let p = Preprocessing::from_config(&clip_config()).unwrap();
        let img = RgbImage::from_pixel(300, 224, image::Rgb([255, 0, 128]));
        let values = p.pixel_values(&img);
        assert_eq!(values.len(), 3 * 224 * 224);
        let plane = 224 * 224;
        let expected = |value: f64, mean: f64, std: f64| ((value / 255.0 - mean) / std) as f32;
        assert!((values[0] - expected(255.0, 0.48145466, 0.26862954)).abs() < 1e-6);
        assert!((values[plane] - expected(0.0, 0.4578275, 0.26130258)).abs() < 1e-6);
        assert!((values[2 * plane + 500] - expected(128.0, 0.40821073, 0.27577711)).abs() < 1e-6);
    }

    #[test]
    fn open_clip_configs_resize_as_immich_does() {
        let siglip = json!({"size": [256, 256], "mode": "RGB", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                            "interpolation": "bicubic", "resize_mode": "squash", "fill_color": 0});
        let p = Preprocessing::from_open_clip_config(&siglip).unwrap();
        assert_eq!(p.image_size(), 256);
        assert!(p.describe().contains("resize-256x256-bicubic;no-crop"), "{}", p.describe());
        let clip = json!({"size": 224, "mean": [0.48145466, 0.4578275, 0.40821073],
                          "std": [0.26862954, 0.26130258, 0.27577711], "interpolation": "bilinear"});
        let p = Preprocessing::from_open_clip_config(&clip).unwrap();
        assert!(p.describe().contains("resize-shortest-side-224-bilinear;centre-crop-224x224"), "{}", p.describe());
        let mut longest = clip.clone();
        longest["resize_mode"] = json!("longest");
        assert!(Preprocessing::from_open_clip_config(&longest).unwrap_err().contains("resize_mode"));
        // Immich's float product: (long / short) * size, truncated.
        assert_eq!(shortest_side_size(640, 480, 224), (298, 224));
        assert_eq!(shortest_side_size(480, 640, 224), (224, 298));
        assert_eq!(shortest_side_size(300, 300, 224), (224, 224));
    }
}
