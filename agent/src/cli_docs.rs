//! Shell completions and man pages generated from a clap command, for both binaries.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap_complete::Shell;

/// The `completions` and `man` verbs both binaries share (flattened into their commands).
#[derive(Debug, clap::Subcommand)]
pub enum DocsCommand {
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the man page, or write one per command into --out-dir.
    Man {
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
}

/// Runs a docs verb for `command` (the binary's whole clap command), printing to stdout.
pub fn run(docs: DocsCommand, command: clap::Command) -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    match docs {
        DocsCommand::Completions { shell } => completions(command, shell, &mut out),
        DocsCommand::Man { out_dir } => man(command, out_dir.as_deref(), &mut out),
    }
}

/// Writes the completion script for `shell` to `out`.
fn completions(
    mut command: clap::Command,
    shell: Shell,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let name = command.get_name().to_string();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, name, &mut script);
    quiet_on_closed_pipe(out.write_all(&script))
}

/// A reader that went away (`| head`) is not an error.
fn quiet_on_closed_pipe(result: std::io::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Writes the man page of `command` to `out`, or with `dir`, one page per command and
/// subcommand (`drover.1`, `drover-runs-list.1`...) into `dir`, and lists the files written.
fn man(command: clap::Command, dir: Option<&Path>, out: &mut dyn Write) -> anyhow::Result<()> {
    let Some(dir) = dir else {
        return quiet_on_closed_pipe(clap_mangen::Man::new(command).render(out));
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    clap_mangen::generate_to(command, dir)
        .with_context(|| format!("writing man pages to {}", dir.display()))?;
    let mut written: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "1"))
        .collect();
    written.sort();
    for path in written {
        writeln!(out, "{}", path.display())?;
    }
    Ok(())
}
