//! The `Node` trait every equifx node implements, and the render context
//! hosts provide. Nodes never know which host calls them.

use crate::error::{Error, Result};
use crate::frame::Image;
use crate::manifest::NodeDescriptor;
use crate::params::ParamValues;

/// Host services available while a node renders: progress reports and the
/// host's "stop now" flag. Both are optional; a node must work without them.
#[derive(Default)]
pub struct RenderContext<'a> {
    progress: Option<&'a (dyn Fn(f64) + Sync)>,
    abort: Option<&'a (dyn Fn() -> bool + Sync)>,
}

impl<'a> RenderContext<'a> {
    pub fn new(
        progress: Option<&'a (dyn Fn(f64) + Sync)>,
        abort: Option<&'a (dyn Fn() -> bool + Sync)>,
    ) -> Self {
        RenderContext { progress, abort }
    }

    /// Reports progress in [0, 1].
    pub fn progress(&self, fraction: f64) {
        if let Some(p) = self.progress {
            p(fraction.clamp(0.0, 1.0));
        }
    }

    /// Returns `Err(Aborted)` once the host asked to stop; call between steps.
    pub fn check_abort(&self) -> Result<()> {
        match self.abort {
            Some(a) if a() => Err(Error::Aborted),
            _ => Ok(()),
        }
    }
}

/// What a node is asked to render.
pub struct RenderRequest<'a> {
    /// One image per declared input, in the working space (linear, straight alpha).
    pub inputs: &'a [Image],
    pub params: &'a ParamValues,
    /// Frame number in the sequence (seeds generators per frame).
    pub frame: i64,
    /// Output size; for filters, the size of the first input.
    pub width: usize,
    pub height: usize,
    pub ctx: &'a RenderContext<'a>,
}

/// An equifx node. Implementations are stateless (instances keep only their
/// parameter values), `Send + Sync`, and may render on many threads at once.
pub trait Node: Send + Sync {
    /// The node's manifest id, e.g. `org.equifx.Exposure`.
    fn id(&self) -> &'static str;

    /// True when the output would equal the first input (e.g. strength 0):
    /// hosts then skip the render and copy, as OpenFX `isIdentity` does.
    fn is_identity(&self, _params: &ParamValues) -> bool {
        false
    }

    /// Renders one output image.
    fn render(&self, request: &RenderRequest<'_>) -> Result<Image>;

    /// The node's manifest declaration.
    fn descriptor(&self) -> Result<&'static NodeDescriptor> {
        crate::manifest::node(self.id())
    }
}
