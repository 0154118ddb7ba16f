//! The `--plot` picture: the query and its results as a grid of rows, each picture
//! labelled with rank and score, its class and its file name, wrapped to the cell's
//! width rather than cut, in a bitmap font compiled into the binary (no font files
//! needed). When the query's class is known, it is named in the query's cell and every
//! result of that class is marked with a bar.

use std::path::{Path, PathBuf};

use font8x8::UnicodeFonts;
use image::{ImageFormat, Rgb, RgbImage};
use picseek_imaging::{DEFAULT_MAX_DECODE_BYTES, ImageError, decode, decode_rgb_file, resize_exact, to_rgb_on_white};

use crate::Hit;

/// Side of the square each picture is fitted into.
pub const CELL: u32 = 224;
/// Space around and between cells.
pub const MARGIN: u32 = 8;
/// Cells per row (the query's included).
pub const COLUMNS: u32 = 5;
/// Height of a label line: 8 px glyphs drawn at scale 2, and 2 px between lines.
pub const LINE_HEIGHT: u32 = 8 * SCALE + 2;
/// Height of the bar under a result of the query's class.
pub const MATCH_BAR: u32 = 6;
const SCALE: u32 = 2;
/// Characters per label line.
const LINE_CHARS: usize = (CELL / (8 * SCALE)) as usize;
const INK: Rgb<u8> = Rgb([20, 20, 20]);
const QUERY_FRAME: Rgb<u8> = Rgb([30, 110, 220]);
/// The bar under results of the query's class.
pub const MATCH_COLOUR: Rgb<u8> = Rgb([40, 170, 70]);

/// What the first cell of a sheet shows.
#[derive(Debug, Clone, Copy)]
pub enum SheetQuery<'a> {
    /// An image, drawn in the cell, and the query's label.
    Image {
        /// The query as written.
        label: &'a str,
        /// The image's bytes.
        bytes: &'a [u8],
    },
    /// A text (or a combined query), written into the cell.
    Text(&'a str),
}

/// A plot file name whose extension is neither PNG nor JPEG.
#[derive(Debug, thiserror::Error)]
#[error("{path}: a plot is written as PNG (.png) or JPEG (.jpg, .jpeg); name the file so")]
pub struct PlotFormatError {
    /// The file asked for.
    pub path: PathBuf,
}

/// The image format a plot file's extension asks for.
pub fn sheet_format(path: &Path) -> Result<ImageFormat, PlotFormatError> {
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("png") => Ok(ImageFormat::Png),
        Some("jpg" | "jpeg") => Ok(ImageFormat::Jpeg),
        _ => Err(PlotFormatError { path: path.to_owned() }),
    }
}

/// One cell: a picture (or none) and the lines under it.
struct Cell {
    image: Option<RgbImage>,
    label: Vec<String>,
    text_inside: Option<&'static str>,
    frame: bool,
    matches: bool,
}

