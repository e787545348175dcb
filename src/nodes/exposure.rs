//! Exposure: exposure (stops) and gain in scene-linear light.
//!
//! A plain colour utility that also proves every host path end to end
//! without a model. Alpha passes through untouched; premultiplied input is
//! unpremultiplied by the frame layer first, so scaling never darkens edges.
//!
//! History: 1.0 — first version.

use crate::error::{Error, Result};
use crate::frame::Image;
use crate::node::{Node, RenderRequest};
use crate::params::ParamValues;

pub const ID: &str = "org.equifx.Exposure";

pub struct Exposure;

impl Exposure {
    fn factor(params: &ParamValues) -> Result<f32> {
        Ok((params.float("exposure")?.exp2() * params.float("gain")?) as f32)
    }
}

impl Node for Exposure {
    fn id(&self) -> &'static str {
        ID
    }

    fn is_identity(&self, params: &ParamValues) -> bool {
        Self::factor(params).is_ok_and(|k| k == 1.0)
    }

    fn render(&self, req: &RenderRequest<'_>) -> Result<Image> {
        let mut img = req
            .inputs
            .first()
            .ok_or_else(|| Error::InvalidArgument("Exposure needs its Source input".into()))?
            .try_clone()?;
        let k = Self::factor(req.params)?;
        for c in 0..3 {
            for v in img.plane_mut(c) {
                *v *= k;
            }
        }
        Ok(img)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::RenderContext;

    #[test]
    fn one_stop_doubles_linear_light_and_keeps_alpha() {
        let desc = crate::manifest::node(ID).unwrap();
        let mut params = desc.default_values();
        params.set_from_str("exposure", "1").unwrap();
        params.set_from_str("gain", "0.25").unwrap();
        let input = Image::from_planes(1, 1, vec![0.2, 0.4, 0.8, 0.5]).unwrap();
        let ctx = RenderContext::default();
        let req = RenderRequest {
            inputs: std::slice::from_ref(&input),
            params: &params,
            frame: 0,
            width: 1,
            height: 1,
            ctx: &ctx,
        };
        let out = Exposure.render(&req).unwrap();
        assert_eq!(out.data(), &[0.1, 0.2, 0.4, 0.5]);
        assert!(!Exposure.is_identity(&params));
        assert!(Exposure.is_identity(&desc.default_values()));
    }
}
