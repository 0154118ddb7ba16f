//! Distinct images that look alike, and planted copies of them: the fixtures clean's
//! near-duplicate decision is judged on (shared by `picseek-clean`'s unit tests through
//! `#[path]`, and by the end-to-end comparison with cleanvision).
//!
//! The families are what fooled a hash-only rule on real clip art: road signs of one
//! template with different glyphs, smileys that differ only in the mouth or the eyes,
//! flat buttons of one style, and art on a transparent background (white art is all
//! white once composited onto white, so every piece of it hashes alike). The copies are what a crawl really brings
//! home twice: a crop of up to 6 % resized back, JPEG at quality 40, brightness ±10 %,
//! and a shift of up to 3 %.

use image::{DynamicImage, Rgba, RgbaImage};

/// The side of every original.
pub const SIDE: u32 = 160;

/// One fixture: a file name (without extension) and its picture.
pub struct Lookalike {
    /// `<family>_<n>`.
    pub name: String,
    /// The picture (opaque except the transparent family).
    pub image: RgbaImage,
}

/// How a planted copy was made from its original.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyKind {
    /// `percent` cut from the top and left sides, resized back to the original size.
    Crop { percent: u32 },
    /// Re-encoded as JPEG at quality 40.
    Jpeg40,
    /// Every channel scaled by `percent` / 100 (90 or 110).
    Brightness { percent: u32 },
    /// Moved right and down by `percent` of the side, the edge pixels repeated.
    Shift { percent: u32 },
}

impl CopyKind {
    /// The kinds planted, in turn.
    pub const ALL: [CopyKind; 7] = [
        CopyKind::Crop { percent: 6 },
        CopyKind::Jpeg40,
        CopyKind::Brightness { percent: 110 },
        CopyKind::Shift { percent: 3 },
        CopyKind::Brightness { percent: 90 },
        CopyKind::Crop { percent: 3 },
        CopyKind::Shift { percent: 2 },
    ];

    /// A short name for file names.
    pub fn suffix(self) -> String {
        match self {
            CopyKind::Crop { percent } => format!("crop{percent}"),
            CopyKind::Jpeg40 => "q40".into(),
            CopyKind::Brightness { percent } => format!("bright{percent}"),
            CopyKind::Shift { percent } => format!("shift{percent}"),
        }
    }

    /// The copy of `original`.
    pub fn apply(self, original: &RgbaImage) -> RgbaImage {
        let (w, h) = original.dimensions();
        match self {
            CopyKind::Crop { percent } => {
                let (dx, dy) = (w * percent / 100, h * percent / 100);
                let cut = image::imageops::crop_imm(original, dx, dy, w - dx, h - dy).to_image();
                image::imageops::resize(&cut, w, h, image::imageops::FilterType::Triangle)
            }
            CopyKind::Jpeg40 => {
                let rgb = DynamicImage::ImageRgba8(original.clone()).into_rgb8();
                let mut jpeg = Vec::new();
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 40).encode_image(&rgb).unwrap();
                image::load_from_memory(&jpeg).unwrap().into_rgba8()
            }
            CopyKind::Brightness { percent } => RgbaImage::from_fn(w, h, |x, y| {
                let p = original.get_pixel(x, y).0;
                let scale = |c: u8| (u32::from(c) * percent / 100).min(255) as u8;
                Rgba([scale(p[0]), scale(p[1]), scale(p[2]), p[3]])
            }),
            CopyKind::Shift { percent } => {
                let (dx, dy) = (w * percent / 100, h * percent / 100);
                RgbaImage::from_fn(w, h, |x, y| *original.get_pixel(x.saturating_sub(dx), y.saturating_sub(dy)))
            }
        }
    }
}

