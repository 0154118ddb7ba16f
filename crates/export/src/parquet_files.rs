//! Parquet: one file per side (`<side>.parquet`), row groups of at most `shard_size`
//! rows, with each image's bytes and the same metadata as columns (written with the
//! `arrow` and `parquet` crates; read by pyarrow, `datasets`, DataChain…).

use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, BinaryArray, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use picseek_manifest::TEMPORARY_PREFIX;
use picseek_manifest::progress::Task;

use crate::samples::Sample;
use crate::{ExportError, ExportOptions, ExportReport, Side, io_error};

/// The columns, in order.
fn schema() -> Arc<Schema> {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        Field::new("image", DataType::Binary, false),
        Field::new("file_name", DataType::Utf8, false),
        Field::new("label", DataType::Utf8, false),
        text("source_url"),
        text("page"),
        text("owner"),
        text("owner_name"),
        text("title"),
        text("license"),
        text("license_name"),
        text("license_url"),
        Field::new("sha256", DataType::Utf8, false),
        Field::new("width", DataType::UInt32, false),
        Field::new("height", DataType::UInt32, false),
        Field::new("quality_flags", DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), false),
    ]))
}

pub(crate) fn write(
    opts: &ExportOptions,
    sides: &[(Side, Vec<Sample>)],
    progress: &dyn Task,
    report: &mut ExportReport,
) -> Result<(), ExportError> {
    for (side, samples) in sides {
        let name = format!("{}.parquet", side.name());
        let path = opts.out.join(&name);
        let temporary = opts.out.join(format!("{TEMPORARY_PREFIX}{name}"));
        let file = std::fs::File::create(&temporary).map_err(io_error(&temporary))?;
        let failed = |e: parquet::errors::ParquetError| ExportError::Io {
            path: temporary.clone(),
            source: std::io::Error::other(e.to_string()),
        };
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(opts.shard_size))
            .build();
        let mut writer = ArrowWriter::try_new(file, schema(), Some(properties)).map_err(failed)?;
        // A row group at a time: only its images are in memory.
        for chunk in samples.chunks(opts.shard_size) {
            writer.write(&batch(chunk)?).map_err(failed)?;
            progress.advance(chunk.len() as u64);
        }
        writer.close().map_err(failed)?;
        std::fs::rename(&temporary, &path).map_err(io_error(&path))?;
        report.files.push(name);
    }
    Ok(())
}

fn batch(samples: &[Sample]) -> Result<RecordBatch, ExportError> {
    let images: Vec<Vec<u8>> =
        samples.iter().map(|s| std::fs::read(&s.path).map_err(io_error(&s.path))).collect::<Result<_, _>>()?;
    let text =
        |f: fn(&Sample) -> Option<&str>| -> ArrayRef { Arc::new(samples.iter().map(f).collect::<StringArray>()) };
    let mut flags = ListBuilder::new(StringBuilder::new());
    for sample in samples {
        for flag in &sample.metadata.quality_flags {
            flags.values().append_value(flag);
        }
        flags.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(BinaryArray::from_iter_values(images.iter())),
        text(|s| Some(&s.metadata.file_name)),
        text(|s| Some(&s.metadata.label)),
        text(|s| s.metadata.source_url.as_deref()),
        text(|s| s.metadata.page.as_deref()),
        text(|s| s.metadata.owner.as_deref()),
        text(|s| s.metadata.owner_name.as_deref()),
        text(|s| s.metadata.title.as_deref()),
        text(|s| s.metadata.license.as_deref()),
        text(|s| s.metadata.license_name.as_deref()),
        text(|s| s.metadata.license_url.as_deref()),
        text(|s| Some(&s.metadata.sha256)),
        Arc::new(samples.iter().map(|s| s.metadata.width).collect::<UInt32Array>()),
        Arc::new(samples.iter().map(|s| s.metadata.height).collect::<UInt32Array>()),
        Arc::new(flags.finish()),
    ];
    RecordBatch::try_new(schema(), columns)
        .map_err(|e| ExportError::Io { path: samples[0].path.clone(), source: std::io::Error::other(e.to_string()) })
}
