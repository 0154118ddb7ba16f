//! Embeddings out, in the layout clip-retrieval's inference writes (which autofaiss and
//! clip-retrieval's back end read): `img_emb/img_emb_0.npy`, the index's CLIP vectors as
//! float32 rows, and `metadata/metadata_0.parquet`, each row's image path and metadata
//! in the same order.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use picseek_index::Index;
use picseek_manifest::{EmbedderKind, write_atomic};

use crate::{ExportError, ExportOptions, ExportReport};

pub(crate) fn write(opts: &ExportOptions, report: &mut ExportReport) -> Result<(), ExportError> {
    let index_dir = opts.data.index();
    let index = Index::open(&index_dir)?;
    if index.manifest().embedder != EmbedderKind::Clip {
        return Err(ExportError::NotClip { path: index_dir });
    }
    let (rows, dimension) = (index.len(), index.manifest().dimension);
    let npy = opts.out.join("img_emb/img_emb_0.npy");
    let mut bytes = npy_header(rows, dimension);
    bytes.extend_from_slice(bytemuck::cast_slice(index.f32_vectors()));
    write_atomic(&npy, &bytes)?;
    report.files.push("img_emb/img_emb_0.npy".into());

    let items = &index.manifest().items;
    let text =
        |f: &dyn Fn(usize) -> Option<String>| -> ArrayRef { Arc::new((0..rows).map(f).collect::<StringArray>()) };
    let source = |i: usize| items[i].sources.first();
    let columns: Vec<ArrayRef> = vec![
        text(&|i| Some(index.item_path(i).display().to_string())),
        Arc::new((0..rows).map(|i| items[i].key).collect::<UInt64Array>()),
        text(&|i| Some(items[i].class.clone())),
        text(&|i| Some(items[i].sha256.clone())),
        text(&|i| source(i).map(|s| s.url.clone())),
        text(&|i| source(i).and_then(|s| s.owner_name.clone().or(s.owner.clone()))),
        text(&|i| source(i).and_then(|s| s.license.as_ref().map(|l| l.code.clone()))),
    ];
    let schema = Arc::new(Schema::new(vec![
        Field::new("image_path", DataType::Utf8, false),
        Field::new("key", DataType::UInt64, false),
        Field::new("class", DataType::Utf8, false),
        Field::new("sha256", DataType::Utf8, false),
        Field::new("url", DataType::Utf8, true),
        Field::new("owner", DataType::Utf8, true),
        Field::new("license", DataType::Utf8, true),
    ]));
    let failed = |e: String| ExportError::Io { path: opts.out.join("metadata"), source: std::io::Error::other(e) };
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| failed(e.to_string()))?;
    let mut parquet = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut parquet, schema, None).map_err(|e| failed(e.to_string()))?;
    writer.write(&batch).map_err(|e| failed(e.to_string()))?;
    writer.close().map_err(|e| failed(e.to_string()))?;
    write_atomic(&opts.out.join("metadata/metadata_0.parquet"), &parquet)?;
    report.files.push("metadata/metadata_0.parquet".into());
    report.samples.insert("index".into(), rows);
    Ok(())
}

/// NumPy's `.npy` header (format 1.0) for a C-order float32 matrix of `rows` x `columns`.
fn npy_header(rows: usize, columns: usize) -> Vec<u8> {
    let mut dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {columns}), }}");
    // Magic (6) + version (2) + length (2) + the dict and its newline: a multiple of 64.
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut header = b"\x93NUMPY\x01\x00".to_vec();
    header.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    header.extend_from_slice(dict.as_bytes());
    header
}
