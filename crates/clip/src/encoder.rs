//! The two ONNX encoders (image and text), run through ONNX Runtime, and the unit
//! length every CLIP vector is given.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::session::Session;
use ort::session::SessionInputValue;
use ort::value::{TensorElementType, TensorRef};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::files::OpenClipConfig;
use crate::language::TextLanguage;
use crate::{ClipError, Device, ModelFiles, Preprocessing, bad_model, runtime};

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

/// The embedding output: `preferred` (the Hugging Face export's name) where the model has
/// it, else its first output (Immich's `embedding`).
fn embedding_output(session: &Session, preferred: &str, path: &Path) -> Result<String, ClipError> {
    let outputs = session.outputs();
    outputs
        .iter()
        .find(|o| o.name() == preferred)
        .or(outputs.first())
        .map(|o| o.name().to_owned())
        .ok_or_else(|| bad_model(path, "it has no output"))
}

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

/// Token ids (or a mask) as the model takes them: 32-bit or 64-bit.
fn id_tensor<'a>(
    shape: [usize; 2],
    wide: &'a [i64],
    narrow: &'a [i32],
    int32: bool,
) -> Result<SessionInputValue<'a>, ort::Error> {
    Ok(match int32 {
        true => TensorRef::from_array_view((shape, narrow))?.into(),
        false => TensorRef::from_array_view((shape, wide))?.into(),
    })
}

/// An image encoder (`vision_model.onnx`, `visual/model.onnx`) and its preprocessing:
/// images in, unit-length vectors out. Safe to share between threads (runs are
/// serialised; the model uses `threads` cores).
pub struct ImageEncoder {
    session: Mutex<Session>,
    path: PathBuf,
    preprocessing: Preprocessing,
    input: String,
    output: String,
    /// Images per run where the model fixes it (Immich's exports take one at a time).
    fixed_batch: Option<usize>,
    dimension: usize,
}

impl ImageEncoder {
    /// The Hugging Face export's output of image embeddings (Immich's has one output).
    pub const OUTPUT: &'static str = "image_embeds";

    /// Loads the image encoder and its preprocessing from `files`, running on `device`
    /// (with `threads` cores for the CPU's share).
    pub fn load(files: &ModelFiles, threads: usize, device: Device) -> Result<Self, ClipError> {
        let preprocessing = Preprocessing::load(files)?;
        let path = files.require(files.vision())?;
        let session = open_session(&path, threads, device)?;
        let [input] = session.inputs() else {
            return Err(bad_model(&path, format!("it has {} inputs, not one image input", session.inputs().len())));
        };
        let shape = input.dtype().tensor_shape();
        if input.dtype().tensor_type() != Some(TensorElementType::Float32) || shape.is_none_or(|s| s.len() != 4) {
            return Err(bad_model(
                &path,
                format!("its input `{}` is not a float [batch, 3, height, width]", input.name()),
            ));
        }
        let size = preprocessing.image_size() as usize;
        for axis in [2, 3] {
            if let Some(d) = fixed_dim(shape, axis).filter(|&d| d != size) {
                return Err(bad_model(
                    &path,
                    format!("`{}` takes {d} px images but {} makes {size} px", input.name(), files.preprocessing()),
                ));
            }
        }
        let (input, fixed_batch) = (input.name().to_owned(), fixed_dim(shape, 0));
        let output = embedding_output(&session, Self::OUTPUT, &path)?;
        let fixed =
            fixed_dim(session.outputs().iter().find(|o| o.name() == output).and_then(|o| o.dtype().tensor_shape()), 1);
        let mut encoder = Self {
            session: Mutex::new(session),
            path,
            preprocessing,
            input,
            output,
            fixed_batch,
            dimension: fixed.unwrap_or(0),
        };
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

    /// Embeds preprocessed images (each from [`Preprocessing::pixel_values`]), in runs of
    /// the model's fixed batch where it has one (the last padded with blank images whose
    /// vectors are dropped), else in one run.
    pub fn embed_pixel_values(&self, images: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, ClipError> {
        let size = self.preprocessing.image_size() as usize;
        let run = self.fixed_batch.unwrap_or(images.len()).max(1);
        let blank = vec![0.0; 3 * size * size];
        let mut vectors = Vec::with_capacity(images.len());
        for chunk in images.chunks(run) {
            let mut batch: Vec<f32> = chunk.iter().flatten().copied().collect();
            (chunk.len()..run).for_each(|_| batch.extend_from_slice(&blank));
            let failed = |e: ort::Error| ClipError::Inference { path: self.path.clone(), reason: e.to_string() };
            let tensor = TensorRef::from_array_view(([run, 3, size, size], batch.as_slice())).map_err(failed)?;
            let inputs = ort::inputs![self.input.as_str() => tensor];
            let mut rows = run_embeddings(&self.session, &self.path, inputs, &self.output, run)?;
            rows.truncate(chunk.len());
            vectors.extend(rows);
        }
        Ok(vectors)
    }
}

/// How a text is turned into the text encoder's inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TextInputs {
    /// The token ids' input: `input_ids` (Hugging Face, M-CLIP) or `text` (OpenCLIP).
    ids: String,
    /// The attention mask's input, where the model has one.
    mask: Option<String>,
    /// 32-bit ids (Immich's exports) rather than 64-bit (Hugging Face's).
    int32: bool,
    /// Whitespace runs made one space first, and with `canonicalize` punctuation dropped
    /// and letters lower-cased, as Immich's `clean_text` does (OpenCLIP folders only).
    clean: Option<bool>,
    /// NLLB's tokenizer: a language code goes in front of the text.
    nllb: bool,
}

/// A text encoder (`text_model.onnx`, `textual/model.onnx`) with its tokenizer: texts in,
/// unit-length vectors out.
pub struct TextEncoder {
    session: Mutex<Session>,
    path: PathBuf,
    tokenizer: Tokenizer,
    inputs: TextInputs,
    output: String,
    language: Option<TextLanguage>,
}

impl TextEncoder {
    /// The token ids' input of the Hugging Face export and M-CLIP.
    pub const INPUT: &'static str = "input_ids";
    /// OpenCLIP's token ids' input (Immich's CLIP, SigLIP and NLLB folders).
    pub const OPEN_CLIP_INPUT: &'static str = "text";
    /// The attention mask input, where the model has one.
    pub const MASK: &'static str = "attention_mask";
    /// The Hugging Face export's output of text embeddings (Immich's has one output).
    pub const OUTPUT: &'static str = "text_embeds";

