//! Nearest ×2 upsampling followed by a 3 × 3 convolution, computed without
//! the upsampled tensor and with 4/9 of the products.
//!
//! # Why it is exact
//! After nearest ×2 upsampling, output pixel (2i + py, 2j + px) of a 3 × 3,
//! padding-1 convolution reads only input rows i − 1 + py … i + py and
//! columns j − 1 + px … j + px: two of the three kernel rows (and columns)
//! land on the same input row (column). So each of the four output phases
//! (py, px) is a 2 × 2 convolution of the small input, whose weights are the
//! 3 × 3 kernel's taps summed where they share an input value:
//! phase 0 takes rows {k₀, k₁ + k₂}, phase 1 rows {k₀ + k₁, k₂}, and the
//! same for columns. All four phases run as one 2 × 2, padding-1 convolution
//! with 4·C_out outputs (one wide matrix product, not four narrow ones), and
//! phase (py, px) of output pixel (i, j) is its value at (i + py, j + px).
//!
//! # Numerics
//! Products of one input value with two taps are summed as one product with
//! the summed tap, so results differ from upsample-then-convolve by rounding
//! only: within 1e-5 · Σ|x·w| of it (tested).

use candle_core::{bail, CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::activation::Activation;
use super::conv::{conv2d_act, f32_data};

/// `x.upsample_nearest2d(2h, 2w)` convolved with the 3 × 3 kernel `w`
/// (padding 1, stride 1) plus the bias `b`, then `act`. Other kernel sizes,
/// and [`super::with_candle_ops`], take the plain path.
pub fn upsample2x_conv3x3(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    act: Activation,
) -> Result<Tensor> {
    let (_, _, h, wd) = x.dims4()?;
    let (c_out, _, k_h, k_w) = w.dims4()?;
    if (k_h, k_w) != (3, 3) || !super::enabled() {
        return conv2d_act(&x.upsample_nearest2d(2 * h, 2 * wd)?, w, b, 1, 1, act);
    }
    let phases = phase_weights(w)?;
    let bias = b.map(|b| Tensor::cat(&[b, b, b, b], 0)).transpose()?;
    let y = conv2d_act(x, &phases, bias.as_ref(), 1, 1, act)?;
    interleave(&y, c_out, h, wd)
}

/// The four phases' 2 × 2 kernels, (4·C_out, C_in, 2, 2), phase (py, px)
/// at rows (2·py + px)·C_out …; built with candle ops so gradients reach `w`.
fn phase_weights(w: &Tensor) -> Result<Tensor> {
    // Taps of a 3-long axis merged into the two a phase reads.
    let merge = |t: &Tensor, dim: usize, phase: usize| -> Result<Tensor> {
        let tap = |k: usize| t.narrow(dim, k, 1);
        let (first, second) = if phase == 0 {
            (tap(0)?, (tap(1)? + tap(2)?)?)
        } else {
            ((tap(0)? + tap(1)?)?, tap(2)?)
        };
        Tensor::cat(&[first, second], dim)
    };
    let mut all = Vec::with_capacity(4);
    for py in 0..2 {
        let rows = merge(w, 2, py)?;
        for px in 0..2 {
            all.push(merge(&rows, 3, px)?);
        }
    }
    Tensor::cat(&all, 0)?.contiguous()
}

/// (B, 4·C, H + 1, W + 1) phase planes → (B, C, 2H, 2W): output pixel
/// (2i + py, 2j + px) of channel c is plane (2·py + px)·C + c at
/// (i + py, j + px).
fn interleave(y: &Tensor, c: usize, h: usize, w: usize) -> Result<Tensor> {
    if super::enabled() && y.device().is_cpu() && y.dtype() == DType::F32 && y.is_contiguous() {
        return y.apply_op1(Interleave { c, h, w });
    }
    let phase = |py: usize, px: usize| -> Result<Tensor> {
        y.narrow(1, (2 * py + px) * c, c)?
            .narrow(2, py, h)?
            .narrow(3, px, w)
    };
    let b = y.dim(0)?;
    let row = |py: usize| -> Result<Tensor> {
        Tensor::stack(&[phase(py, 0)?, phase(py, 1)?], 4)?.reshape((b, c, h, 2 * w))
    };
    Tensor::stack(&[row(0)?, row(1)?], 3)?.reshape((b, c, 2 * h, 2 * w))
}

/// [`interleave`] as one pass over the output on the CPU; its backward is
/// the inverse gather ([`Deinterleave`]).
#[derive(Clone, Copy)]
struct Interleave {
    c: usize,
    h: usize,
    w: usize,
}

impl CustomOp1 for Interleave {
    fn name(&self) -> &'static str {
        "equifx-interleave-phases"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (c, h, w) = (self.c, self.h, self.w);
        let (b, c4, yh, yw) = l.shape().dims4()?;
        if c4 != 4 * c || yh != h + 1 || yw != w + 1 {
            bail!("equifx interleave: shapes disagree")
        }
        let CpuStorage::F32(data) = s else {
            bail!("equifx interleave: not f32")
        };
        let Some((start, end)) = l.contiguous_offsets() else {
            bail!("equifx interleave: not contiguous")
        };
        let y = &data[start..end];
        let (plane_in, plane_out) = (yh * yw, 4 * h * w);
        let mut out = vec![0f32; b * c * plane_out];
        out.par_chunks_mut(plane_out)
            .enumerate()
            .for_each(|(bc, dst)| {
                let (img, ch) = (bc / c, bc % c);
                for (oy, dst_row) in dst.chunks_exact_mut(2 * w).enumerate() {
                    let (i, py) = (oy / 2, oy % 2);
                    let src = |px: usize| {
                        let p = img * c4 + (2 * py + px) * c + ch;
                        &y[p * plane_in + (i + py) * yw + px..][..w]
                    };
                    let (even, odd) = (src(0), src(1));
                    for ((pair, &e), &o) in dst_row.chunks_exact_mut(2).zip(even).zip(odd) {
                        pair[0] = e;
                        pair[1] = o;
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((b, c, 2 * h, 2 * w))))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(
            grad.contiguous()?.apply_op1_no_bwd(&Deinterleave(*self))?,
        ))
    }
}

/// The gradient of [`Interleave`]: (B, C, 2H, 2W) → (B, 4·C, H + 1, W + 1),
/// each output value back to the one phase-plane value it came from; the
/// row and column of each plane no output reads get zero.
struct Deinterleave(Interleave);

impl CustomOp1 for Deinterleave {
    fn name(&self) -> &'static str {
        "equifx-deinterleave-phases"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let Interleave { c, h, w } = self.0;
        let (b, gc, gh, gw) = l.shape().dims4()?;
        if gc != c || gh != 2 * h || gw != 2 * w {
            bail!("equifx deinterleave: shapes disagree")
        }
        let g = f32_data((s, l), "deinterleave")?;
        let (yh, yw) = (h + 1, w + 1);
        let (plane_in, plane_out) = (4 * h * w, yh * yw);
        let mut out = vec![0f32; b * 4 * c * plane_out];
        out.par_chunks_mut(plane_out)
            .enumerate()
            .for_each(|(plane, dst)| {
                let (img, rest) = (plane / (4 * c), plane % (4 * c));
                let (phase, ch) = (rest / c, rest % c);
                let (py, px) = (phase / 2, phase % 2);
                let src = &g[(img * c + ch) * plane_in..][..plane_in];
                for i in 0..h {
                    let row = &src[(2 * i + py) * 2 * w..][..2 * w];
                    let dst_row = &mut dst[(i + py) * yw + px..][..w];
                    for (d, pair) in dst_row.iter_mut().zip(row.chunks_exact(2)) {
                        *d = pair[px];
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((b, 4 * c, yh, yw))))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;
    use crate::kernels::conv::conv2d;
    use crate::rng::StreamRng;

    fn randn(rng: &mut StreamRng, dims: &[usize]) -> Tensor {
        let n = dims.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
        Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
    }

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    /// (batch, c_in, h, w, c_out, bias): odd sizes, 1-pixel images.
    const CASES: [(usize, usize, usize, usize, usize, bool); 6] = [
        (1, 4, 5, 7, 6, true),
        (2, 3, 1, 1, 5, false),
        (1, 16, 9, 4, 8, true),
        (3, 2, 1, 6, 3, true),
        (1, 32, 13, 11, 16, true),
        (1, 64, 8, 8, 48, true),
    ];

    fn reference(x: &Tensor, w: &Tensor, b: Option<&Tensor>, act: Activation) -> Tensor {
        let (_, _, h, wd) = x.dims4().unwrap();
        let up = x.upsample_nearest2d(2 * h, 2 * wd).unwrap();
        act.on_tensor(conv2d(&up, w, b, 1, 1).unwrap()).unwrap()
    }

    /// Σ|x·w| + |b| of every output of the reference.
    fn scale(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Vec<f64> {
        let b = b.map(|b| b.abs().unwrap());
        let s = reference(
            &x.abs().unwrap(),
            &w.abs().unwrap(),
            b.as_ref(),
            Activation::Identity,
        );
        values(&s).iter().map(|&v| f64::from(v)).collect()
    }

    #[test]
    fn matches_upsample_then_convolve() {
        for (i, &(n, ci, h, w, co, bias)) in CASES.iter().enumerate() {
            let mut rng = StreamRng::new(i as u64, b"upconv-test", 0);
            let x = randn(&mut rng, &[n, ci, h, w]);
            let wt = randn(&mut rng, &[co, ci, 3, 3]);
            let b = bias.then(|| randn(&mut rng, &[co]));
            let s = scale(&x, &wt, b.as_ref());
            for act in [Activation::Identity, Activation::Silu, Activation::Sigmoid] {
                let ours = values(&upsample2x_conv3x3(&x, &wt, b.as_ref(), act).unwrap());
                let theirs = values(&reference(&x, &wt, b.as_ref(), act));
                assert_eq!(ours.len(), theirs.len());
                for ((o, t), s) in ours.iter().zip(&theirs).zip(&s) {
                    // SiLU and sigmoid have slopes of at most 1.1, so the
                    // convolution's bound carries over.
                    let err = (f64::from(*o) - f64::from(*t)).abs();
                    assert!(err <= 1.1e-5 * s.max(1e-30), "case {i} {act:?}: {o} vs {t}");
                }
            }
        }
    }

    #[test]
    fn a_shifted_phase_is_caught() {
        // The comparison can fail: the phases swapped are far outside the bound.
        let mut rng = StreamRng::new(9, b"upconv-test", 0);
        let x = randn(&mut rng, &[1, 4, 6, 6]);
        let wt = randn(&mut rng, &[5, 4, 3, 3]);
        let theirs = values(&reference(&x, &wt, None, Activation::Identity));
        let y = conv2d(&x, &phase_weights(&wt).unwrap(), None, 1, 1).unwrap();
        let wrong = values(&interleave(&y.flip(&[1]).unwrap(), 5, 6, 6).unwrap());
        let worst = wrong
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst > 0.1, "{worst}");
    }

    #[test]
    fn gradients_match_upsample_then_convolve() {
        for (i, &(n, ci, h, w, co, bias)) in CASES.iter().enumerate() {
            let mut rng = StreamRng::new(20 + i as u64, b"upconv-test", 0);
            let x = Var::from_tensor(&randn(&mut rng, &[n, ci, h, w])).unwrap();
            let wt = Var::from_tensor(&randn(&mut rng, &[co, ci, 3, 3])).unwrap();
            let b = bias.then(|| Var::from_tensor(&randn(&mut rng, &[co])).unwrap());
            let proj = randn(&mut rng, &[n, co, 2 * h, 2 * w]);
            let grads = |y: Tensor| {
                let loss = (y * &proj).unwrap().sum_all().unwrap();
                let g = loss.backward().unwrap();
                let mut v = vec![values(g.get(&x).unwrap()), values(g.get(&wt).unwrap())];
                if let Some(b) = &b {
                    v.push(values(g.get(b).unwrap()));
                }
                v
            };
            let bt = b.as_ref().map(|b| b.as_tensor());
            let ours = grads(upsample2x_conv3x3(&x, &wt, bt, Activation::Silu).unwrap());
            let theirs = grads(reference(&x, &wt, bt, Activation::Silu));
            for (o, t) in ours.iter().zip(&theirs) {
                let norm = t.iter().map(|v| v.abs()).fold(0f32, f32::max).max(1e-6);
                for (a, b) in o.iter().zip(t) {
                    assert!((a - b).abs() <= 1e-4 * norm, "case {i}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn the_interleave_op_and_its_gradient_match_candles_ops() {
        let mut rng = StreamRng::new(30, b"upconv-test", 0);
        for (n, c, h, w) in [(2, 3, 5, 7), (1, 1, 1, 1), (3, 2, 1, 4)] {
            let y = Var::from_tensor(&randn(&mut rng, &[n, 4 * c, h + 1, w + 1])).unwrap();
            let proj = randn(&mut rng, &[n, c, 2 * h, 2 * w]);
            let run = || {
                let out = interleave(&y, c, h, w).unwrap();
                let g = (&out * &proj)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap();
                (values(&out), values(g.get(&y).unwrap()))
            };
            let ours = run();
            let theirs = crate::kernels::with_candle_ops(run);
            // Both only move values: equal to the bit.
            assert_eq!(ours, theirs, "{n}×{c}×{h}×{w}");
        }
    }

    #[test]
    fn bit_identical_for_any_thread_count() {
        let mut rng = StreamRng::new(40, b"upconv-test", 0);
        let x = randn(&mut rng, &[1, 32, 37, 29]);
        let wt = randn(&mut rng, &[16, 32, 3, 3]);
        let b = randn(&mut rng, &[16]);
        let run = |threads: usize| -> Vec<u32> {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let y = upsample2x_conv3x3(&x, &wt, Some(&b), Activation::Silu).unwrap();
                values(&y).iter().map(|v| v.to_bits()).collect()
            })
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(3));
    }
}
