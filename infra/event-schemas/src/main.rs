//! `event-schemas write | check`: the public events' JSON Schemas and
//! examples under `events/schemas/` (see the crate docs).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "The public events' JSON Schemas and examples (events/schemas/)")]
struct Cli {
    /// The repository root; by default the workspace around the current
    /// directory.
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes the current version's schemas, examples and the README.
    Write {
        /// Overwrite the baseline even with a change that is not backward
        /// compatible (only for a version no receiver has seen yet).
        #[arg(long)]
        force: bool,
    },
    /// Fails when a committed file is stale or a change is not backward
    /// compatible.
    Check,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = match cli.root {
        Some(root) => root,
        None => {
            let here = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            match event_schemas::find_root(&here) {
                Some(root) => root,
                None => {
                    eprintln!(
                        "event-schemas: no cargo workspace around the current directory; pass --root"
                    );
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    let result = match cli.command {
        Command::Write { force } => event_schemas::write(&root, force).map(|changed| {
            if changed.is_empty() {
                println!("{} is up to date", event_schemas::SCHEMAS_DIR);
            }
            for path in changed {
                println!("wrote {path}");
            }
        }),
        Command::Check => event_schemas::check(&root),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(messages) => {
            for message in messages {
                eprintln!("event-schemas: {message}");
            }
            ExitCode::FAILURE
        }
    }
}