    /// Loads the tokenizer and the text encoder of `files`, running on `device` (with
    /// `threads` cores for the CPU's share). The tokenizer pads and cuts to the model's
    /// context length: the one its input fixes, else the OpenCLIP configuration's, else
    /// the tokenizer's own fixed padding or truncation (SigLIP's 64), else 77; with the
    /// tokenizer's own padding token, else the OpenCLIP folder's `pad_token`, else CLIP's
    /// end-of-text.
    pub fn load(files: &ModelFiles, threads: usize, device: Device) -> Result<Self, ClipError> {
        let tokenizer_path = files.require(files.tokenizer())?;
        let open_clip = files.open_clip_config()?;
        let pad_token = files.pad_token()?;
        let path = files.require(files.text())?;
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path).map_err(|e| bad_model(&tokenizer_path, e))?;
        let session = open_session(&path, threads, device)?;
        let ids = [Self::INPUT, Self::OPEN_CLIP_INPUT]
            .into_iter()
            .find_map(|name| session.inputs().iter().find(|i| i.name() == name))
            .ok_or_else(|| {
                let names: Vec<&str> = session.inputs().iter().map(|o| o.name()).collect();
                bad_model(&path, format!("it has no `input_ids` nor `text` input (it has {})", names.join(", ")))
            })?;
        let int32 = match ids.dtype().tensor_type() {
            Some(TensorElementType::Int32) => true,
            Some(TensorElementType::Int64) => false,
            other => return Err(bad_model(&path, format!("its `{}` takes {other:?}, not integer ids", ids.name()))),
        };
        let own_padding = tokenizer.get_padding().and_then(|p| match p.strategy {
            PaddingStrategy::Fixed(n) => Some(n),
            PaddingStrategy::BatchLongest => None,
        });
        let context = fixed_dim(ids.dtype().tensor_shape(), 1)
            .or(open_clip.as_ref().map(|c| c.context_length))
            .or(own_padding)
            .or(tokenizer.get_truncation().map(|t| t.max_length))
            .unwrap_or(OpenClipConfig::DEFAULT_CONTEXT_LENGTH);
        let (pad_id, pad_token) = match (tokenizer.get_padding(), pad_token) {
            (Some(p), _) => (p.pad_id, p.pad_token.clone()),
            (None, Some(token)) => match tokenizer.token_to_id(&token) {
                Some(id) => (id, token),
                None => return Err(bad_model(&tokenizer_path, format!("its padding token {token:?} is not in it"))),
            },
            (None, None) => {
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
        let inputs = TextInputs {
            ids: ids.name().to_owned(),
            mask: session.inputs().iter().any(|i| i.name() == Self::MASK).then(|| Self::MASK.to_owned()),
            int32,
            clean: open_clip.as_ref().map(|c| c.canonicalize),
            nllb: open_clip.as_ref().is_some_and(|c| c.nllb),
        };
        let output = embedding_output(&session, Self::OUTPUT, &path)?;
        Ok(Self { session: Mutex::new(session), path, tokenizer, inputs, output, language: None })
    }

    /// Puts `language`'s code in front of every text, for NLLB's tokenizer (other
    /// tokenizers take none: it is ignored, with a warning).
    pub fn with_language(mut self, language: Option<TextLanguage>) -> Self {
        if language.is_some() && !self.inputs.nllb {
            tracing::warn!("{}: only NLLB models take a text language; it is ignored", self.path.display());
        }
        self.language = language.filter(|_| self.inputs.nllb);
        self
    }

    /// Whether the tokenizer is NLLB's, which takes a language.
    pub fn takes_language(&self) -> bool {
        self.inputs.nllb
    }

    /// The text as the tokenizer is given it: cleaned as the folder's own code does,
    /// with NLLB's language code in front.
    fn prepared(&self, text: &str) -> String {
        let Some(canonicalize) = self.inputs.clean else { return text.to_owned() };
        // Python's `str.split()` also splits on the four separator controls.
        let words = text.split(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c));
        let mut cleaned = words.filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ");
        if canonicalize {
            cleaned = cleaned.chars().filter(|c| !c.is_ascii_punctuation()).collect::<String>().to_lowercase();
        }
        match &self.language {
            Some(language) => format!("{}{cleaned}", language.flores_code()),
            None => cleaned,
        }
    }

