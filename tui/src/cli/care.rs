//! `drover backup FILE`, `drover restore FILE` and `drover doctor`: looking after a
//! coordinator's data dir (the work is in [`crate::ops`]).

use std::path::PathBuf;

use clap::Args;

use super::{Ctx, emit};
use crate::ops;

/// Write a consistent snapshot of the store and the PKI to FILE (online; artifacts are
/// listed by hash, not copied).
#[derive(Args)]
pub struct BackupArgs {
    file: PathBuf,
    #[arg(long)]
    json: bool,
}

impl BackupArgs {
    pub fn run(self, ctx: &Ctx) -> anyhow::Result<()> {
        let report = ops::backup::backup(&ctx.data_dir, &self.file)?;
        emit(&report, self.json, ops::backup::print)
    }
}

/// Restore a backup into the data dir (the coordinator must be stopped).
#[derive(Args)]
pub struct RestoreArgs {
    file: PathBuf,
    /// Replace the store the data dir already holds.
    #[arg(long)]
    force: bool,
    #[arg(long)]
    json: bool,
}

impl RestoreArgs {
    pub fn run(self, ctx: &Ctx) -> anyhow::Result<()> {
        let report = ops::restore::restore(&self.file, &ctx.data_dir, self.force)?;
        emit(&report, self.json, ops::restore::print)
    }
}

/// Check the data dir, certificates, disk and agent clocks; print what to fix.
#[derive(Args)]
pub struct DoctorArgs {
    #[arg(long)]
    json: bool,
}

impl DoctorArgs {
    pub async fn run(self, ctx: &Ctx) -> anyhow::Result<()> {
        let checks = ops::doctor::run(&ctx.data_dir, ctx.address()).await;
        emit(&checks, self.json, |c: &Vec<ops::doctor::Check>| {
            ops::doctor::print(c)
        })?;
        match checks.iter().map(|c| c.verdict).max() {
            Some(ops::doctor::Verdict::Fail) => anyhow::bail!("drover doctor found problems"),
            _ => Ok(()),
        }
    }
}