/// Every distinct fixture (112), in a fixed order: each family's members differ only in
/// one small part (a glyph, a mouth, the eyes, a symbol) or in the template around it.
pub fn originals() -> Vec<Lookalike> {
    let mut all = Vec::new();
    for (t, template) in SignTemplate::ALL.iter().enumerate() {
        for (n, glyph) in sign_glyphs().into_iter().enumerate() {
            all.push(Lookalike { name: format!("sign_{t}{n:02}"), image: road_sign(*template, &glyph) });
        }
    }
    for (e, eyes) in [Eyes::Dots, Eyes::Ovals, Eyes::Closed].into_iter().enumerate() {
        for (n, mouth) in mouths().into_iter().enumerate() {
            all.push(Lookalike { name: format!("smiley_{e}{n:02}"), image: smiley(eyes, &mouth) });
        }
    }
    for (c, plate) in [[40, 110, 210, 255], [40, 150, 70, 255], [70, 70, 80, 255]].into_iter().enumerate() {
        for (n, symbol) in button_symbols().into_iter().enumerate() {
            all.push(Lookalike { name: format!("button_{c}{n:02}"), image: button(plate, &symbol) });
        }
    }
    for (c, ink) in [WHITE, BLACK].into_iter().enumerate() {
        for (n, art) in art_on_transparency(ink).into_iter().enumerate() {
            all.push(Lookalike { name: format!("art_{c}{n:02}"), image: art });
        }
    }
    all
}

/// A shape drawn in one colour: pixels of the unit square `[0, 1)²` it covers.
type Shape = Box<dyn Fn(f32, f32) -> bool>;

fn rect(x0: f32, y0: f32, x1: f32, y1: f32) -> Shape {
    Box::new(move |x, y| x >= x0 && x < x1 && y >= y0 && y < y1)
}

fn disc(cx: f32, cy: f32, r: f32) -> Shape {
    Box::new(move |x, y| (x - cx).powi(2) + (y - cy).powi(2) <= r * r)
}

fn ring(cx: f32, cy: f32, r: f32, width: f32) -> Shape {
    Box::new(move |x, y| (((x - cx).powi(2) + (y - cy).powi(2)).sqrt() - r).abs() <= width / 2.0)
}

/// A triangle with corners `a`, `b`, `c`.
fn triangle(a: (f32, f32), b: (f32, f32), c: (f32, f32)) -> Shape {
    let side = move |p: (f32, f32), q: (f32, f32), x: f32, y: f32| (q.0 - p.0) * (y - p.1) - (q.1 - p.1) * (x - p.0);
    Box::new(move |x, y| {
        let (d1, d2, d3) = (side(a, b, x, y), side(b, c, x, y), side(c, a, x, y));
        !((d1 < 0.0 || d2 < 0.0 || d3 < 0.0) && (d1 > 0.0 || d2 > 0.0 || d3 > 0.0))
    })
}

/// A thick arc of the circle at (`cx`, `cy`) of radius `r`, below the centre (a smile)
/// when `down`, above it (a frown) otherwise, spanning `half_angle` radians either side.
fn arc(cx: f32, cy: f32, r: f32, width: f32, half_angle: f32, down: bool) -> Shape {
    Box::new(move |x, y| {
        let (dx, dy) = (x - cx, y - cy);
        let along = if down { dy } else { -dy };
        let angle = dx.atan2(along).abs();
        angle <= half_angle && ((dx * dx + dy * dy).sqrt() - r).abs() <= width / 2.0
    })
}

/// Paints `layers` in order (later on top) on `background`, four samples per pixel.
fn paint(background: [u8; 4], layers: &[(&Shape, [u8; 4])]) -> RgbaImage {
    RgbaImage::from_fn(SIDE, SIDE, |x, y| {
        let mut sum = [0u32; 4];
        for (sx, sy) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
            let (u, v) = ((x as f32 + sx) / SIDE as f32, (y as f32 + sy) / SIDE as f32);
            let colour = layers.iter().rev().find(|(shape, _)| shape(u, v)).map_or(background, |(_, c)| *c);
            for (s, c) in sum.iter_mut().zip(colour) {
                *s += u32::from(c);
            }
        }
        Rgba(sum.map(|s| ((s + 2) / 4) as u8))
    })
}

const WHITE: [u8; 4] = [255, 255, 255, 255];
const BLACK: [u8; 4] = [20, 20, 20, 255];

