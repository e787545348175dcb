//! The C++ API of equifx, through cxx: C++ code calls `equifx::new_instance`,
//! sets parameters and renders RGBA float frames, with Rust errors arriving as
//! `rust::Error` exceptions. It is a separate static library (not part of the
//! cdylib) so the C ABI's exported symbols stay exactly the documented ones.
//!
//! Every function catches panics: cxx would otherwise abort the host process.

use std::panic::{catch_unwind, AssertUnwindSafe};

use equifx::frame::Image;
use equifx::node::RenderContext;

#[cxx::bridge(namespace = "equifx")]
mod ffi {
    /// One node as `plugin-manifest/nodes.toml` declares it.
    struct NodeInfo {
        id: String,
        label: String,
        summary: String,
        /// True for generators (no input image).
        generator: bool,
    }

    extern "Rust" {
        /// A node instance: cheap, parameters only; models are shared per process.
        type Instance;

        /// Every node of this build, in manifest order.
        fn nodes() -> Vec<NodeInfo>;
        /// A new instance of node `node_id` (e.g. "org.equifx.DomainTransfer") with default parameters.
        fn new_instance(node_id: &str) -> Result<Box<Instance>>;
        /// Sets a parameter from text ("0.5", "anime", "true", a path), checked against its range.
        fn set_param(self: &mut Instance, id: &str, value: &str) -> Result<()>;
        /// Renders one frame. `input` is interleaved RGBA, scene-linear, straight
        /// alpha, `width × height × 4` floats (empty for generators); the result
        /// has the same layout and size.
        fn render_rgba(
            self: &Instance,
            input: &[f32],
            width: usize,
            height: usize,
            frame: i64,
        ) -> Result<Vec<f32>>;
    }
}

/// A node instance behind the C++ API.
pub struct Instance(equifx::Instance);

fn guarded<T>(f: impl FnOnce() -> equifx::Result<T>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => {
            Err("internal error in equifx (a bug: please report it); the host can continue".into())
        }
    }
}

fn nodes() -> Vec<ffi::NodeInfo> {
    equifx::manifest::nodes()
        .iter()
        .map(|n| ffi::NodeInfo {
            id: n.id.clone(),
            label: n.label.clone(),
            summary: n.summary.clone(),
            generator: n.is_generator(),
        })
        .collect()
}

fn new_instance(node_id: &str) -> Result<Box<Instance>, String> {
    guarded(|| equifx::Instance::new(node_id).map(|i| Box::new(Instance(i))))
}

impl Instance {
    fn set_param(&mut self, id: &str, value: &str) -> Result<(), String> {
        guarded(|| self.0.params_mut().set_from_str(id, value))
    }

    fn render_rgba(
        &self,
        input: &[f32],
        width: usize,
        height: usize,
        frame: i64,
    ) -> Result<Vec<f32>, String> {
        guarded(|| {
            let n = width
                .checked_mul(height)
                .filter(|&n| n > 0)
                .ok_or_else(|| {
                    equifx::Error::InvalidFrame(format!(
                        "frame size {width}×{height} is empty or too large"
                    ))
                })?;
            let generator = self.0.descriptor().is_generator();
            let inputs = if generator {
                Vec::new()
            } else {
                if input.len() != 4 * n {
                    return Err(equifx::Error::InvalidFrame(format!(
                        "{} floats for a {width}×{height} RGBA frame; expected {}",
                        input.len(),
                        4 * n
                    )));
                }
                let planar: Vec<f32> = (0..4)
                    .flat_map(|c| (0..n).map(move |p| input[4 * p + c]))
                    .collect();
                vec![Image::from_planes(width, height, planar)?]
            };
            let out =
                self.0
                    .render_images(&inputs, width, height, frame, &RenderContext::default())?;
            let data = out.data();
            Ok((0..n)
                .flat_map(|p| (0..4).map(move |c| data[c * n + p]))
                .collect())
        })
    }
}