    /// The token ids and attention mask `text` is given to the model as: cleaned as the
    /// layout says, special tokens added, truncated and padded to the context length.
    pub fn tokenize(&self, text: &str) -> Result<(Vec<i64>, Vec<i64>), ClipError> {
        let prepared = self.prepared(text);
        let encoding = self
            .tokenizer
            .encode(prepared.as_str(), true)
            .map_err(|e| bad_model(&self.path, format!("cannot tokenise: {e}")))?;
        if !encoding.get_overflowing().is_empty() {
            // Offsets are in bytes of `prepared`; the special tokens' are empty.
            let last_kept = encoding.get_offsets().iter().map(|&(_, end)| end).max().unwrap_or(0);
            tracing::warn!(
                "the text is longer than the model's {} tokens: only {:?} is searched for, without {:?}",
                encoding.get_ids().len(),
                prepared.get(..last_kept).unwrap_or_default(),
                prepared.get(last_kept..).unwrap_or_default().trim()
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
        let narrow = |values: &[i64]| values.iter().map(|&v| v as i32).collect::<Vec<i32>>();
        let (ids32, mask32) = (narrow(&ids), narrow(&mask));
        let int32 = self.inputs.int32;
        let mut inputs: Vec<(std::borrow::Cow<'_, str>, SessionInputValue<'_>)> =
            vec![(self.inputs.ids.as_str().into(), id_tensor(shape, &ids, &ids32, int32).map_err(failed)?)];
        if let Some(mask_input) = &self.inputs.mask {
            inputs.push((mask_input.as_str().into(), id_tensor(shape, &mask, &mask32, int32).map_err(failed)?));
        }
        let mut vectors = run_embeddings(&self.session, &self.path, inputs, &self.output, 1)?;
        Ok(vectors.remove(0))
    }

    /// The width of the embeddings (the model's fixed width, else that of an empty text's).
    pub fn dimension(&self) -> Result<usize, ClipError> {
        let session = self.session.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let output = session.outputs().iter().find(|o| o.name() == self.output);
        let fixed = fixed_dim(output.and_then(|o| o.dtype().tensor_shape()), 1);
        drop(session);
        match fixed {
            Some(d) => Ok(d),
            None => Ok(self.embed("")?.len()),
        }
    }
}
