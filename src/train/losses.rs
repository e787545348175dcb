//! The training losses: the autoencoder's reconstruction terms and the
//! flow's negative log-likelihood, as plain tensor functions.

use candle_core::{Result, Tensor, D};

/// Side of the texture-energy cells, in pixels. The cell grid is shifted by a
/// random phase in `0..TEXTURE_CELL` every step.
pub(super) const TEXTURE_CELL: usize = 8;

/// Local texture energy: the mean |Laplacian| of luma over 8×8 cells whose
/// grid starts at `phase` = (x, y) pixels, each in 0..[`TEXTURE_CELL`].
///
/// L1 and edge losses reward the mean of every texture the latent cannot pin
/// down to the pixel, which is a flat colour: an oil painting's canvas weave and
/// brush strokes came back as a smooth photo background. Matching the energy per
/// cell instead of the pixels lets the decoder paint texture of the right
/// strength without having to guess its phase. The cell grid moves every step:
/// cells fixed on the decoder's own 8-px upsampling grid taught it to paint
/// that grid into every picture.
pub(super) fn texture_energy(x: &Tensor, phase: (usize, usize)) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let luma = ((x.narrow(1, 0, 1)? * 0.2126)? + (x.narrow(1, 1, 1)? * 0.7152)?)?;
    let luma = (luma + (x.narrow(1, 2, 1)? * 0.0722)?)?;
    let centre = luma.narrow(2, 1, h - 2)?.narrow(3, 1, w - 2)?;
    let lap = ((centre * 4.0)?
        - luma.narrow(2, 0, h - 2)?.narrow(3, 1, w - 2)?
        - luma.narrow(2, 2, h - 2)?.narrow(3, 1, w - 2)?
        - luma.narrow(2, 1, h - 2)?.narrow(3, 0, w - 2)?
        - luma.narrow(2, 1, h - 2)?.narrow(3, 2, w - 2)?)?;
    let lap = lap.pad_with_zeros(2, 1, 1)?.pad_with_zeros(3, 1, 1)?;
    let lap = match phase {
        (0, 0) => lap,
        (px, py) => lap
            .narrow(2, py, h - TEXTURE_CELL)?
            .narrow(3, px, w - TEXTURE_CELL)?,
    };
    lap.abs()?.avg_pool2d(TEXTURE_CELL)
}

/// Where a picture's outlines are: the colour gradient (|∂x| + |∂y| by forward
/// differences, summed over channels) of the picture at half resolution (fine
/// texture averages out, object edges stay), widened by a pixel on each side
/// and scaled to 1 at each picture's strongest edge. Corners, where both
/// differences step, weigh up to twice a straight side.
/// Shape (B, 1, H, W); H and W even.
///
/// L1 spends the decoder's capacity in proportion to area, and the corners of a
/// triangle or square are a few pixels: the autoencoder rounded them off (one
/// photo triangle or square in four came back reading as round). Weighting the
/// error by this map makes a blurred outline cost what it costs the viewer.
pub(super) fn outline_map(x: &Tensor) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let half = x.avg_pool2d(2)?;
    let (hh, hw) = (h / 2, w / 2);
    let gx = (half.narrow(3, 1, hw - 1)? - half.narrow(3, 0, hw - 1)?)?
        .abs()?
        .pad_with_zeros(3, 0, 1)?;
    let gy = (half.narrow(2, 1, hh - 1)? - half.narrow(2, 0, hh - 1)?)?
        .abs()?
        .pad_with_zeros(2, 0, 1)?;
    let edges = (gx + gy)?.sum_keepdim(1)?.upsample_nearest2d(h, w)?;
    let wide = edges
        .pad_with_same(2, 1, 1)?
        .pad_with_same(3, 1, 1)?
        .max_pool2d_with_stride(3, 1)?;
    let peak = wide.max_keepdim(2)?.max_keepdim(3)?;
    wide.broadcast_div(&(peak + 1e-6)?)
}

/// Mean absolute error on the outlines of `x` (see [`outline_map`]).
fn outline_error(xh: &Tensor, x: &Tensor) -> Result<Tensor> {
    let weight = outline_map(x)?;
    let err = (xh - x)?.abs()?.sum_keepdim(1)?;
    // At least one pixel's weight below: a batch without a single edge costs 0, not 0 / 0.
    (err * &weight)?.sum_all()? / (weight.sum_all()? * 3.0)?.maximum(1.0)?
}

