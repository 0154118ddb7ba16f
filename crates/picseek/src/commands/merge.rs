//! `picseek merge`.

use super::Context;
use super::clean::write_clean_summary;
use super::download::write_download_summary;
use super::index::write_index_summary;
use crate::cli::{CleanArgs, DownloadArgs, IndexArgs, MergeArgs, MergeStage, ShardArgs};

/// Checks that every shard of the stage is complete, then writes the stage's ordinary
/// outputs, the same as one process would have.
pub fn merge(ctx: &Context, args: MergeArgs) -> anyhow::Result<()> {
    match args.stage {
        MergeStage::Download(args) => {
            let count = args.shard.merge_count()?;
            let opts = DownloadArgs { shard: ShardArgs::default(), ..args }.options(&ctx.data)?;
            let opts = picseek_download::DownloadOptions { progress: ctx.progress.clone(), ..opts };
            let report = picseek_download::merge_download(&opts, count)?;
            ctx.printer.print(&report, |out| write_download_summary(out, &report))
        }
        MergeStage::Clean(args) => {
            let count = args.shard.merge_count()?;
            let opts = CleanArgs { shard: ShardArgs::default(), ..args }.options(&ctx.data)?;
            let opts = picseek_clean::CleanOptions { progress: ctx.progress.clone(), ..opts };
            let report = picseek_clean::merge_clean(&opts, count)?;
            ctx.printer.print(&report, |out| write_clean_summary(out, &report))
        }
        MergeStage::Index(args) => {
            let count = args.shard.merge_count()?;
            let opts = IndexArgs { shard: ShardArgs::default(), ..args }.options(&ctx.data)?;
            let opts = picseek_index::IndexOptions { progress: ctx.progress.clone(), ..opts };
            let report = picseek_index::merge_index(&opts, count)?;
            ctx.printer.print(&report, |out| write_index_summary(out, &report))
        }
    }
}
