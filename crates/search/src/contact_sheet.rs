//! The `--plot` picture: the query beside its results, each labelled with rank, class
//! and score, in a bitmap font compiled into the binary (no font files needed).

use std::path::Path;

use font8x8::UnicodeFonts;
use image::{Rgb, RgbImage};
use picseek_imaging::{DEFAULT_MAX_DECODE_BYTES, ImageError, decode_rgb_file, resize_exact};

use crate::Hit;

/// Side of the square each picture is fitted into.
pub const CELL: u32 = 224;
/// Height of the label strip under each picture.
pub const LABEL_HEIGHT: u32 = 40;
/// Space around and between cells.
pub const MARGIN: u32 = 8;
/// Glyphs are 8 x 8 pixels drawn at this scale.
const SCALE: u32 = 2;
const INK: Rgb<u8> = Rgb([20, 20, 20]);
const QUERY_FRAME: Rgb<u8> = Rgb([30, 110, 220]);

/// The size of a sheet with `results` results.
fn sheet_size(results: usize) -> (u32, u32) {
    let cells = results as u32 + 1;
    (MARGIN + cells * (CELL + MARGIN), MARGIN + CELL + LABEL_HEIGHT + MARGIN)
}

/// What the first cell of a sheet shows.
#[derive(Debug, Clone, Copy)]
pub enum SheetQuery<'a> {
    /// An image file, drawn in the cell.
    Image(&'a Path),
    /// A text query, written into the cell.
    Text(&'a str),
}

/// Draws the sheet: the query first (framed), then each hit in rank order. A result
/// image that cannot be read is drawn as a grey box, still labelled.
pub fn contact_sheet(query: SheetQuery, hits: &[Hit]) -> Result<RgbImage, ImageError> {
    let (width, height) = sheet_size(hits.len());
    let mut sheet = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    match query {
        SheetQuery::Image(path) => {
            let query_image = decode_rgb_file(path, DEFAULT_MAX_DECODE_BYTES)?;
            draw_cell(&mut sheet, 0, Some(&query_image), ["query", ""]);
        }
        SheetQuery::Text(text) => {
            draw_cell(&mut sheet, 0, None, ["text query", ""]);
            let per_line = (CELL / (8 * SCALE)) as usize - 1;
            let chars: Vec<char> = text.chars().collect();
            for (line, chunk) in chars.chunks(per_line).take(((CELL - 16) / (8 * SCALE + 2)) as usize).enumerate() {
                let line_text: String = chunk.iter().collect();
                draw_text(&mut sheet, MARGIN + 8, MARGIN + 8 + line as u32 * (8 * SCALE + 2), &line_text);
            }
        }
    }
    frame(&mut sheet, MARGIN, MARGIN, QUERY_FRAME);
    for (i, hit) in hits.iter().enumerate() {
        let image = decode_rgb_file(Path::new(&hit.path), DEFAULT_MAX_DECODE_BYTES)
            .inspect_err(|e| tracing::warn!("plot: {e}"))
            .ok();
        let first = format!("#{} {:.4}", hit.rank, hit.score);
        draw_cell(&mut sheet, i as u32 + 1, image.as_ref(), [&first, &hit.class]);
    }
    Ok(sheet)
}

fn draw_cell(sheet: &mut RgbImage, index: u32, image: Option<&RgbImage>, label: [&str; 2]) {
    let (x0, y0) = (MARGIN + index * (CELL + MARGIN), MARGIN);
    match image {
        Some(image) => {
            // Fit inside the cell, keeping the aspect ratio.
            let scale = f64::from(CELL) / f64::from(image.width().max(image.height()));
            let (w, h) = (
                ((f64::from(image.width()) * scale).round() as u32).clamp(1, CELL),
                ((f64::from(image.height()) * scale).round() as u32).clamp(1, CELL),
            );
            let fitted = resize_exact(image, w, h);
            image::imageops::overlay(sheet, &fitted, i64::from(x0 + (CELL - w) / 2), i64::from(y0 + (CELL - h) / 2));
        }
        None => {
            let grey = RgbImage::from_pixel(CELL, CELL, Rgb([200, 200, 200]));
            image::imageops::overlay(sheet, &grey, i64::from(x0), i64::from(y0));
        }
    }
    for (line, text) in label.iter().enumerate() {
        draw_text(sheet, x0, y0 + CELL + 4 + line as u32 * (8 * SCALE + 2), text);
    }
}

/// Draws `text` from (x, y), cut to the cell's width.
fn draw_text(sheet: &mut RgbImage, x: u32, y: u32, text: &str) {
    let max_chars = (CELL / (8 * SCALE)) as usize;
    for (i, c) in text.chars().take(max_chars).enumerate() {
        let glyph = font8x8::BASIC_FONTS.get(c).or_else(|| font8x8::LATIN_FONTS.get(c)).unwrap_or([0xFF; 8]);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) == 0 {
                    continue;
                }
                for dy in 0..SCALE {
                    for dx in 0..SCALE {
                        let px = x + (i as u32 * 8 + col) * SCALE + dx;
                        let py = y + row as u32 * SCALE + dy;
                        if px < sheet.width() && py < sheet.height() {
                            sheet.put_pixel(px, py, INK);
                        }
                    }
                }
            }
        }
    }
}

fn frame(sheet: &mut RgbImage, x0: u32, y0: u32, colour: Rgb<u8>) {
    for t in 0..3 {
        for i in 0..CELL {
            for (x, y) in [(x0 + i, y0 + t), (x0 + i, y0 + CELL - 1 - t), (x0 + t, y0 + i), (x0 + CELL - 1 - t, y0 + i)]
            {
                sheet.put_pixel(x, y, colour);
            }
        }
    }
}