/// L1 + edge error, plus the outline and texture terms when weighted.
pub(super) fn ae_loss(
    xh: &Tensor,
    x: &Tensor,
    texture_weight: f64,
    outline_weight: f64,
    phase: (usize, usize),
) -> Result<Tensor> {
    let l1 = (xh - x)?.abs()?.mean_all()?;
    let (_, _, h, w) = x.dims4()?;
    let gx = |t: &Tensor| -> Result<Tensor> { t.narrow(3, 1, w - 1)? - t.narrow(3, 0, w - 1)? };
    let gy = |t: &Tensor| -> Result<Tensor> { t.narrow(2, 1, h - 1)? - t.narrow(2, 0, h - 1)? };
    let edge = ((gx(xh)? - gx(x)?)?.abs()?.mean_all()? + (gy(xh)? - gy(x)?)?.abs()?.mean_all()?)?;
    let mut loss = (l1 + edge)?;
    if outline_weight > 0.0 {
        loss = (loss + (outline_error(xh, x)? * outline_weight)?)?;
    }
    if texture_weight > 0.0 {
        let texture = (texture_energy(xh, phase)? - texture_energy(x, phase)?)?
            .abs()?
            .mean_all()?;
        loss + (texture * texture_weight)?
    } else {
        Ok(loss)
    }
}

