//! The two ONNX encoders (image and text), run through ONNX Runtime, and the unit
//! length every CLIP vector is given.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::session::Session;
use ort::value::TensorRef;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::{ClipError, Device, ModelFiles, Preprocessing, bad_model, runtime};

/// CLIP's text context length, used when the text model does not fix its own.
const DEFAULT_CONTEXT_LENGTH: usize = 77;

/// Scales `v` to unit length (a zero vector stays zero).
pub fn l2_normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x = (f64::from(*x) / norm) as f32);
    }
}

fn open_session(path: &Path, threads: usize, device: Device) -> Result<Session, ClipError> {
    let (env, library) = runtime::environment(device)?;
    let failed = |e: ort::Error| bad_model(path, format!("ONNX Runtime cannot load it: {e}"));
    let mut builder =
        Session::builder(env).map_err(failed)?.with_intra_threads(threads.max(1)).map_err(|e| failed(e.into()))?;
    device.register(&mut builder, &library.display().to_string())?;
    builder.commit_from_file(path).map_err(failed)
}

/// The fixed size of dimension `axis` of a session input or output, if it is fixed.
fn fixed_dim(shape: Option<&ort::value::Shape>, axis: usize) -> Option<usize> {
    shape.and_then(|s| s.get(axis).copied()).and_then(|d| usize::try_from(d).ok()).filter(|&d| d > 0)
}

fn require_outlet<'s>(
    outlets: &'s [ort::value::Outlet],
    name: &str,
    path: &Path,
) -> Result<&'s ort::value::Outlet, ClipError> {
    outlets.iter().find(|o| o.name() == name).ok_or_else(|| {
        let names: Vec<&str> = outlets.iter().map(|o| o.name()).collect();
        bad_model(path, format!("it has no `{name}` (it has {})", names.join(", ")))
    })
}

/// Runs `session` and returns the rows of the 2-D f32 output `output`, each
/// L2-normalised.
/// Runs the model and returns one unit-length row per input: a model that gives another
/// number of rows, or rows of no width, is refused as broken.
fn run_embeddings(
    session: &Mutex<Session>,
    path: &Path,
    inputs: Vec<(std::borrow::Cow<'_, str>, ort::session::SessionInputValue<'_>)>,
    output: &str,
    expected_rows: usize,
) -> Result<Vec<Vec<f32>>, ClipError> {
    let failed = |e: ort::Error| ClipError::Inference { path: path.to_owned(), reason: e.to_string() };
    let mut session = session.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let outputs = session.run(inputs).map_err(failed)?;
    let (shape, values) = outputs[output].try_extract_tensor::<f32>().map_err(failed)?;
    let [rows, dim] = shape[..] else {
        return Err(bad_model(path, format!("`{output}` has shape {shape:?}, expected [batch, dimension]")));
    };
    let dim = usize::try_from(dim).unwrap_or(0);
    if usize::try_from(rows).ok() != Some(expected_rows) || dim == 0 || values.len() < expected_rows * dim {
        return Err(bad_model(
            path,
            format!("`{output}` has shape {shape:?} for {expected_rows} input(s): expected one non-empty row each"),
        ));
    }
    let mut vectors: Vec<Vec<f32>> = values.chunks_exact(dim.max(1)).take(rows as usize).map(<[f32]>::to_vec).collect();
    vectors.iter_mut().for_each(|v| l2_normalise(v));
    Ok(vectors)
}

/// `vision_model.onnx` and its preprocessing: images in, unit-length vectors out.
/// Safe to share between threads (runs are serialised; the model uses `threads` cores).
pub struct ImageEncoder {
    session: Mutex<Session>,
    path: PathBuf,
    preprocessing: Preprocessing,
    dimension: usize,
}

impl ImageEncoder {
    /// The input of preprocessed images.
    pub const INPUT: &'static str = "pixel_values";
    /// The output of image embeddings.
    pub const OUTPUT: &'static str = "image_embeds";

    /// Loads the vision model and its preprocessing from `files`, running on `device`
    /// (with `threads` cores for the CPU's share).
    pub fn load(files: &ModelFiles, threads: usize, device: Device) -> Result<Self, ClipError> {
        let preprocessing = Preprocessing::from_file(&files.require(ModelFiles::PREPROCESSOR)?)?;
        let path = files.require(files.vision())?;
        let session = open_session(&path, threads, device)?;
        let input = require_outlet(session.inputs(), Self::INPUT, &path)?;
        let size = preprocessing.image_size() as usize;
        for axis in [2, 3] {
            if let Some(d) = fixed_dim(input.dtype().tensor_shape(), axis).filter(|&d| d != size) {
                return Err(bad_model(
                    &path,
                    format!("`{}` takes {d} px images but preprocessor_config.json makes {size} px", Self::INPUT),
                ));
            }
        }
        let output = require_outlet(session.outputs(), Self::OUTPUT, &path)?;
        let fixed = fixed_dim(output.dtype().tensor_shape(), 1);
        let mut encoder = Self { session: Mutex::new(session), path, preprocessing, dimension: fixed.unwrap_or(0) };
        if fixed.is_none() {
            encoder.dimension = encoder.embed_pixel_values(&[vec![0.0; 3 * size * size]])?[0].len();
        }
        Ok(encoder)
    }

