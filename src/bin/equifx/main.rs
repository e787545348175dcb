//! `equifx`: the command-line interface. One file per subcommand; this file
//! only parses arguments, sets up logging and maps errors to exit codes.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "equifx",
    version,
    about = "ML nodes that reveal and correct dataset bias in generative models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {}

fn main() {
    let cli = Cli::parse();
    match cli.command {}
}