/// The flow's negative log-likelihood under N(0, I), per picture and
/// averaged over the batch: ½‖v‖² − log|det J|.
pub(super) fn flow_nll(v: &Tensor, logdet: &Tensor) -> Result<Tensor> {
    ((v.sqr()?.flatten_from(1)?.sum(D::Minus1)? * 0.5)? - logdet)?.mean_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// A grey 1 × 3 × n × n image: pixel (x, y) is `f(x, y)` in every channel.
    fn grey(n: usize, f: impl Fn(usize, usize) -> f32) -> Tensor {
        let plane: Vec<f32> = (0..n * n).map(|p| f(p % n, p / n)).collect();
        let data = [plane.clone(), plane.clone(), plane].concat();
        Tensor::from_vec(data, (1, 3, n, n), &Device::Cpu).unwrap()
    }

    fn cells(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    /// Oracle: a square of 0.9 on 0.1 (pixels 10..22 of 32) steps by 0.8 in
    /// each channel between half-resolution pixels 4 and 5 (and 10 and 11):
    /// 2.4 summed over channels along each side, twice that at half-resolution
    /// pixel (10, 10) where both forward differences step (the peak, 1 after
    /// scaling; sides 0.5); the band reaches a pixel beyond each step; the
    /// square's middle and the background far from it are 0. A one-pixel
    /// checkerboard averages to a flat 0.5 at half resolution: fine texture is
    /// not an outline.
    #[test]
    fn outline_map_marks_edges_not_fine_texture() {
        let inside = |v: usize| (10..22).contains(&v);
        let square = grey(32, |x, y| if inside(x) && inside(y) { 0.9 } else { 0.1 });
        let map = cells(&outline_map(&square).unwrap());
        let at = |x: usize, y: usize| map[y * 32 + x];
        for (x, y) in [(7, 16), (9, 16), (10, 16), (16, 22), (22, 16)] {
            assert!((at(x, y) - 0.5).abs() < 1e-5, "({x}, {y}): {}", at(x, y));
        }
        for (x, y) in [(20, 20), (21, 21), (19, 22)] {
            assert!((at(x, y) - 1.0).abs() < 1e-5, "({x}, {y}): {}", at(x, y));
        }
        for (x, y) in [(16, 16), (2, 2), (30, 16), (5, 16)] {
            assert_eq!(at(x, y), 0.0, "({x}, {y})");
        }
        assert!(map.iter().all(|&v| (0.0..=1.0 + 1e-6).contains(&v)));
        let board = grey(32, |x, y| ((x + y) % 2) as f32);
        assert!(cells(&outline_map(&board).unwrap())
            .iter()
            .all(|&v| v == 0.0));

        // The error counts only what lies on the outline.
        let nudge = |px: usize, py: usize| {
            grey(32, |x, y| {
                let v = if inside(x) && inside(y) { 0.9 } else { 0.1 };
                v + if (x, y) == (px, py) { 0.3 } else { 0.0 }
            })
        };
        let off = outline_error(&nudge(16, 16), &square).unwrap();
        let on = outline_error(&nudge(9, 16), &square).unwrap();
        assert_eq!(off.to_scalar::<f32>().unwrap(), 0.0);
        assert!(on.to_scalar::<f32>().unwrap() > 1e-4);
        let flat = grey(32, |_, _| 0.4);
        let blank = outline_error(&nudge(9, 16), &flat).unwrap();
        assert_eq!(
            blank.to_scalar::<f32>().unwrap(),
            0.0,
            "no outline, no cost"
        );
    }

    /// Oracle: luma weights sum to 1, so a grey checkerboard of 0/1 has luma
    /// 0/1 and |4c − neighbours| = 4 at every pixel whose four neighbours exist;
    /// the one-pixel frame has no Laplacian (zero padded). The top-left 8×8
    /// cell therefore holds 7 × 7 pixels of 4: 196 / 64 = 3.0625. A flat image has 0.
    #[test]
    fn texture_energy_measures_the_mean_laplacian_per_cell() {
        let board = grey(16, |x, y| ((x + y) % 2) as f32);
        let e = cells(&texture_energy(&board, (0, 0)).unwrap());
        assert_eq!(e.len(), 4);
        assert!((e[0] - 196.0 / 64.0).abs() < 1e-5, "{e:?}");
        let flat = cells(&texture_energy(&grey(16, |_, _| 0.4), (0, 0)).unwrap());
        assert!(flat.iter().all(|v| v.abs() < 1e-6), "{flat:?}");
    }

    /// Oracle: one bright pixel at (8, 8) of a black 24 × 24 image has a
    /// Laplacian of 4 at the pixel and 1 at each of its four neighbours (8 in
    /// all), which straddle three phase-0 cells; with the grid moved
    /// by (4, 4) all five pixels fall into the first cell (8 / 64), and no energy
    /// is lost or made up by the move.
    #[test]
    fn the_cell_grid_moves_with_the_phase() {
        let dot = grey(24, |x, y| f32::from(u8::from((x, y) == (8, 8))));
        let fixed = cells(&texture_energy(&dot, (0, 0)).unwrap());
        let moved = cells(&texture_energy(&dot, (4, 4)).unwrap());
        assert_eq!((fixed.len(), moved.len()), (9, 4));
        assert_eq!(fixed.iter().filter(|&&e| e > 0.0).count(), 3, "{fixed:?}");
        assert!((moved[0] - 8.0 / 64.0).abs() < 1e-6, "{moved:?}");
        for total in [fixed.iter().sum::<f32>(), moved.iter().sum::<f32>()] {
            assert!((total * 64.0 - 8.0).abs() < 1e-5, "{total}");
        }
    }

    /// The reason for the term: two textures of the same strength but opposite
    /// phase are far apart in L1 (1.0 per pixel) yet equal in texture energy,
    /// so the decoder is not pushed to blur texture it cannot place exactly;
    /// a flat guess is far from a texture in energy, and the term's gradient
    /// reaches the prediction.
    #[test]
    fn the_texture_term_ignores_phase_and_penalises_flatness() {
        let a = grey(16, |x, y| ((x + y) % 2) as f32);
        let b = grey(16, |x, y| ((x + y + 1) % 2) as f32);
        let l1 = (&a - &b).unwrap().abs().unwrap().mean_all().unwrap();
        assert!((l1.to_scalar::<f32>().unwrap() - 1.0).abs() < 1e-6);
        let phase = (texture_energy(&a, (0, 0)).unwrap() - texture_energy(&b, (0, 0)).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .mean_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(phase < 1e-5, "opposite phases differ by {phase}");

        let guess = candle_core::Var::from_tensor(&grey(16, |_, _| 0.5)).unwrap();
        let with = ae_loss(guess.as_tensor(), &a, 2.0, 0.0, (3, 5)).unwrap();
        let without = ae_loss(guess.as_tensor(), &a, 0.0, 0.0, (3, 5)).unwrap();
        let gap = with.to_scalar::<f32>().unwrap() - without.to_scalar::<f32>().unwrap();
        assert!(gap > 1.0, "a flat guess of a texture costs {gap}");
        let grads = with.backward().unwrap();
        let g = grads.get(&guess).expect("gradient reaches the prediction");
        assert!(
            g.abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                > 0.0
        );
    }
}
