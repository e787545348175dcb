//! A node instance: a node plus its parameter values. This is the one render
//! path every host interface (C ABI, OpenFX, CLI) goes through, so their
//! outputs are bit-identical for the same inputs and parameters.

use crate::error::{Error, Result};
use crate::frame::{FrameMut, FrameRef, Image};
use crate::manifest::NodeDescriptor;
use crate::node::{Node, RenderContext, RenderRequest};
use crate::params::ParamValues;

/// One use of a node with its own parameter values. Cheap to create and to
/// clone: models are cached per process, not per instance.
#[derive(Clone)]
pub struct Instance {
    node: &'static dyn Node,
    descriptor: &'static NodeDescriptor,
    params: ParamValues,
}

impl Instance {
    pub fn new(node_id: &str) -> Result<Self> {
        let node = crate::nodes::find(node_id)?;
        let desc = node.descriptor()?;
        Ok(Instance {
            node,
            descriptor: desc,
            params: desc.default_values(),
        })
    }

    pub fn descriptor(&self) -> &'static NodeDescriptor {
        self.descriptor
    }

    pub fn params(&self) -> &ParamValues {
        &self.params
    }

    pub fn params_mut(&mut self) -> &mut ParamValues {
        &mut self.params
    }

    pub fn is_identity(&self) -> bool {
        !self.descriptor().is_generator() && self.node.is_identity(&self.params)
    }

    /// Renders working images (the path for callers that already hold images).
    pub fn render_images(
        &self,
        inputs: &[Image],
        width: usize,
        height: usize,
        frame: i64,
        ctx: &RenderContext<'_>,
    ) -> Result<Image> {
        let desc = self.descriptor();
        if inputs.len() != desc.inputs.len() {
            return Err(Error::InvalidArgument(format!(
                "{} takes {} input image(s) ({}), got {}",
                desc.label,
                desc.inputs.len(),
                desc.inputs.join(", "),
                inputs.len()
            )));
        }
        // Before anything is allocated for the frame: within the limits.
        crate::frame::check_size(width, height)?;
        ctx.check_abort()?;
        if self.is_identity() {
            let out = inputs[0].try_clone()?;
            ctx.progress(1.0);
            return Ok(out);
        }
        let out = self.node.render(&RenderRequest {
            inputs,
            params: &self.params,
            frame,
            width,
            height,
            ctx,
        })?;
        if (out.width(), out.height()) != (width, height) {
            return Err(Error::Internal(format!(
                "{} rendered {}×{} where {width}×{height} was asked",
                desc.label,
                out.width(),
                out.height()
            )));
        }
        ctx.progress(1.0);
        Ok(out)
    }

    /// Renders host frames into a host frame. Filters render at the size of
    /// their first input, which must equal the output size.
    pub fn render(
        &self,
        inputs: &[FrameRef<'_>],
        output: &mut FrameMut<'_>,
        frame: i64,
        ctx: &RenderContext<'_>,
    ) -> Result<()> {
        let (w, h) = (output.layout().width, output.layout().height);
        for (i, f) in inputs.iter().enumerate() {
            if (f.layout().width, f.layout().height) != (w, h) {
                return Err(Error::InvalidFrame(format!(
                    "input {i} is {}×{} but the output is {w}×{h}; equifx nodes keep the frame size",
                    f.layout().width,
                    f.layout().height
                )));
            }
        }
        if self.is_identity() {
            if let Some(src) = inputs.first() {
                let (a, b) = (src.layout(), output.layout());
                if (a.format, a.colour, a.alpha) == (b.format, b.colour, b.alpha) {
                    ctx.check_abort()?;
                    output.copy_from(src)?;
                    ctx.progress(1.0);
                    return Ok(());
                }
            }
        }
        let images = inputs
            .iter()
            .map(Image::from_frame)
            .collect::<Result<Vec<Image>>>()?;
        let out = self.render_images(&images, w, h, frame, ctx)?;
        out.to_frame(output)
    }
}