/// The glyphs of the road signs: each a set of shapes inside the triangle.
fn sign_glyphs() -> Vec<Vec<Shape>> {
    vec![
        vec![rect(0.47, 0.38, 0.53, 0.62), disc(0.5, 0.69, 0.035)],
        vec![rect(0.36, 0.55, 0.64, 0.61)],
        vec![rect(0.47, 0.40, 0.53, 0.72), rect(0.38, 0.53, 0.62, 0.59)],
        vec![disc(0.5, 0.6, 0.09)],
        vec![ring(0.5, 0.6, 0.09, 0.035)],
        vec![triangle((0.5, 0.42), (0.38, 0.66), (0.62, 0.66))],
        vec![rect(0.38, 0.45, 0.44, 0.72), rect(0.56, 0.45, 0.62, 0.72)],
        vec![disc(0.42, 0.6, 0.05), disc(0.58, 0.6, 0.05)],
        vec![rect(0.40, 0.50, 0.60, 0.70)],
        vec![triangle((0.38, 0.45), (0.62, 0.45), (0.5, 0.68))],
        vec![rect(0.44, 0.42, 0.50, 0.72), rect(0.44, 0.66, 0.62, 0.72)],
        vec![rect(0.38, 0.48, 0.62, 0.53), rect(0.38, 0.62, 0.62, 0.67)],
        vec![arc(0.5, 0.52, 0.11, 0.04, 1.2, true)],
    ]
}

/// The three sign templates: a red warning triangle, a blue round sign, a yellow diamond.
#[derive(Clone, Copy)]
enum SignTemplate {
    Triangle,
    Round,
    Diamond,
}

impl SignTemplate {
    const ALL: [SignTemplate; 3] = [SignTemplate::Triangle, SignTemplate::Round, SignTemplate::Diamond];
}

fn diamond(cx: f32, cy: f32, r: f32) -> Shape {
    Box::new(move |x, y| (x - cx).abs() + (y - cy).abs() <= r)
}

fn road_sign(template: SignTemplate, glyph: &[Shape]) -> RgbaImage {
    let (outer, inner, rim): (Shape, Shape, [u8; 4]) = match template {
        SignTemplate::Triangle => (
            triangle((0.5, 0.12), (0.08, 0.86), (0.92, 0.86)),
            triangle((0.5, 0.27), (0.2, 0.79), (0.8, 0.79)),
            [210, 30, 30, 255],
        ),
        SignTemplate::Round => (disc(0.5, 0.58, 0.4), disc(0.5, 0.58, 0.3), [30, 70, 200, 255]),
        SignTemplate::Diamond => (diamond(0.5, 0.56, 0.44), diamond(0.5, 0.56, 0.36), [240, 190, 20, 255]),
    };
    let mut layers: Vec<(&Shape, [u8; 4])> = vec![(&outer, rim), (&inner, WHITE)];
    layers.extend(glyph.iter().map(|g| (g, BLACK)));
    paint(WHITE, &layers)
}

/// The mouths of the smileys.
fn mouths() -> Vec<Shape> {
    vec![
        arc(0.5, 0.55, 0.2, 0.045, 1.0, true),
        arc(0.5, 0.82, 0.18, 0.045, 0.8, false),
        rect(0.35, 0.68, 0.65, 0.725),
        disc(0.5, 0.7, 0.07),
        arc(0.5, 0.58, 0.12, 0.045, 1.0, true),
        arc(0.5, 0.50, 0.26, 0.045, 0.7, true),
        ring(0.5, 0.7, 0.07, 0.035),
        rect(0.40, 0.66, 0.60, 0.76),
        arc(0.62, 0.58, 0.12, 0.045, 0.9, true),
    ]
}

/// The smileys' eyes.
#[derive(Clone, Copy)]
enum Eyes {
    Dots,
    Ovals,
    Closed,
}

fn eye(eyes: Eyes, cx: f32) -> Shape {
    match eyes {
        Eyes::Dots => disc(cx, 0.4, 0.05),
        Eyes::Ovals => rect(cx - 0.025, 0.32, cx + 0.025, 0.46),
        Eyes::Closed => arc(cx, 0.36, 0.06, 0.03, 1.2, true),
    }
}

fn smiley(eyes: Eyes, mouth: &Shape) -> RgbaImage {
    let face = disc(0.5, 0.5, 0.42);
    let rim = ring(0.5, 0.5, 0.42, 0.04);
    let (left, right) = (eye(eyes, 0.37), eye(eyes, 0.63));
    paint(WHITE, &[(&face, [250, 205, 40, 255]), (&rim, BLACK), (&left, BLACK), (&right, BLACK), (mouth, BLACK)])
}

