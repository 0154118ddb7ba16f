//! What two images' pixels say about whether one is a copy of the other: the second,
//! independent kind of evidence a near-duplicate decision needs beside the perceptual
//! hash (which alone takes road signs of one template, or smileys that differ only in
//! the mouth, for copies).
//!
//! Both images are reduced to a [`Likeness`]: a small greyscale thumbnail normalised to
//! zero mean and unit spread (so a brightness change does not count). The second is
//! aligned onto the first by the scale and shift that fit best (a crop resized back, or
//! a shifted frame, does not count either), then every pixel looks for its match within
//! one pixel in the other; [`Likeness::difference`] is the share of pixels that find none.
//! A copy leaves almost none; a different glyph or mouth leaves its whole area.

use image::{DynamicImage, GrayImage, RgbImage};

/// The side of the thumbnail compared.
const SIDE: usize = 128;
/// A pixel matches when its normalised grey levels differ by at most this (in units of
/// the image's own spread).
const MATCH: f32 = 0.6;
/// Scales tried when aligning: a crop of up to 6 % resized back is a zoom of up to 1.064.
const SCALES: [f32; 7] = [0.94, 0.96, 0.98, 1.0, 1.02, 1.04, 1.06];
/// Shifts tried when aligning, in pixels of the quarter-size thumbnail (each 1/32 of
/// the side): a crop of 6 % and a shift of 3 % move content by at most 9 %.
const SHIFTS: i32 = 3;
/// At most this many of the glance's 196 inner cells may find no match within a cell
/// (no alignment) for two images to be compared further: copies leave at most 10;
/// unrelated pictures about 60. This cheap look spares the alignment most pairs.
const GLANCE_LIMIT: usize = 24;
/// Above this mean difference (in units of spread) at the best coarse alignment, two
/// thumbnails are unrelated and are not compared further (copies stay below 0.25).
const UNRELATED: f32 = 0.5;
/// Below this spread of grey levels (of 255) an image shows next to nothing: near-blank.
const LOW_SPREAD: f32 = 6.0;

/// What is compared of an image: its normalised grey thumbnail, at full, half, quarter
/// and eighth size.
#[derive(Debug, Clone)]
pub(crate) struct Likeness {
    pyramid: Pyramid,
    /// The image shows next to nothing (its grey levels barely vary): nothing can be
    /// told from its pixels or its hash, so it is never a near duplicate.
    pub low_information: bool,
}

/// The picture duplicates are judged on: transparent pixels composited onto mid-grey,
/// so that white (or black) art on a transparent background keeps its shape, where
/// compositing onto white (what clean writes) would blank white art out.
pub(crate) fn comparison_view(image: &DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.to_rgb8();
    }
    let rgba = image.to_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let p = rgba.get_pixel(x, y).0;
        let alpha = u32::from(p[3]);
        image::Rgb([0, 1, 2].map(|c| ((u32::from(p[c]) * alpha + 128 * (255 - alpha) + 127) / 255) as u8))
    })
}

