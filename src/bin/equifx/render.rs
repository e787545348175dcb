//! `equifx render`: run a node on an image, an image sequence, or a job file.
//! One process renders a whole chunk of frames, so a model loads once per
//! farm task.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use equifx::batch::{BatchJob, FrameEvent};
use equifx::sequence::{parse_chunk, parse_frames, FramePattern};
use equifx::{Error, Instance};
use serde::Deserialize;

#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    equifx render Exposure plate.png -o bright.png --param exposure=1\n  \
    equifx render Exposure shot.%04d.exr -o out/shot.%04d.exr --frames 1001-1100 --chunk 3/10\n  \
    equifx render --job shot010.toml --chunk 3/10 --skip-existing --progress json")]
pub struct RenderArgs {
    /// Node id or label, e.g. `Exposure` (see `equifx nodes`). Optional with --job.
    node: Option<String>,
    /// Input image or sequence pattern (`shot.%04d.exr`, `shot.####.png`). Omit for generators.
    input: Option<String>,
    /// Output image or sequence pattern; its extension picks the format.
    #[arg(short, long)]
    output: Option<String>,
    /// Parameter values, `name=value`; repeat for several. Override the job file's.
    #[arg(short, long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Frames to render: `1001-1100`, `1-100x2`, `1,5,10-20`. Default: every input
    /// frame found on disk (sequences) or frame 0 (stills).
    #[arg(long)]
    frames: Option<String>,
    /// Render only task INDEX of COUNT equal contiguous chunks, e.g. `3/10`.
    #[arg(long, value_name = "INDEX/COUNT")]
    chunk: Option<String>,
    /// Frames rendered in parallel.
    #[arg(long)]
    threads: Option<usize>,
    /// Keep outputs that already exist as complete frames (resume a killed task).
    #[arg(long)]
    skip_existing: bool,
    /// Output size for generator nodes, `WIDTHxHEIGHT` (at most 16384×16384 pixels in all).
    #[arg(long)]
    size: Option<String>,
    /// A TOML job file (node, params, input, output, frames); see docs/farm.md.
    #[arg(long)]
    job: Option<PathBuf>,
    /// Progress output: `bar` (people), `json` (one JSON object per line on stdout,
    /// for farm managers), `plain` (lines with `openjd_progress:`), `none`, or `auto`
    /// (bar on a terminal, plain otherwise).
    #[arg(long, default_value = "auto")]
    progress: String,
}

/// A job file: everything a farm task needs, so pipelines don't build long
/// command lines. Relative paths are relative to the job file. Every key may
/// be left to the command line, so a file holding only `[params]` can carry
/// a farm template's node parameters.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct JobFile {
    pub node: Option<String>,
    pub input: Option<String>,
    pub output: Option<String>,
    pub frames: Option<String>,
    pub size: Option<String>,
    pub threads: Option<usize>,
    #[serde(default)]
    pub skip_existing: bool,
    #[serde(default)]
    pub params: toml::Table,
}

/// Resolves a node by id or (case-insensitive) label or short name.
pub fn find_node(name: &str) -> equifx::Result<&'static str> {
    equifx::manifest::nodes()
        .iter()
        .find(|n| {
            n.id == name
                || n.label.eq_ignore_ascii_case(name)
                || n.id.rsplit('.').next() == Some(name)
        })
        .map(|n| n.id.as_str())
        .ok_or_else(|| Error::UnknownNode(name.to_string()))
}

/// Applies `name=value` pairs to an instance.
pub fn apply_params(instance: &mut Instance, pairs: &[String]) -> equifx::Result<()> {
    for kv in pairs {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            Error::InvalidArgument(format!("parameter '{kv}' must be written name=value"))
        })?;
        instance.params_mut().set_from_str(k.trim(), v)?;
    }
    Ok(())
}

pub fn parse_size(s: &str) -> equifx::Result<(usize, usize)> {
    let bad = || Error::InvalidArgument(format!("size '{s}' must be WIDTHxHEIGHT, e.g. 512x512"));
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let (w, h): (usize, usize) = (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?);
    if w == 0 || h == 0 {
        return Err(bad());
    }
    // Refused before anything is allocated, with the limit named.
    equifx::frame::check_size(w, h)?;
    Ok((w, h))
}

pub fn load_job(path: &Path) -> equifx::Result<JobFile> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut job: JobFile = toml::from_str(&text)
        .map_err(|e| Error::InvalidArgument(format!("job file {}: {e}", path.display())))?;
    let base = path.parent().unwrap_or(Path::new(""));
    let rebase = |p: &str| -> String {
        if Path::new(p).is_absolute() {
            p.to_string()
        } else {
            base.join(p).to_string_lossy().into_owned()
        }
    };
    job.input = job.input.as_deref().map(rebase);
    job.output = job.output.as_deref().map(rebase);
    Ok(job)
}

