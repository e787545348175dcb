//! `equifx farm openjd`: an Open Job Description template (the job format of
//! AWS Deadline Cloud) from a TOML job file, so pipelines submit farm jobs
//! without editing YAML. The template has the shape of
//! `examples/openjd/render.yaml`, with the job file's values as defaults.

use std::path::{Component, Path, PathBuf};

use equifx::sequence::FramePattern;
use equifx::Error;
use serde_json::{json, Value};

use crate::render::{load_job, JobFile};

#[derive(clap::Subcommand)]
pub enum FarmCommand {
    /// Write an OpenJD job template from a job file (see docs/farm.md).
    #[command(after_help = "Example:\n  \
        equifx farm openjd shot010.toml -o shot010.template.json --chunk-size 10\n  \
        openjd run shot010.template.json")]
    Openjd(OpenjdArgs),
}

#[derive(clap::Args)]
pub struct OpenjdArgs {
    /// The TOML job file: node, input, output, frames and `[params]`.
    job: PathBuf,
    /// Template to write. It is JSON, which OpenJD reads under a `.json` or,
    /// as JSON is also YAML, a `.yaml` name.
    #[arg(short, long)]
    output: PathBuf,
    /// Frames per task.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    chunk_size: u32,
    /// The equifx executable on the workers: a name on their PATH or a full path.
    #[arg(long, default_value = "equifx")]
    equifx: String,
}

pub fn run(command: FarmCommand) -> equifx::Result<()> {
    let FarmCommand::Openjd(args) = command;
    let job = load_job(&args.job)?;
    let dir = args.output.parent().unwrap_or(Path::new(""));
    let template = openjd_template(&job, dir, args.chunk_size, &args.equifx)?;
    let text = serde_json::to_string_pretty(&template)
        .map_err(|e| Error::Internal(format!("serialising the template: {e}")))?;
    if !dir.as_os_str().is_empty() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    equifx::io::write_bytes_atomic(&args.output, format!("{text}\n").as_bytes())?;
    eprintln!("wrote {}", args.output.display());
    Ok(())
}

/// The template's job parameters and its one chunked Render step.
fn openjd_template(
    job: &JobFile,
    dir: &Path,
    chunk_size: u32,
    equifx: &str,
) -> equifx::Result<Value> {
    let node = job
        .node
        .as_deref()
        .ok_or_else(|| Error::InvalidArgument("the job file names no node".into()))?;
    let output = job
        .output
        .as_deref()
        .ok_or_else(|| Error::InvalidArgument("the job file names no output".into()))?;
    let frames = match (&job.frames, &job.input) {
        (Some(f), _) => {
            equifx::sequence::parse_frames(f)?;
            // OpenJD writes a step as `1-100:2` only.
            f.replace('x', ":")
        }
        (None, Some(input)) if FramePattern::parse(input)?.is_sequence() => {
            format_frames(&FramePattern::parse(input)?.scan()?)
        }
        _ => String::new(),
    };
    if frames.is_empty() {
        return Err(Error::InvalidArgument(
            "the job file names no frames and no input frames are on disk: add frames = \"1001-1100\""
                .into(),
        ));
    }
    let mut params = vec![
        json!({ "name": "Equifx", "type": "STRING", "default": equifx,
                "description": "The equifx executable, a command on the worker's PATH or a full path." }),
        json!({ "name": "Node", "type": "STRING", "default": node,
                "description": "Node id, short name or label (`equifx nodes` lists them)." }),
        json!({ "name": "NodeParams", "type": "STRING", "default": params_inline(&job.params),
                "description": "The node's parameters as TOML, comma-separated; empty for defaults." }),
    ];
    let mut args = vec![json!("render"), json!("{{Param.Node}}")];
    if let Some(input) = &job.input {
        params.push(
            json!({ "name": "Input", "type": "PATH", "default": from_template(input, dir)?,
                            "description": "Input sequence." }),
        );
        args.push(json!("{{Param.Input}}"));
    }
    params.extend([
        json!({ "name": "Output", "type": "PATH", "default": from_template(output, dir)?,
                "description": "Output sequence; its extension picks the format." }),
        json!({ "name": "Frames", "type": "STRING", "default": frames,
                "description": "Frames to render, e.g. 1001-1100 or 1-100:2." }),
        json!({ "name": "ChunkSize", "type": "INT", "default": chunk_size, "minValue": 1,
                "description": "Frames per task." }),
        json!({ "name": "Threads", "type": "INT", "default": job.threads.unwrap_or(1).max(1),
                "minValue": 1, "description": "Frames one task renders in parallel." }),
    ]);
    args.extend(
        [
            "--output",
            "{{Param.Output}}",
            "--job",
            "{{Task.File.NodeParams}}",
            "--frames",
            "{{Task.Param.Frame}}",
            "--threads",
            "{{Param.Threads}}",
            "--skip-existing",
            "--progress",
            "plain",
        ]
        .map(Value::from),
    );
    if let Some(size) = &job.size {
        crate::render::parse_size(size)?;
        args.extend([json!("--size"), json!(size)]);
    }
    Ok(json!({
        "specificationVersion": "jobtemplate-2023-09",
        "extensions": ["TASK_CHUNKING"],
        "name": "equifx {{Param.Node}}",
        "parameterDefinitions": params,
        "steps": [{
            "name": "Render",
            "parameterSpace": { "taskParameterDefinitions": [{
                "name": "Frame",
                "type": "CHUNK[INT]",
                "range": "{{Param.Frames}}",
                "chunks": { "defaultTaskCount": "{{Param.ChunkSize}}", "rangeConstraint": "CONTIGUOUS" },
            }]},
            "script": {
                "embeddedFiles": [{
                    "name": "NodeParams",
                    "type": "TEXT",
                    "data": "params = { {{Param.NodeParams}} }\n",
                }],
                "actions": { "onRun": { "command": "{{Param.Equifx}}", "args": args } },
            },
        }],
    }))
}