impl Likeness {
    /// Of the comparison view of an image (any size; it is resized to the thumbnail).
    pub(crate) fn of(view: &RgbImage) -> Self {
        let thumbnail = picseek_imaging::resize_exact(view, SIDE as u32, SIDE as u32);
        let grey: GrayImage = DynamicImage::ImageRgb8(thumbnail).into_luma8();
        let values: Vec<f32> = grey.pixels().map(|p| f32::from(p[0])).collect();
        let n = values.len() as f32;
        let mean = values.iter().sum::<f32>() / n;
        let spread = (values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt();
        let scale = 1.0 / spread.max(1.0);
        let grey: Vec<f32> = values.iter().map(|v| (v - mean) * scale).collect();
        Self { pyramid: Pyramid::of(grey), low_information: spread < LOW_SPREAD }
    }

    /// The share (0 to 1) of the pixels both images show, once `other` is aligned onto
    /// this one, that find no match in the other: 0 for a copy, the changed area for a
    /// different picture. Symmetric. A pair that is plainly more than `give_up_above`
    /// apart at a coarser level is not looked at in full: any value above it may come
    /// back.
    pub(crate) fn difference(&self, other: &Likeness, give_up_above: f32) -> f32 {
        if glance_unmatched(&self.pyramid, &other.pyramid) > GLANCE_LIMIT {
            return 1.0;
        }
        let Some(coarse) = align(&self.pyramid, &other.pyramid, &COARSE_ROUNDS, None) else { return 1.0 };
        // At half size a copy leaves next to nothing unmatched; a pair far apart there
        // is far apart in full.
        let rough = self.unmatched_at(other, 1, coarse);
        if rough > (4.0 * give_up_above).max(EARLY_REJECT) {
            return rough;
        }
        let Some(fine) = align(&self.pyramid, &other.pyramid, &FINE_ROUNDS, Some(coarse)) else { return 1.0 };
        self.unmatched_at(other, 0, fine)
    }

    /// The share of pixels of pyramid level `level` that find no match, either way, once
    /// `other` is moved by `t` (in full-size pixels).
    fn unmatched_at(&self, other: &Likeness, level: usize, t: Alignment) -> f32 {
        let side = SIDE >> level;
        let own = &self.pyramid.0[level];
        let (aligned, shown) = warp(&other.pyramid.0[level], side, t.at_level(level));
        unmatched_share(own, &aligned, &shown, side).max(unmatched_share(&aligned, own, &shown, side))
    }
}

/// How `b` is brought onto `a`: zoomed by `scale` about the centre, then moved by
/// (`dx`, `dy`) pixels of the full thumbnail.
#[derive(Debug, Clone, Copy)]
struct Alignment {
    scale: f32,
    dx: f32,
    dy: f32,
}

impl Alignment {
    /// The same alignment in pixels of pyramid level `level` (halved `level` times).
    fn at_level(self, level: usize) -> Self {
        let factor = (1 << level) as f32;
        Alignment { dx: self.dx / factor, dy: self.dy / factor, ..self }
    }
}

/// A round of refinement: the pyramid level, the shift step (in full-size pixels) and
/// the zoom step tried either side of the best alignment so far.
type Round = (usize, f32, f32);
/// Down to half size: what the early look needs.
const COARSE_ROUNDS: [Round; 1] = [(1, 2.0, 0.01)];
/// Then at full size.
const FINE_ROUNDS: [Round; 2] = [(0, 1.0, 0.005), (0, 0.5, 0.0)];
/// At half size, a pair with more than this share unmatched is not a copy (copies stay
/// near 0 there), whatever the bound asked for.
const EARLY_REJECT: f32 = 0.02;

/// A thumbnail at full, half, quarter and eighth size (the 16 x 16 glance).
#[derive(Debug, Clone)]
struct Pyramid([Vec<f32>; 4]);

impl Pyramid {
    fn of(full: Vec<f32>) -> Self {
        let half = halve(&full, SIDE);
        let quarter = halve(&half, SIDE / 2);
        let eighth = halve(&quarter, SIDE / 4);
        Self([full, half, quarter, eighth])
    }
}

/// Cells of either 16 x 16 glance that find no match within a cell in the other,
/// without any alignment (see [`GLANCE_LIMIT`]).
fn glance_unmatched(a: &Pyramid, b: &Pyramid) -> usize {
    let side = SIDE / 8;
    let shown = vec![true; side * side];
    let count = |x: &[f32], y: &[f32]| {
        (unmatched_share(x, y, &shown, side) * ((side - 2) * (side - 2)) as f32).round() as usize
    };
    count(&a.0[3], &b.0[3]).max(count(&b.0[3], &a.0[3]))
}

/// The alignment that brings `b` closest to `a`: from `start`, or from every scale and
/// shift tried on the quarter-size thumbnails (`None` when even the best of those leaves
/// them unrelated), then refined by each of `rounds`: the neighbours of the best so far,
/// in shift and in zoom, at that round's level.
fn align(a: &Pyramid, b: &Pyramid, rounds: &[Round], start: Option<Alignment>) -> Option<Alignment> {
    let cost = |level: usize, t: Alignment| aligned_cost(&a.0[level], &b.0[level], SIDE >> level, t.at_level(level));
    let mut best = match start {
        Some(t) => t,
        None => {
            let mut coarse = (f32::INFINITY, Alignment { scale: 1.0, dx: 0.0, dy: 0.0 });
            for scale in SCALES {
                for dy in -SHIFTS..=SHIFTS {
                    for dx in -SHIFTS..=SHIFTS {
                        let t = Alignment { scale, dx: dx as f32 * 4.0, dy: dy as f32 * 4.0 };
                        let c = cost(2, t);
                        if c < coarse.0 {
                            coarse = (c, t);
                        }
                    }
                }
            }
            if coarse.0 > UNRELATED {
                return None;
            }
            coarse.1
        }
    };
    for &(level, step, zoom) in rounds {
        let centre = best;
        let mut lowest = f32::INFINITY;
        let scales: &[f32] = if zoom == 0.0 { &[0.0] } else { &[-zoom, 0.0, zoom] };
        for dz in scales {
            for dy in [-step, 0.0, step] {
                for dx in [-step, 0.0, step] {
                    let t = Alignment { scale: centre.scale + dz, dx: centre.dx + dx, dy: centre.dy + dy };
                    let c = cost(level, t);
                    if c < lowest {
                        (lowest, best) = (c, t);
                    }
                }
            }
        }
    }
    Some(best)
}

/// The mean absolute difference between `a` and `b` moved by `t` (both `side` x `side`),
/// over the pixels `b` shows there; computed as it goes, nothing allocated. From 32 px
/// up, every other row and column is enough for a mean.
fn aligned_cost(a: &[f32], b: &[f32], side: usize, t: Alignment) -> f32 {
    let stride = if side >= 32 { 2 } else { 1 };
    let (mut sum, mut n) = (0.0f32, 0usize);
    for y in (0..side).step_by(stride) {
        let row = Source::of(y, side, t.scale, t.dy);
        if !row.inside {
            continue;
        }
        for x in (0..side).step_by(stride) {
            let column = Source::of(x, side, t.scale, t.dx);
            if column.inside {
                sum += (a[y * side + x] - bilinear(b, side, &row, &column)).abs();
                n += 1;
            }
        }
    }
    if n == 0 { f32::INFINITY } else { sum / n as f32 }
}

/// Where a row or column of a moved image comes from in the source: the two source
/// lines around it, the weight of the second, and whether it lies inside the source
/// (outside, the edge is repeated).
struct Source {
    first: usize,
    second: usize,
    weight: f32,
    inside: bool,
}

impl Source {
    /// For line `p` of `side`, zoomed by `scale` about the centre and moved by `shift`.
    fn of(p: usize, side: usize, scale: f32, shift: f32) -> Self {
        let centre = (side as f32 - 1.0) / 2.0;
        let last = side as f32 - 1.0;
        let at = (p as f32 - centre) / scale + centre - shift;
        let clamped = at.clamp(0.0, last);
        let first = clamped.floor() as usize;
        Source {
            first,
            second: (first + 1).min(side - 1),
            weight: clamped.fract(),
            inside: (-0.5..=last + 0.5).contains(&at),
        }
    }
}

/// `values` (`side` x `side`) at a point between its pixels.
fn bilinear(values: &[f32], side: usize, row: &Source, column: &Source) -> f32 {
    let at = |y: usize, x: usize| values[y * side + x];
    let top = at(row.first, column.first) * (1.0 - column.weight) + at(row.first, column.second) * column.weight;
    let bottom = at(row.second, column.first) * (1.0 - column.weight) + at(row.second, column.second) * column.weight;
    top * (1.0 - row.weight) + bottom * row.weight
}

/// `values` (`side` x `side`) a 2 x 2 average.
fn halve(values: &[f32], side: usize) -> Vec<f32> {
    let half = side / 2;
    let mut out = vec![0.0; half * half];
    for y in 0..half {
        for x in 0..half {
            let at = |dx: usize, dy: usize| values[(2 * y + dy) * side + 2 * x + dx];
            out[y * half + x] = (at(0, 0) + at(1, 0) + at(0, 1) + at(1, 1)) / 4.0;
        }
    }
    out
}

/// `values` (`side` x `side`) moved by `t`: pixel p of the result is `values` at
/// (p - c) / scale + c - d. Also says which pixels fall inside the source (the others
/// repeat its edge, and show nothing of it).
fn warp(values: &[f32], side: usize, t: Alignment) -> (Vec<f32>, Vec<bool>) {
    let mut out = Vec::with_capacity(side * side);
    let mut shown = Vec::with_capacity(side * side);
    for y in 0..side {
        let row = Source::of(y, side, t.scale, t.dy);
        for x in 0..side {
            let column = Source::of(x, side, t.scale, t.dx);
            out.push(bilinear(values, side, &row, &column));
            shown.push(row.inside && column.inside);
        }
    }
    (out, shown)
}

/// The share of the pixels of `a` both images show whose level lies outside the range
/// of `b`'s levels within one pixel of the same place, widened by [`MATCH`]: an edge
/// moved by up to a pixel, or blurred by resampling, stays within that range; a shape
/// that is not there does not. The outermost ring is left out. Both are `side` x `side`.
fn unmatched_share(a: &[f32], b: &[f32], shown: &[bool], side: usize) -> f32 {
    // The lowest and highest level of `b` within one pixel of each place: along rows,
    // then along columns (two passes of 3 instead of one of 9).
    let along_rows = |pick: fn(f32, f32) -> f32| {
        let mut out = b.to_vec();
        for y in 0..side {
            for x in 1..side - 1 {
                let i = y * side + x;
                out[i] = pick(pick(b[i - 1], b[i]), b[i + 1]);
            }
        }
        out
    };
    let (row_low, row_high) = (along_rows(f32::min), along_rows(f32::max));
    let (mut unmatched, mut compared) = (0usize, 0usize);
    for y in 1..side - 1 {
        for x in 1..side - 1 {
            let i = y * side + x;
            if !shown[i] {
                continue;
            }
            let low = row_low[i - side].min(row_low[i]).min(row_low[i + side]);
            let high = row_high[i - side].max(row_high[i]).max(row_high[i + side]);
            let level = a[i];
            compared += 1;
            if level < low - MATCH || level > high + MATCH {
                unmatched += 1;
            }
        }
    }
    if compared == 0 { 1.0 } else { unmatched as f32 / compared as f32 }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::lookalikes;

    fn likeness(image: &image::RgbaImage) -> Likeness {
        Likeness::of(&comparison_view(&DynamicImage::ImageRgba8(image.clone())))
    }

    /// The largest share of unmatched pixels for copies, the least for distinct pairs of
    /// one family and colour (pictures in other colours are told apart by colour: in
    /// grey, a blue and a green button with one symbol are one picture).
    fn measure() -> (f32, f32) {
        let originals = lookalikes::originals();
        let likes: Vec<Likeness> = originals.iter().map(|o| likeness(&o.image)).collect();
        let copies = lookalikes::planted_copies(&originals);
        let worst_copy =
            copies.iter().zip(&likes).map(|(c, o)| o.difference(&likeness(&c.image), 1.0)).fold(0.0, f32::max);
        let mut closest_distinct = f32::INFINITY;
        let variant = |name: &str| name[..name.len() - 2].to_owned();
        for (i, a) in likes.iter().enumerate() {
            for (j, b) in likes.iter().enumerate().skip(i + 1) {
                if variant(&originals[i].name) == variant(&originals[j].name) {
                    closest_distinct = closest_distinct.min(a.difference(b, 1.0));
                }
            }
        }
        (worst_copy, closest_distinct)
    }

    #[test]
    fn copies_match_and_look_alikes_do_not() {
        let (worst_copy, closest_distinct) = measure();
        let threshold = crate::CleanOptions::default().near_pixels;
        assert!(worst_copy <= threshold / 2.0, "a planted copy differs in {worst_copy} of its pixels");
        assert!(closest_distinct >= threshold * 2.0, "two distinct images differ in only {closest_distinct}");
    }

    #[test]
    fn a_blank_image_is_low_information_and_white_art_is_not() {
        let blank = image::RgbaImage::from_pixel(100, 80, image::Rgba([250, 250, 250, 255]));
        assert!(likeness(&blank).low_information);
        let art = lookalikes::originals().into_iter().find(|o| o.name.starts_with("art_0")).unwrap();
        assert!(!likeness(&art.image).low_information, "white art on transparency keeps its shape");
        assert!(to_rgb_on_white_is_blank(&art.image), "the fixture is white art");
    }

    fn to_rgb_on_white_is_blank(image: &image::RgbaImage) -> bool {
        picseek_imaging::to_rgb_on_white(DynamicImage::ImageRgba8(image.clone())).pixels().all(|p| p.0 == [255; 3])
    }

    #[test]
    fn alignment_undoes_a_shift_and_a_zoom() {
        let art = &lookalikes::originals()[0].image;
        let zoomed = lookalikes::CopyKind::Crop { percent: 6 }.apply(art);
        let a = likeness(art);
        let b = likeness(&zoomed);
        let t = align(&a.pyramid, &b.pyramid, &[COARSE_ROUNDS[0], FINE_ROUNDS[0], FINE_ROUNDS[1]], None).unwrap();
        assert!((t.scale - 0.94).abs() < 0.015, "{t:?}");
        assert!(t.dx.abs() >= 2.0 && t.dy.abs() >= 2.0, "the zoom was about a corner: {t:?}");
    }
}
