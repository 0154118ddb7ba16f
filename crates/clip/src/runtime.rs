//! Finding and loading ONNX Runtime's shared library.
//!
//! ort is built with `load-dynamic`: nothing is linked at build time and the library
//! is opened on first use. ort panics when `dlopen` fails, so the path is checked here
//! first and a missing library becomes a [`ClipError::RuntimeMissing`] that says how
//! to install it.

use std::path::PathBuf;
use std::sync::OnceLock;

use ort::environment::Environment;

use crate::{ClipError, Device};

/// The variable that keeps ONNX Runtime (1.31) from writing a telemetry device id and
/// event store under `~/.cache/Microsoft/`: `with_telemetry(false)` only stops events
/// after the environment exists, while the files are written as it is created. A
/// program sets it to `1` before it starts any thread (setting a variable is only sound
/// then), as picseek's `main` does.
pub const TELEMETRY_OPT_OUT_VARIABLE: &str = "ORT_DISABLE_TELEMETRY";

/// Where `scripts/setup.sh` installs the library, relative to the repository.
const REPO_LIBRARY: &str = ".local/onnxruntime/lib/libonnxruntime.so";
/// Where `scripts/setup.sh --gpu` installs the GPU build (with its CUDA provider).
const REPO_GPU_LIBRARY: &str = ".local/onnxruntime-gpu/lib/libonnxruntime.so";

/// The places searched for a model to run on `device`: `ORT_DYLIB_PATH` alone when it
/// is set (a user's explicit choice is never silently passed over), else
/// `libonnxruntime.so` next to the executable, else the `.local/` of the source tree
/// this binary was built from; for CUDA the GPU build first (`onnxruntime-gpu/` next to
/// the executable, `.local/onnxruntime-gpu/`). Never the current directory: running
/// picseek inside a downloaded folder must not run that folder's code.
pub fn library_candidates(device: Device) -> Vec<PathBuf> {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(path)];
    }
    let exe_dir = std::env::current_exe().ok().and_then(|exe| Some(exe.parent()?.to_owned()));
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut places = Vec::new();
    if matches!(device, Device::Cuda { .. }) {
        places.extend(exe_dir.iter().map(|d| d.join("onnxruntime-gpu/libonnxruntime.so")));
        places.push(repo.join(REPO_GPU_LIBRARY));
    }
    places.extend(exe_dir.iter().map(|d| d.join("libonnxruntime.so")));
    places.push(repo.join(REPO_LIBRARY));
    places
}

/// The library [`environment`] would load for `device`: the first of
/// [`library_candidates`] that exists.
pub fn library_path(device: Device) -> Option<PathBuf> {
    library_candidates(device).into_iter().find(|p| p.is_file())
}

/// The process-wide ONNX Runtime environment and the library it came from, loading the
/// library on the first call (whose `device` decides which build: one process runs its
/// models on one device).
pub fn environment(device: Device) -> Result<&'static (Environment, PathBuf), ClipError> {
    static ENVIRONMENT: OnceLock<Result<(Environment, PathBuf), ClipError>> = OnceLock::new();
    ENVIRONMENT.get_or_init(|| load(device)).as_ref().map_err(clone_error)
}

fn load(device: Device) -> Result<(Environment, PathBuf), ClipError> {
    let Some(path) = library_path(device) else {
        let looked_in =
            library_candidates(device).iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
        return Err(ClipError::RuntimeMissing { looked_in });
    };
    let unusable = |reason: String| ClipError::RuntimeUnusable { path: path.clone(), reason };
    let environment = ort::init_from(&path)
        .map_err(|e| unusable(e.to_string()))?
        .with_name("picseek")
        // ONNX Runtime would otherwise write a device id and event store under
        // ~/.cache/Microsoft on every session; picseek never asked for that.
        .with_telemetry(false)
        .build()
        .map_err(|e| unusable(e.to_string()))?;
    tracing::debug!("loaded ONNX Runtime from {}", path.display());
    Ok((environment, path.canonicalize().unwrap_or(path)))
}

/// The cached load error, again (the first call's error is kept for every later call).
fn clone_error(e: &ClipError) -> ClipError {
    match e {
        ClipError::RuntimeMissing { looked_in } => ClipError::RuntimeMissing { looked_in: looked_in.clone() },
        ClipError::RuntimeUnusable { path, reason } => {
            ClipError::RuntimeUnusable { path: path.clone(), reason: reason.clone() }
        }
        other => ClipError::RuntimeUnusable { path: PathBuf::new(), reason: other.to_string() },
    }
}
