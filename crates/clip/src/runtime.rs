//! Finding and loading ONNX Runtime's shared library.
//!
//! ort is built with `load-dynamic`: nothing is linked at build time and the library
//! is opened on first use. ort panics when `dlopen` fails, so the path is checked here
//! first and a missing library becomes a [`ClipError::RuntimeMissing`] that says how
//! to install it.

use std::path::PathBuf;
use std::sync::OnceLock;

use ort::environment::Environment;

use crate::ClipError;

/// The variable that keeps ONNX Runtime (1.31) from writing a telemetry device id and
/// event store under `~/.cache/Microsoft/`: `with_telemetry(false)` only stops events
/// after the environment exists, while the files are written as it is created. A
/// program sets it to `1` before it starts any thread (setting a variable is only sound
/// then), as picseek's `main` does.
pub const TELEMETRY_OPT_OUT_VARIABLE: &str = "ORT_DISABLE_TELEMETRY";

/// Where `scripts/setup.sh` installs the library, relative to the repository.
const REPO_LIBRARY: &str = ".local/onnxruntime/lib/libonnxruntime.so";

/// The places searched: `ORT_DYLIB_PATH` alone when it is set (a user's explicit
/// choice is never silently passed over), else `libonnxruntime.so` next to the
/// executable, else the `.local/` of the source tree this binary was built from. Never
/// the current directory: running picseek inside a downloaded folder must not run that
/// folder's code.
pub fn library_candidates() -> Vec<PathBuf> {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(path)];
    }
    let beside_executable = std::env::current_exe().ok().and_then(|exe| Some(exe.parent()?.join("libonnxruntime.so")));
    beside_executable
        .into_iter()
        .chain([PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(REPO_LIBRARY)])
        .collect()
}

/// The library [`environment`] would load: the first of [`library_candidates`] that exists.
pub fn library_path() -> Option<PathBuf> {
    library_candidates().into_iter().find(|p| p.is_file())
}

/// The process-wide ONNX Runtime environment, loading the library on first call.
pub fn environment() -> Result<&'static Environment, ClipError> {
    static ENVIRONMENT: OnceLock<Result<Environment, ClipError>> = OnceLock::new();
    ENVIRONMENT.get_or_init(load).as_ref().map_err(clone_error)
}

fn load() -> Result<Environment, ClipError> {
    let Some(path) = library_path() else {
        let looked_in = library_candidates().iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
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
    Ok(environment)
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
