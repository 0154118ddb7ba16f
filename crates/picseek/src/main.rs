//! `picseek`: the command-line front end. It only parses flags and calls the stage
//! crates; everything a stage does lives in its own library crate (see ARCHITECTURE.md).

// The doc comments here are clap's help texts, where `<data-dir>` and `<class>/<image>`
// are meant as written, not as HTML.
#![allow(rustdoc::invalid_html_tags)]

mod cli;
mod commands;
mod errors;
mod printer;
mod progress;
mod query_terms;
mod settings;

use clap::Parser;
use cli::{Cli, Command};
use picseek_manifest::DataDir;

/// The log targets of picseek's crates (a filter's target matches a crate's modules,
/// not other crates whose names it begins).
const PICSEEK_CRATES: &[&str] = &[
    "picseek",
    "picseek_clean",
    "picseek_clip",
    "picseek_crawl",
    "picseek_doctor",
    "picseek_download",
    "picseek_embed",
    "picseek_export",
    "picseek_imaging",
    "picseek_index",
    "picseek_manifest",
    "picseek_pipeline",
    "picseek_report",
    "picseek_search",
    "picseek_serve",
    "picseek_split",
];

fn init_logging(verbose: u8) {
    use std::io::IsTerminal;
    // -v shows what picseek's own crates say about each file; -vv its dependencies too.
    let ours = || PICSEEK_CRATES.iter().map(|c| format!(",{c}=debug")).collect::<String>();
    let default = match verbose {
        0 => "warn,picseek=info".to_owned(),
        1 => format!("info{}", ours()),
        _ => "debug".to_owned(),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour codes only for a person at a terminal, never into a log file.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_writer(|| progress::LogWriter)
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(colour)
        // A log line that cannot be written (stderr closed, as under `2>&1 | head`) is
        // dropped: reporting it would panic on the same closed stderr.
        .log_internal_errors(false)
        .init();
}

/// The data directory's lock, for the commands that write into it: two of them at once
/// would fetch everything twice or delete each other's files. Readers (search, eval,
/// serve) take none and keep working while an index is rebuilt.
fn writing_lock(
    ctx: &commands::Context,
    command: &Command,
) -> Result<Option<picseek_manifest::DataDirLock>, picseek_manifest::LockError> {
    // The shards of a stage run side by side, each also locking its own folder.
    let shard_run = match command {
        Command::Download(args) => args.shard.given(),
        Command::Clean(args) => args.shard.given(),
        Command::Index(args) => args.shard.given(),
        _ => false,
    };
    if shard_run {
        return picseek_manifest::DataDirLock::acquire_shared(ctx.data.root()).map(Some);
    }
    let name = match command {
        Command::Merge(_) => "merge",
        Command::Export(_) => "export",
        Command::Crawl(_) => "crawl",
        Command::Download(_) => "download",
        Command::Clean(_) => "clean",
        Command::Split(_) => "split",
        Command::Index(_) => "index",
        Command::Run(_) => "run",
        Command::Search(_) | Command::Eval(_) | Command::Serve(_) | Command::Doctor(_) | Command::Report(_) => {
            return Ok(None);
        }
    };
    picseek_manifest::DataDirLock::acquire(ctx.data.root(), name).map(Some)
}

/// For the stages that stop cleanly (download, clean, index, their merges and the run of
/// them, and split): the first Ctrl-C or SIGTERM asks the stage to stop (it saves its
/// work and says how far it got); a second one ends the process at once. Crawl stops its
/// browsers itself; the readers hold nothing to save.
fn stop_on_signals(command: &Command) {
    if !matches!(
        command,
        Command::Download(_)
            | Command::Clean(_)
            | Command::Split(_)
            | Command::Index(_)
            | Command::Run(_)
            | Command::Merge(_)
    ) {
        return;
    }
    use signal_hook::consts::{SIGINT, SIGTERM};
    for signal in [SIGINT, SIGTERM] {
        let asked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Registered first, so it runs first: only a second signal finds the flag set.
        let registered = signal_hook::flag::register_conditional_shutdown(signal, 128 + signal, asked.clone())
            .and_then(|_| signal_hook::flag::register(signal, asked))
            // SAFETY: the action is one atomic store, which is async-signal-safe.
            .and_then(|_| unsafe {
                signal_hook::low_level::register(signal, move || picseek_manifest::stop::request(signal))
            });
        if let Err(e) = registered {
            tracing::warn!("cannot catch signal {signal} ({e}): stopping will not save the work under way");
        }
    }
}

fn main() -> std::process::ExitCode {
    if std::env::var_os(picseek_clip::runtime::TELEMETRY_OPT_OUT_VARIABLE).is_none() {
        // SAFETY: no other thread exists yet, so nothing reads the environment meanwhile.
        unsafe { std::env::set_var(picseek_clip::runtime::TELEMETRY_OPT_OUT_VARIABLE, "1") };
    }
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let ctx = commands::Context {
        data: DataDir::new(cli.data_dir),
        printer: printer::Printer { json: cli.json },
        progress: progress::reporter(),
        strict: cli.strict,
    };
    stop_on_signals(&cli.command);
    let result = writing_lock(&ctx, &cli.command).map_err(anyhow::Error::from).and_then(|_lock| match cli.command {
        Command::Crawl(args) => commands::crawl::crawl(&ctx, args),
        Command::Download(args) => commands::download::download(&ctx, args),
        Command::Clean(args) => commands::clean::clean(&ctx, args),
        Command::Split(args) => commands::split::split(&ctx, args),
        Command::Index(args) => commands::index::index(&ctx, args),
        Command::Search(args) => commands::search::search(&ctx, args),
        Command::Eval(args) => commands::eval::eval(&ctx, args),
        Command::Run(args) => commands::run::run(&ctx, args),
        Command::Serve(args) => commands::serve::serve(&ctx, args),
        Command::Doctor(args) => commands::doctor::doctor(&ctx, args),
        Command::Report(args) => commands::report::report(&ctx, args),
        Command::Merge(args) => commands::merge::merge(&ctx, args),
        Command::Export(args) => commands::export::export(&ctx, args),
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("picseek: {}", errors::one_line(&e));
            match picseek_manifest::stop::requested() {
                // 128 + the signal, as a shell reports a command a signal ended.
                Some(signal) => std::process::ExitCode::from((128 + signal) as u8),
                None => std::process::ExitCode::FAILURE,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_of_every_command_says_what_it_does() {
        use clap::CommandFactory;
        let cli = Cli::command();
        let mut missing = Vec::new();
        for command in std::iter::once(&cli).chain(cli.get_subcommands()) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if arg.get_help().is_none() && !["help", "version"].contains(&id) {
                    missing.push(format!("{} --{id}", command.get_name()));
                }
            }
        }
        assert!(missing.is_empty(), "flags without help: {missing:?}");
    }
}
