//! Every node the manifest declares renders at its default parameters, with
//! the shipped model: what an artist gets by dropping the node into a comp
//! and wiring its inputs. The result must be the requested size, finite, and
//! keep the input's alpha where the node has an input.

use equifx::frame::Image;
use equifx::node::RenderContext;
use equifx::Instance;

/// A 72 × 40 plate: a smooth colour ramp with alpha falling off to the right.
fn plate(w: usize, h: usize) -> Image {
    let n = w * h;
    let mut data = vec![0.0f32; 4 * n];
    for y in 0..h {
        for x in 0..w {
            let p = y * w + x;
            data[p] = x as f32 / w as f32;
            data[n + p] = y as f32 / h as f32;
            data[2 * n + p] = 0.25;
            data[3 * n + p] = 1.0 - 0.5 * x as f32 / w as f32;
        }
    }
    Image::from_planes(w, h, data).unwrap()
}

/// Nodes that need a file before they can render, and the parameter naming it.
const NEEDS_A_FILE: [(&str, &str); 1] = [("org.equifx.Rebalance", "plan")];

#[test]
fn every_node_renders_at_its_default_parameters() {
    let (w, h) = (72, 40);
    let input = plate(w, h);
    let nodes = equifx::manifest::nodes();
    assert!(
        nodes.len() >= 5,
        "the manifest declares {} nodes",
        nodes.len()
    );
    for node in nodes {
        let inst = Instance::new(&node.id).unwrap();
        let inputs: Vec<Image> = node.inputs.iter().map(|_| input.clone()).collect();
        let out = match inst.render_images(&inputs, w, h, 0, &RenderContext::default()) {
            Ok(out) => out,
            Err(e) => {
                // A node whose work is defined by a file the artist makes
                // (Rebalance's plan) cannot start from its default: it must
                // say which parameter to set, and nothing else may fail.
                let (_, param) = NEEDS_A_FILE
                    .iter()
                    .find(|(id, _)| *id == node.id)
                    .unwrap_or_else(|| panic!("{}: {e}", node.id));
                let msg = e.to_string();
                assert!(msg.contains(&format!("'{param}'")), "{}: {msg}", node.id);
                continue;
            }
        };
        assert_eq!((out.width(), out.height()), (w, h), "{}", node.id);
        assert!(
            out.data().iter().all(|v| v.is_finite()),
            "{}: non-finite output",
            node.id
        );
        if !node.inputs.is_empty() {
            assert_eq!(out.plane(3), input.plane(3), "{}: alpha changed", node.id);
        }
    }
}