fn toml_to_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Builds the batch job from the command line and the optional job file.
fn build(args: &RenderArgs) -> equifx::Result<BatchJob> {
    let file = args.job.as_deref().map(load_job).transpose()?;
    let node = args
        .node
        .clone()
        .or_else(|| file.as_ref().and_then(|f| f.node.clone()))
        .ok_or_else(|| {
            Error::InvalidArgument("name a node (see `equifx nodes`) or pass --job".into())
        })?;
    let mut instance = Instance::new(find_node(&node)?)?;
    if let Some(f) = &file {
        for (k, v) in &f.params {
            instance.params_mut().set_from_str(k, &toml_to_text(v))?;
        }
    }
    apply_params(&mut instance, &args.params)?;

    let input = args
        .input
        .clone()
        .or_else(|| file.as_ref().and_then(|f| f.input.clone()));
    let output = args
        .output
        .clone()
        .or_else(|| file.as_ref().and_then(|f| f.output.clone()))
        .ok_or_else(|| {
            Error::InvalidArgument("give an output with -o (or `output` in the job file)".into())
        })?;
    let input = input.as_deref().map(FramePattern::parse).transpose()?;
    let output = FramePattern::parse(&output)?;

    let frames_spec = args
        .frames
        .clone()
        .or_else(|| file.as_ref().and_then(|f| f.frames.clone()));
    let mut frames = match (&frames_spec, &input) {
        (Some(spec), _) => parse_frames(spec)?,
        (None, Some(p)) if p.is_sequence() => {
            let found = p.scan()?;
            if found.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "no input frames match '{}': check the pattern or give --frames",
                    p.path(0).display()
                )));
            }
            found
        }
        (None, _) => vec![0],
    };
    if let Some(c) = &args.chunk {
        frames = parse_chunk(c)?.select(&frames).to_vec();
    }
    let size = args
        .size
        .clone()
        .or_else(|| file.as_ref().and_then(|f| f.size.clone()));
    let size = size
        .as_deref()
        .map(parse_size)
        .transpose()?
        .unwrap_or((512, 512));
    let threads = args
        .threads
        .or_else(|| file.as_ref().and_then(|f| f.threads))
        .unwrap_or(1);
    let skip_existing = args.skip_existing || file.as_ref().is_some_and(|f| f.skip_existing);
    let job = BatchJob {
        instance,
        input,
        output,
        frames,
        size,
        threads,
        skip_existing,
    };
    job.validate()?;
    Ok(job)
}

pub fn run(args: RenderArgs) -> equifx::Result<()> {
    let job = build(&args)?;
    let total = job.frames.len();
    let mode = match args.progress.as_str() {
        "auto" if total == 1 => "none",
        "auto" if std::io::stderr().is_terminal() => "bar",
        "auto" => "plain",
        m @ ("bar" | "json" | "plain" | "none") => m,
        other => {
            return Err(Error::InvalidArgument(format!(
                "--progress '{other}': use bar, json, plain, none or auto"
            )))
        }
    };
    let bar = (mode == "bar").then(|| {
        let b = indicatif::ProgressBar::new(total as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} frames  {elapsed} elapsed, {eta} left  {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let completed = AtomicUsize::new(0);
    let on_event = |e: &FrameEvent| {
        let k = completed.fetch_add(1, Ordering::SeqCst) + 1;
        let pct = 100.0 * k as f64 / total.max(1) as f64;
        match mode {
            "json" => {
                let line = match e {
                    FrameEvent::Done {
                        frame,
                        output,
                        seconds,
                    } => serde_json::json!({
                        "event": "frame", "status": "done", "frame": frame, "output": output,
                        "seconds": seconds, "completed": k, "total": total, "progress": pct }),
                    FrameEvent::Skipped { frame, output } => serde_json::json!({
                        "event": "frame", "status": "skipped", "frame": frame, "output": output,
                        "completed": k, "total": total, "progress": pct }),
                    FrameEvent::Failed { frame, error, .. } => serde_json::json!({
                        "event": "frame", "status": "failed", "frame": frame, "error": error,
                        "completed": k, "total": total, "progress": pct }),
                };
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            "plain" => {
                let mut out = std::io::stdout().lock();
                let _ = match e {
                    FrameEvent::Done { frame, seconds, .. } => {
                        writeln!(out, "frame {frame} done {seconds:.2} s ({k}/{total})")
                    }
                    FrameEvent::Skipped { frame, .. } => {
                        writeln!(out, "frame {frame} skipped, exists ({k}/{total})")
                    }
                    FrameEvent::Failed { frame, .. } => {
                        writeln!(out, "frame {frame} FAILED ({k}/{total})")
                    }
                };
                let _ = writeln!(out, "openjd_progress: {pct:.1}");
                let _ = out.flush();
            }
            _ => {}
        }
        if let FrameEvent::Failed { frame, error, .. } = e {
            if total > 1 {
                eprintln!("equifx: frame {frame}: {error}");
            }
        }
        if let Some(b) = &bar {
            b.inc(1);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // SIGINT/SIGTERM: finish or drop the frames in flight, write nothing half-done.
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }
    let summary = job.run(&on_event, &stop)?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if mode == "json" {
        println!(
            "{}",
            serde_json::json!({ "event": "summary", "done": summary.done, "skipped": summary.skipped,
                "failed": summary.failed.iter().map(|f| f.0).collect::<Vec<_>>(), "total": total })
        );
    }
    tracing::info!(
        done = summary.done,
        skipped = summary.skipped,
        failed = summary.failed.len(),
        "batch finished"
    );
    match summary.failed.as_slice() {
        [] => {}
        // A single image fails like any command: its own message and exit code.
        [(_, code, error)] if total == 1 => {
            eprintln!("equifx: error: {error}");
            std::process::exit(i32::from(crate::exit_code(*code)));
        }
        failed => {
            eprintln!("equifx: {} of {total} frames failed", failed.len());
            std::process::exit(4);
        }
    }
    Ok(())
}
