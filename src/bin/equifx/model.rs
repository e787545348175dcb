//! `equifx model`: questions about a model bundle.

use std::path::PathBuf;

use equifx::model::ModelInfo;

mod export;
mod groups;

#[derive(clap::Subcommand)]
pub enum ModelCommand {
    /// What a bundle knows: domains, attributes with their training shares,
    /// sizes, architecture and hashes.
    Info(InfoArgs),
    /// The bundle's networks as ONNX graphs (`model export --onnx [DIR] -o OUT`).
    Export(export::ExportArgs),
    /// Label-free groups of each domain's training data, stored in the
    /// bundle (`model groups DIR [--domain NAME] [--groups K|auto]`).
    Groups(groups::GroupsArgs),
    /// Names a domain's label-free groups, so reports and targets can use the
    /// names (`model name-group DIR --domain NAME GROUP=NAME …`).
    NameGroup(groups::NameArgs),
    /// A picture per domain of what each label-free group holds, to look at
    /// before naming them (`model group-sheet DIR -o FOLDER`).
    GroupSheet(groups::SheetArgs),
}

#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  equifx model info models/default\n  equifx model info my_bundle --json"
)]
pub struct InfoArgs {
    /// The bundle folder (default: the shipped bundle).
    dir: Option<PathBuf>,
    /// Print JSON (the same as the C ABI's equifx_model_info) instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(command: ModelCommand) -> equifx::Result<()> {
    match command {
        ModelCommand::Info(args) => {
            let dir = args
                .dir
                .unwrap_or_else(equifx::model::bundle::default_bundle_dir);
            let info = ModelInfo::read(&dir)?;
            if args.json {
                println!("{}", info.to_json()?);
            } else {
                print!("{}", info.to_text());
            }
            Ok(())
        }
        ModelCommand::Export(args) => export::run(args),
        ModelCommand::Groups(args) => groups::run(args),
        ModelCommand::NameGroup(args) => groups::name(args),
        ModelCommand::GroupSheet(args) => groups::sheet(args),
    }
}
