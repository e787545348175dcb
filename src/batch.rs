//! Batch rendering of image sequences: the engine behind `equifx render`
//! on sequences and job files, and what a farm task runs.
//!
//! Every frame is independent (nodes seed from the frame number), so a frame
//! rendered in any chunk, process or worker thread is bit-identical. Outputs
//! are written atomically, so `skip_existing` can resume a killed task
//! without redoing or trusting half-written frames.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

use crate::error::{Error, ErrorCode, Result};
use crate::io::{image_dimensions, read_image, write_image, Depth, FileKind};
use crate::node::RenderContext;
use crate::sequence::FramePattern;
use crate::Instance;

/// One batch: a configured node instance, where frames come from and go to.
pub struct BatchJob {
    pub instance: Instance,
    /// Input pattern; `None` for generator nodes.
    pub input: Option<FramePattern>,
    pub output: FramePattern,
    pub frames: Vec<i64>,
    /// Frame size for generators.
    pub size: (usize, usize),
    /// Frames rendered at once (each worker renders whole frames).
    pub threads: usize,
    /// Keep outputs that already exist and read back as complete frames.
    pub skip_existing: bool,
}

/// What happened to one frame; reported as it happens.
#[derive(Debug, Clone)]
pub enum FrameEvent {
    Done {
        frame: i64,
        output: PathBuf,
        seconds: f64,
    },
    Skipped {
        frame: i64,
        output: PathBuf,
    },
    Failed {
        frame: i64,
        code: ErrorCode,
        error: String,
    },
}

impl FrameEvent {
    pub fn frame(&self) -> i64 {
        match self {
            FrameEvent::Done { frame, .. }
            | FrameEvent::Skipped { frame, .. }
            | FrameEvent::Failed { frame, .. } => *frame,
        }
    }
}

/// The outcome of a batch.
#[derive(Debug, Default, Clone)]
pub struct BatchSummary {
    pub done: usize,
    pub skipped: usize,
    /// Failed frames with the error code and message of each.
    pub failed: Vec<(i64, ErrorCode, String)>,
}

impl BatchJob {
    /// Checks the job before any frame is rendered, so configuration errors
    /// fail the whole task at once instead of once per frame.
    pub fn validate(&self) -> Result<()> {
        let out_path = self.output.path(0);
        if !FileKind::from_path(&out_path)?.is_writable() {
            return Err(Error::InvalidArgument(format!(
                "{}: equifx reads JPEG and WebP but writes only .png, .tif or .exr",
                out_path.display()
            )));
        }
        let generator = self.instance.descriptor().is_generator();
        match (&self.input, generator) {
            (None, false) => {
                return Err(Error::InvalidArgument(format!(
                    "{} needs an input sequence",
                    self.instance.descriptor().label
                )))
            }
            (Some(_), true) => {
                return Err(Error::InvalidArgument(format!(
                    "{} is a generator and takes no input",
                    self.instance.descriptor().label
                )))
            }
            (Some(input), false) => {
                FileKind::from_path(&input.path(0))?;
            }
            (None, true) => crate::frame::check_size(self.size.0, self.size.1)?,
        }
        if self.frames.len() > 1 && !self.output.is_sequence() {
            return Err(Error::InvalidArgument(
                "several frames need an output pattern with a frame number, e.g. out.%04d.exr"
                    .into(),
            ));
        }
        if self.threads == 0 {
            return Err(Error::InvalidArgument("threads must be at least 1".into()));
        }
        Ok(())
    }

    /// Renders every frame, reporting each through `on_event` (called from
    /// worker threads, one event at a time). Frame failures are collected,
    /// not fatal; `stop` is polled between frames and inside renders.
    pub fn run(
        &self,
        on_event: &(dyn Fn(&FrameEvent) + Sync),
        stop: &AtomicBool,
    ) -> Result<BatchSummary> {
        self.validate()?;
        let next = AtomicUsize::new(0);
        let summary = Mutex::new(BatchSummary::default());
        let report = |e: FrameEvent| {
            let mut s = summary.lock();
            match &e {
                FrameEvent::Done { .. } => s.done += 1,
                FrameEvent::Skipped { .. } => s.skipped += 1,
                FrameEvent::Failed { frame, code, error } => {
                    s.failed.push((*frame, *code, error.clone()))
                }
            }
            on_event(&e);
        };
        let workers = self.threads.min(self.frames.len()).max(1);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&frame) = self.frames.get(i) else {
                        break;
                    };
                    report(self.render_frame(frame, stop));
                });
            }
        });
        let mut s = summary.into_inner();
        s.failed.sort_by_key(|f| f.0);
        if stop.load(Ordering::Relaxed) {
            return Err(Error::Aborted);
        }
        Ok(s)
    }

    fn render_frame(&self, frame: i64, stop: &AtomicBool) -> FrameEvent {
        let output = self.output.path(frame);
        let started = Instant::now();
        let result = (|| -> Result<bool> {
            let input_path = self.input.as_ref().map(|p| p.path(frame));
            let size = match &input_path {
                Some(p) => image_dimensions(p)?,
                None => self.size,
            };
            // Outputs are written atomically, so one that reads back with the
            // right size is a complete frame from an earlier run.
            if self.skip_existing
                && output.exists()
                && image_dimensions(&output).is_ok_and(|d| d == size)
            {
                return Ok(false);
            }
            let (inputs, depth) = match &input_path {
                Some(p) => {
                    let loaded = read_image(p)?;
                    (vec![loaded.image], loaded.depth)
                }
                None => (vec![], Depth::F32),
            };
            let (w, h) = inputs.first().map_or(size, |i| (i.width(), i.height()));
            let abort = || stop.load(Ordering::Relaxed);
            let ctx = RenderContext::new(None, Some(&abort));
            let image = self.instance.render_images(&inputs, w, h, frame, &ctx)?;
            if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            write_image(&output, &image, depth)?;
            Ok(true)
        })();
        match result {
            Ok(true) => FrameEvent::Done {
                frame,
                output,
                seconds: started.elapsed().as_secs_f64(),
            },
            Ok(false) => FrameEvent::Skipped { frame, output },
            Err(e) => FrameEvent::Failed {
                frame,
                code: e.code(),
                error: e.to_string(),
            },
        }
    }
}