/// `text` broken into lines of the cell's width: after a space, or after the `_`, `-`,
/// `.` or `/` that join the parts of a name, where it can; inside a part only where one
/// is longer than a line. Nothing is cut off.
fn wrap(text: &str) -> Vec<String> {
    let mut pieces: Vec<Vec<char>> = vec![Vec::new()];
    for c in text.chars() {
        pieces.last_mut().expect("never empty").push(c);
        if c == ' ' || "_-./".contains(c) {
            pieces.push(Vec::new());
        }
    }
    let mut lines: Vec<Vec<char>> = vec![Vec::new()];
    for mut piece in pieces {
        let line = lines.last_mut().expect("never empty");
        let visible = piece.iter().rev().skip_while(|c| **c == ' ').count();
        if !line.is_empty() && line.len() + visible > LINE_CHARS {
            lines.push(Vec::new());
        }
        let line = lines.last_mut().expect("never empty");
        if line.len() + visible <= LINE_CHARS {
            // Its trailing space may pass the edge: it is trimmed, never drawn.
            line.append(&mut piece);
        }
        while !piece.is_empty() {
            let line = lines.last_mut().expect("never empty");
            let room = LINE_CHARS.saturating_sub(line.len());
            if room == 0 {
                lines.push(Vec::new());
                continue;
            }
            line.extend(piece.drain(..room.min(piece.len())));
        }
    }
    lines
        .into_iter()
        .map(|l| l.into_iter().collect::<String>().trim_end().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Draws the sheet: the query first (framed), then each hit in rank order, `COLUMNS`
/// cells a row; each row is as tall as its longest label. A result image that cannot
/// be read is drawn as a grey box, still labelled.
pub fn contact_sheet(
    query: SheetQuery,
    query_class: Option<&str>,
    metric: crate::Metric,
    hits: &[Hit],
) -> Result<RgbImage, ImageError> {
    let mut cells = Vec::with_capacity(hits.len() + 1);
    let mut query_label = Vec::new();
    let query_image = match query {
        SheetQuery::Image { label, bytes } => {
            let path = Path::new(label);
            query_label.extend(wrap(&format!("query: {label}")));
            Some(to_rgb_on_white(decode(path, bytes, DEFAULT_MAX_DECODE_BYTES)?.image))
        }
        SheetQuery::Text(text) => {
            query_label.extend(wrap(&format!("query: {text}")));
            None
        }
    };
    if let Some(class) = query_class {
        query_label.extend(wrap(&format!("class: {class}")));
    }
    let closer = if metric.larger_is_closer() { "larger" } else { "smaller" };
    query_label.extend(wrap(&format!("{metric}: {closer} is closer")));
    let text_inside = matches!(query, SheetQuery::Text(_)).then_some("text query");
    cells.push(Cell { image: query_image, label: query_label, text_inside, frame: true, matches: false });
    for hit in hits {
        let image = decode_rgb_file(Path::new(&hit.path), DEFAULT_MAX_DECODE_BYTES)
            .inspect_err(|e| tracing::warn!("plot: {e}"))
            .ok();
        let file = Path::new(&hit.path).file_name().map_or(hit.path.clone(), |n| n.to_string_lossy().into_owned());
        let mut label = wrap(&format!("#{} {:.4}", hit.rank, hit.score));
        label.extend(wrap(&hit.class));
        label.extend(wrap(&file));
        if let Some(owner) = hit.source.as_ref().and_then(|s| s.owner_name.as_ref().or(s.owner.as_ref())) {
            label.extend(wrap(&format!("by {owner}")));
        }
        cells.push(Cell {
            image,
            label,
            text_inside: None,
            frame: false,
            matches: query_class == Some(hit.class.as_str()),
        });
    }

    let rows: Vec<&[Cell]> = cells.chunks(COLUMNS as usize).collect();
    let row_height =
        |row: &[Cell]| CELL + MATCH_BAR + 4 + row.iter().map(|c| c.label.len() as u32).max().unwrap_or(0) * LINE_HEIGHT;
    let columns = (cells.len() as u32).min(COLUMNS);
    let width = MARGIN + columns * (CELL + MARGIN);
    let height = MARGIN + rows.iter().map(|r| row_height(r) + MARGIN).sum::<u32>();
    let mut sheet = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    let mut y0 = MARGIN;
    for row in rows {
        for (column, cell) in row.iter().enumerate() {
            let x0 = MARGIN + column as u32 * (CELL + MARGIN);
            draw_cell(&mut sheet, x0, y0, cell);
        }
        y0 += row_height(row) + MARGIN;
    }
    if let SheetQuery::Text(text) = query {
        // The text also fills the query's cell, where the picture would be.
        for (line, text) in wrap(text).iter().take(((CELL - 40) / LINE_HEIGHT) as usize).enumerate() {
            draw_text(&mut sheet, MARGIN + 8, MARGIN + 32 + line as u32 * LINE_HEIGHT, text);
        }
    }
    Ok(sheet)
}

fn draw_cell(sheet: &mut RgbImage, x0: u32, y0: u32, cell: &Cell) {
    match &cell.image {
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
            let grey = if cell.text_inside.is_some() { Rgb([240, 240, 240]) } else { Rgb([200, 200, 200]) };
            image::imageops::overlay(sheet, &RgbImage::from_pixel(CELL, CELL, grey), i64::from(x0), i64::from(y0));
        }
    }
    if let Some(text) = cell.text_inside {
        draw_text(sheet, x0 + 8, y0 + 8, text);
    }
    if cell.frame {
        frame(sheet, x0, y0, QUERY_FRAME);
    }
    if cell.matches {
        let bar = RgbImage::from_pixel(CELL, MATCH_BAR, MATCH_COLOUR);
        image::imageops::overlay(sheet, &bar, i64::from(x0), i64::from(y0 + CELL));
    }
    for (line, text) in cell.label.iter().enumerate() {
        draw_text(sheet, x0, y0 + CELL + MATCH_BAR + 4 + line as u32 * LINE_HEIGHT, text);
    }
}

/// Draws one line of text from (x, y); callers wrap it to the cell's width first.
fn draw_text(sheet: &mut RgbImage, x: u32, y: u32, text: &str) {
    for (i, c) in text.chars().take(LINE_CHARS).enumerate() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_wrap_instead_of_being_cut() {
        assert_eq!(wrap("recreation_sports"), vec!["recreation_", "sports"]);
        assert_eq!(wrap("signs_and_symbols_map_symbols"), vec!["signs_and_", "symbols_map_", "symbols"]);
        assert_eq!(wrap("abcdefghijklmnopqrstu"), vec!["abcdefghijklmn", "opqrstu"]);
        assert_eq!(wrap("cosine: larger is closer"), vec!["cosine: larger", "is closer"]);
        assert_eq!(wrap("a red fox in the snow"), vec!["a red fox in", "the snow"]);
    }

    #[test]
    fn the_format_follows_the_extension() {
        assert_eq!(sheet_format(Path::new("a.PNG")).unwrap(), ImageFormat::Png);
        assert_eq!(sheet_format(Path::new("a.jpeg")).unwrap(), ImageFormat::Jpeg);
        assert!(sheet_format(Path::new("a.gif")).unwrap_err().to_string().contains(".png"));
        assert!(sheet_format(Path::new("plot")).is_err());
    }
}