/// The symbols of the flat buttons: plus, minus, times, up, down and the like.
fn button_symbols() -> Vec<Vec<Shape>> {
    let times = |flip: f32| -> Shape {
        Box::new(move |x, y| {
            let (u, v) = (x - 0.5, (y - 0.5) * flip);
            (u - v).abs() < 0.05 && u.abs() < 0.22 || (u + v).abs() < 0.05 && u.abs() < 0.22
        })
    };
    vec![
        vec![rect(0.28, 0.46, 0.72, 0.54), rect(0.46, 0.28, 0.54, 0.72)],
        vec![rect(0.28, 0.46, 0.72, 0.54)],
        vec![times(1.0)],
        vec![triangle((0.5, 0.3), (0.3, 0.68), (0.7, 0.68))],
        vec![triangle((0.3, 0.32), (0.7, 0.32), (0.5, 0.7))],
        vec![disc(0.5, 0.5, 0.18)],
        vec![rect(0.32, 0.32, 0.68, 0.68)],
        vec![rect(0.28, 0.36, 0.72, 0.42), rect(0.28, 0.47, 0.72, 0.53), rect(0.28, 0.58, 0.72, 0.64)],
        vec![ring(0.5, 0.5, 0.17, 0.06)],
        vec![triangle((0.32, 0.3), (0.7, 0.5), (0.32, 0.7))],
    ]
}

fn button(colour: [u8; 4], symbol: &[Shape]) -> RgbaImage {
    let plate: Shape = Box::new(|x, y| (x - 0.5).abs() < 0.42 && (y - 0.5).abs() < 0.42);
    let mut layers: Vec<(&Shape, [u8; 4])> = vec![(&plate, colour)];
    layers.extend(symbol.iter().map(|s| (s, WHITE)));
    paint(WHITE, &layers)
}

/// Shapes in `ink` on a transparent background: a house, a racket and the like. White
/// ones are all white once composited onto white.
fn art_on_transparency(ink: [u8; 4]) -> Vec<RgbaImage> {
    let clear = [ink[0], ink[1], ink[2], 0];
    let shapes: Vec<Vec<Shape>> = vec![
        vec![rect(0.25, 0.5, 0.75, 0.85), triangle((0.5, 0.15), (0.15, 0.52), (0.85, 0.52))],
        vec![ring(0.45, 0.35, 0.2, 0.05), rect(0.42, 0.55, 0.48, 0.9)],
        vec![triangle((0.5, 0.1), (0.2, 0.85), (0.8, 0.85))],
        vec![disc(0.5, 0.5, 0.35)],
        vec![rect(0.2, 0.2, 0.8, 0.8)],
        vec![rect(0.15, 0.42, 0.85, 0.58), rect(0.42, 0.15, 0.58, 0.85)],
        vec![disc(0.35, 0.5, 0.2), disc(0.65, 0.5, 0.2)],
        vec![ring(0.5, 0.5, 0.3, 0.08)],
    ];
    shapes
        .iter()
        .map(|parts| {
            let layers: Vec<(&Shape, [u8; 4])> = parts.iter().map(|s| (s, ink)).collect();
            paint(clear, &layers)
        })
        .collect()
}

/// A planted copy: its file stem, its original's name and how it was made.
pub struct PlantedCopy {
    /// `<original>__<kind>`.
    pub name: String,
    /// The original's name.
    pub original: String,
    /// The copy.
    pub image: RgbaImage,
}

/// One copy of every original, the kinds taken in turn. JPEG cannot hold transparency,
/// so the transparent art is copied in the other ways only.
pub fn planted_copies(originals: &[Lookalike]) -> Vec<PlantedCopy> {
    let mut kinds = CopyKind::ALL.iter().cycle();
    originals
        .iter()
        .map(|original| {
            let transparent = original.image.pixels().any(|p| p[3] < 255);
            let kind = *kinds.by_ref().find(|k| !(transparent && **k == CopyKind::Jpeg40)).unwrap();
            PlantedCopy {
                name: format!("{}__{}", original.name, kind.suffix()),
                original: original.name.clone(),
                image: kind.apply(&original.image),
            }
        })
        .collect()
}
