//! `picseek doctor`.

use anyhow::bail;
use serde::Serialize;

use super::Context;
use crate::cli::DoctorArgs;

/// Checks what the stages need and prints each check with its fix; fails when any check
/// failed.
pub fn doctor(ctx: &Context, args: DoctorArgs) -> anyhow::Result<()> {
    let opts = args.options(&ctx.data);
    let report = picseek_doctor::doctor(&opts);
    #[derive(Serialize)]
    struct Row<'a> {
        #[serde(flatten)]
        check: &'a picseek_doctor::Check,
        #[serde(skip_serializing_if = "Option::is_none")]
        fix: Option<String>,
    }
    let rows: Vec<Row> =
        report.checks.iter().map(|check| Row { check, fix: check.problem.as_ref().map(doctor_fix) }).collect();
    ctx.printer.print(&serde_json::json!({"checks": rows, "failed": report.failed()}), |out| {
        for row in &rows {
            let status = match row.check.status {
                picseek_doctor::Status::Ok => "ok",
                picseek_doctor::Status::Warn => "warn",
                picseek_doctor::Status::Fail => "FAIL",
            };
            writeln!(out, "{:<13} {:<5} {}", row.check.name, status, row.check.detail)?;
            if let Some(fix) = &row.fix {
                writeln!(out, "{:<19} fix: {fix}", "")?;
            }
        }
        Ok(())
    })?;
    let failed = report.checks.iter().filter(|c| c.status == picseek_doctor::Status::Fail).count();
    if failed > 0 {
        bail!("{failed} check(s) failed; each says how to fix it");
    }
    Ok(())
}

/// The usual fix for a doctor's finding, in flags and commands.
fn doctor_fix(problem: &picseek_doctor::Problem) -> String {
    use picseek_doctor::Problem;
    match problem {
        Problem::BrowserMissing | Problem::DriverMissing => {
            "run scripts/setup.sh (Debian: apt install chromium chromium-driver), \
            or give crawl --webdriver URL; crawl --source flickr-api needs no browser"
                .into()
        }
        Problem::DriverMismatch { browser, .. } => {
            format!("install the chromedriver made for Chromium {browser} (Debian's chromium-driver matches chromium)")
        }
        Problem::ProgramBroken { program } => format!("reinstall {} (scripts/setup.sh)", program.display()),
        Problem::RuntimeMissing => {
            "run scripts/setup.sh, or set ORT_DYLIB_PATH to a libonnxruntime.so of 1.31 or newer; \
            index --embedder pixel needs none"
                .into()
        }
        Problem::ModelMissing { .. } => {
            "run scripts/download-clip.sh, or pass --model DIR; index --embedder pixel needs no model".into()
        }
        Problem::ModelMismatch => {
            "pass --model DIR with the model the index was built with, or re-index with `picseek index --rebuild`"
                .into()
        }
        Problem::NoIndex => "run `picseek index` (or `picseek run`)".into(),
        Problem::IndexDamaged => "rebuild it with `picseek index --rebuild`".into(),
        Problem::LowDisk { .. } => "free some space, or point --data-dir at a bigger disk".into(),
        Problem::Offline => "check the connection (and any proxy); offline, start from a folder of your own photos: \
            `picseek clean --in DIR`"
            .into(),
    }
}