    /// The preprocessing the model expects.
    pub fn preprocessing(&self) -> &Preprocessing {
        &self.preprocessing
    }

    /// The width of the embeddings.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// Embeds preprocessed images (each from [`Preprocessing::pixel_values`]) in one run.
    pub fn embed_pixel_values(&self, images: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, ClipError> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let size = self.preprocessing.image_size() as usize;
        let batch: Vec<f32> = images.iter().flatten().copied().collect();
        let failed = |e: ort::Error| ClipError::Inference { path: self.path.clone(), reason: e.to_string() };
        let tensor = TensorRef::from_array_view(([images.len(), 3, size, size], batch.as_slice())).map_err(failed)?;
        run_embeddings(&self.session, &self.path, ort::inputs![Self::INPUT => tensor], Self::OUTPUT, images.len())
    }
}

/// `text_model.onnx` with `tokenizer.json`: texts in, unit-length vectors out.
pub struct TextEncoder {
    session: Mutex<Session>,
    path: PathBuf,
    tokenizer: Tokenizer,
    takes_attention_mask: bool,
}

impl TextEncoder {
    /// The input of token ids.
    pub const INPUT: &'static str = "input_ids";
    /// The attention mask input, where the export has one.
    pub const MASK: &'static str = "attention_mask";
    /// The output of text embeddings.
    pub const OUTPUT: &'static str = "text_embeds";

    /// Loads the tokenizer and the text model of `files`, running on `device` (with
    /// `threads` cores for the CPU's share).
    pub fn load(files: &ModelFiles, threads: usize, device: Device) -> Result<Self, ClipError> {
        let tokenizer_path = files.require(ModelFiles::TOKENIZER)?;
        let path = files.require(files.text())?;
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path).map_err(|e| bad_model(&tokenizer_path, e))?;
        let session = open_session(&path, threads, device)?;
        let input = require_outlet(session.inputs(), Self::INPUT, &path)?;
        require_outlet(session.outputs(), Self::OUTPUT, &path)?;
        let context = fixed_dim(input.dtype().tensor_shape(), 1).unwrap_or(DEFAULT_CONTEXT_LENGTH);
        // CLIP pads with its end-of-text token; a tokenizer that names its own padding keeps it.
        let (pad_id, pad_token) = match tokenizer.get_padding() {
            Some(p) => (p.pad_id, p.pad_token.clone()),
            None => {
                let token = "<|endoftext|>";
                (tokenizer.token_to_id(token).unwrap_or(0), token.to_owned())
            }
        };
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: context, ..Default::default() }))
            .map_err(|e| bad_model(&tokenizer_path, e))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::Fixed(context),
            pad_id,
            pad_token,
            ..Default::default()
        }));
        let takes_attention_mask = session.inputs().iter().any(|i| i.name() == Self::MASK);
        Ok(Self { session: Mutex::new(session), path, tokenizer, takes_attention_mask })
    }

    /// The token ids and attention mask `text` is given to the model as: special tokens
    /// added, truncated and padded to the context length.
    pub fn tokenize(&self, text: &str) -> Result<(Vec<i64>, Vec<i64>), ClipError> {
        let encoding =
            self.tokenizer.encode(text, true).map_err(|e| bad_model(&self.path, format!("cannot tokenise: {e}")))?;
        if !encoding.get_overflowing().is_empty() {
            // Offsets are in bytes of `text`; the special tokens' are empty.
            let last_kept = encoding.get_offsets().iter().map(|&(_, end)| end).max().unwrap_or(0);
            tracing::warn!(
                "the text is longer than the model's {} tokens: only {:?} is searched for, without {:?}",
                encoding.get_ids().len(),
                text.get(..last_kept).unwrap_or_default(),
                text.get(last_kept..).unwrap_or_default().trim()
            );
        }
        let ids = encoding.get_ids().iter().map(|&id| i64::from(id)).collect();
        let mask = encoding.get_attention_mask().iter().map(|&m| i64::from(m)).collect();
        Ok((ids, mask))
    }

    /// Tokenises `text` (padded or cut to the model's context length) and embeds it.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, ClipError> {
        let (ids, mask) = self.tokenize(text)?;
        let failed = |e: ort::Error| ClipError::Inference { path: self.path.clone(), reason: e.to_string() };
        let shape = [1, ids.len()];
        let mut inputs =
            ort::inputs![Self::INPUT => TensorRef::from_array_view((shape, ids.as_slice())).map_err(failed)?];
        if self.takes_attention_mask {
            inputs.push((
                Self::MASK.into(),
                TensorRef::from_array_view((shape, mask.as_slice())).map_err(failed)?.into(),
            ));
        }
        let mut vectors = run_embeddings(&self.session, &self.path, inputs, Self::OUTPUT, 1)?;
        Ok(vectors.remove(0))
    }
}
