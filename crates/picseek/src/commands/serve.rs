//! `picseek serve`.

use super::Context;
use crate::cli::ServeArgs;

/// Serves the search page until Ctrl-C.
pub fn serve(ctx: &Context, args: ServeArgs) -> anyhow::Result<()> {
    let opts = args.options(&ctx.data);
    let announce = |addr| eprintln!("picseek: serving {} on http://{addr}/ (Ctrl-C stops)", opts.index_dir.display());
    tokio::runtime::Runtime::new()?.block_on(picseek_serve::serve(&opts, announce))?;
    Ok(())
}