/// The job's parameters as the inside of a TOML inline table, the form the
/// template's `NodeParams` takes.
fn params_inline(params: &toml::Table) -> String {
    params
        .iter()
        .map(|(k, v)| {
            let bare = !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            let key = if bare {
                k.clone()
            } else {
                toml::Value::String(k.clone()).to_string()
            };
            format!("{key} = {v}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `path` relative to the template's folder: OpenJD joins a PATH default to
/// that folder, and refuses an absolute one.
fn from_template(path: &str, template_dir: &Path) -> equifx::Result<String> {
    let absolute = |p: &Path| {
        let p = if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        };
        std::path::absolute(p).map_err(|e| Error::io(p, e))
    };
    let (target, base) = (absolute(Path::new(path))?, absolute(template_dir)?);
    let (t, b): (Vec<Component>, Vec<Component>) =
        (target.components().collect(), base.components().collect());
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return Err(Error::InvalidArgument(format!(
            "{} and the template's folder {} share no root: write the template on the same drive",
            target.display(),
            base.display()
        )));
    }
    let mut rel: PathBuf = b[common..].iter().map(|_| Component::ParentDir).collect();
    rel.extend(&t[common..]);
    Ok(rel.to_string_lossy().into_owned())
}

/// Frames as the shortest list of ranges (`1001-1024,1030`).
fn format_frames(frames: &[i64]) -> String {
    let mut sorted = frames.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut runs: Vec<(i64, i64)> = Vec::new();
    for f in sorted {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == f => *end = f,
            _ => runs.push((f, f)),
        }
    }
    runs.iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_on_disk_become_ranges_that_parse_back() {
        let frames = [1005, 1001, 1002, 1003, -2, -1, 1010];
        let text = format_frames(&frames);
        assert_eq!(text, "-2--1,1001-1003,1005,1010");
        let mut expected = frames.to_vec();
        expected.sort_unstable();
        assert_eq!(equifx::sequence::parse_frames(&text).unwrap(), expected);
    }

    #[test]
    fn paths_are_relative_to_the_template_folder() {
        let rel = from_template("/shots/s010/plate.%04d.exr", Path::new("/jobs/s010")).unwrap();
        assert_eq!(rel, "../../shots/s010/plate.%04d.exr");
        assert_eq!(
            from_template("/jobs/out/o.####.exr", Path::new("/jobs")).unwrap(),
            "out/o.####.exr"
        );
    }

    #[test]
    fn params_keep_their_toml_types() {
        let table: toml::Table =
            toml::from_str("exposure = 0.5\nmodel = \"/b/it's\"\nseed = 3\n\"odd key\" = true")
                .unwrap();
        let inline = params_inline(&table);
        let back: toml::Table = toml::from_str(&format!("params = {{ {inline} }}")).unwrap();
        assert_eq!(back["params"].as_table(), Some(&table));
    }
}
