//! `equifx`: the command-line interface. One file per subcommand; this file
//! only parses arguments, sets up logging and maps errors to exit codes.

mod audit;
mod bundle;
mod eval;
mod farm;
mod manifest_args;
mod model;
mod nodes;
mod rebalance;
mod render;
mod sample;
mod synth;
mod targets;
mod train;
mod transfer;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use equifx::ErrorCode;

#[derive(Parser)]
#[command(
    name = "equifx",
    version,
    about = "ML nodes that reveal and correct the biases generative models inherit from their training data",
    long_about = "equifx runs its compositing nodes from the command line: the same nodes, parameters and \
                  results as the OpenFX plugin and the C library.\n\nStart with `equifx nodes` to see what \
                  is available.",
    after_help = "Exit codes: 0 success, 2 bad input or arguments, 3 model error (bundle, device or out \
                  of memory), 4 some frames failed, 5 aborted, 1 any other error. Set EQUIFX_LOG=debug \
                  for detailed logs."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the nodes and their parameters.
    Nodes(nodes::NodesArgs),
    /// Run a node on an image, an image sequence or a job file (render farms: --chunk).
    Render(Box<render::RenderArgs>),
    /// Write a synthetic dataset (one domain) with planted bias and labels.
    Synth(synth::SynthArgs),
    /// Render scenes in every style side by side into one PNG.
    ContactSheet(synth::ContactSheetArgs),
    /// Domain Transfer on an image (or --project into every domain).
    Transfer(Box<transfer::TransferArgs>),
    /// Judge a bundle's Domain Transfer on fresh synthetic scenes (oracles, PSNR).
    EvalTransfer(eval::EvalArgs),
    /// Train a model bundle from one folder of images per domain.
    Train(Box<train::TrainArgs>),
    /// Fit (or refit) a bundle's attribute heads from labelled image folders.
    FitHeads(train::FitHeadsArgs),
    /// Fits the bundle's pixel reader on labelled folders: the Fair Sampler
    /// then checks each picture shows its cell (resumable with --resume).
    FitReader(train::FitReaderArgs),
    /// Generate images with the attribute mix you set (Fair Sampler), with per-image metadata.
    Sample(Box<sample::SampleArgs>),
    /// Plan (and apply) the fewest, smallest edits that bring a batch to a target mix.
    Rebalance(Box<rebalance::RebalanceArgs>),
    /// Attribute ratios of a batch or sequence with intervals, amplification and a verdict.
    Audit(Box<audit::AuditArgs>),
    /// Farm job templates from a job file (`farm openjd JOB.toml -o template.json`).
    #[command(subcommand)]
    Farm(farm::FarmCommand),
    /// Inspect a model bundle (`model info DIR`).
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// Assemble the OpenFX plugin bundle (equifx.ofx.bundle) from the built library.
    Bundle(bundle::BundleArgs),
}

/// The command line, with the flags that mirror node parameters set up from the manifest.
fn command() -> clap::Command {
    manifest_args::apply(Cli::command())
}

/// Documented exit codes, stable for pipelines and farm managers.
pub fn exit_code(code: ErrorCode) -> u8 {
    match code {
        ErrorCode::InvalidArgument
        | ErrorCode::InvalidFrame
        | ErrorCode::UnknownNode
        | ErrorCode::UnknownParam
        | ErrorCode::InvalidParamValue
        | ErrorCode::ImageFormat
        | ErrorCode::Io => 2,
        // The model could not run here: bundle, device or memory.
        ErrorCode::Model | ErrorCode::Device | ErrorCode::OutOfMemory => 3,
        ErrorCode::Aborted => 5,
        _ => 1,
    }
}

/// `equifx … | head` closes stdout early, and printing then panics with a
/// broken pipe: stop quietly instead, with the status a shell's own tools
/// give (128 + SIGPIPE).
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info)
    }));
}

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EQUIFX_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::from_arg_matches(&command().get_matches()).unwrap_or_else(|e| e.exit());
    let result = match cli.command {
        Command::Nodes(a) => nodes::run(a),
        Command::Render(a) => render::run(*a),
        Command::Synth(a) => synth::run(a),
        Command::ContactSheet(a) => synth::run_contact_sheet(a),
        Command::Train(a) => train::run(*a),
        Command::FitHeads(a) => train::run_fit_heads(a),
        Command::FitReader(a) => train::run_fit_reader(a),
        Command::Sample(a) => sample::run(*a),
        Command::Rebalance(a) => rebalance::run(*a),
        Command::Audit(a) => audit::run(*a),
        Command::EvalTransfer(a) => eval::run(a),
        Command::Transfer(a) => transfer::run(*a),
        Command::Bundle(a) => bundle::run(a),
        Command::Model(c) => model::run(c),
        Command::Farm(c) => farm::run(c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("equifx: error: {e}");
            ExitCode::from(exit_code(e.code()))
        }
    }
}
