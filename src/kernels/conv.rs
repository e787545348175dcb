//! A fast f32 conv2d for the CPU (forward and backward), as a candle custom op.
//!
//! # Algorithm
//! The output of each image is cut into bands of whole output rows. For one
//! (image, band) the input patches the band reads are laid out as a K × N
//! matrix (K = c_in·k_h·k_w, N = the band's pixels: "im2col") in a buffer
//! each thread keeps, and one sgemm W[c_out × K] · col[K × N] writes the band
//! straight into the NCHW output, on top of the bias already written there.
//! Unpadded 1×1 stride-1 convolutions skip the copy: their input already is
//! that matrix. Bands are sized so the column buffer stays in the L2 cache.
//!
//! # Determinism
//! Bands are a function of the shapes alone, never of the thread count, and
//! each output value is computed by exactly one task with the whole K
//! reduction in one single-threaded sgemm call: results are bit-identical
//! for any number of rayon threads.
//!
//! # Numerics
//! Each output is a sum of K products (plus the bias) in f32, summed in a
//! different order than candle's own conv2d. The difference to candle stays
//! within 1e-5 · (Σ|x·w| + |b|) on the shapes the tests draw (K up to 1152;
//! the largest seen is 2.9e-7, the gradients' 2.3e-7 against f64 sums); the
//! worst case for either order is K·2⁻²⁴ of that sum.
//!
//! # Backward
//! The op implements `bwd`, on the same kernel: the input gradient is the
//! full transposed convolution of the output gradient, i.e. a conv2d of the
//! output gradient (stride − 1 zeros between its values) with the weights
//! flipped in space and transposed, cut to the input; the weight gradient
//! is, band by band, one sgemm of the output gradient against the band's
//! im2col, the bands summed over a partition fixed by the shapes. Both are
//! thread-count independent like the forward. Non-square kernels take
//! candle's own ops for the gradients.
//!
//! Stride-2 input gradients spend three quarters of their products on the
//! inserted zeros; splitting them by output phase would avoid that.
//!
//! One file, about half of it tests: the forward and backward passes share
//! the geometry, im2col and the matrix product, and the tests check them
//! through private helpers against candle and a naive convolution.

use std::cell::RefCell;

use candle_core::{
    bail, CpuStorage, CustomOp2, CustomOp3, DType, Layout, Module, Result, Shape, Tensor,
};
use rayon::prelude::*;

use super::activation::Activation;

/// Bytes of the im2col buffer one band aims at (the L2 cache is 2 MiB per
/// core on the machines this was tuned on).
const BAND_BYTES: usize = 768 * 1024;
/// Fewest output pixels per band (small bands make small, slow sgemms).
const MIN_BAND_PIXELS: usize = 128;
/// Most output pixels per band.
const MAX_BAND_PIXELS: usize = 8192;
/// Tasks an image batch is cut into at least, where its size allows, so
/// batch-1 inference uses every core. A constant, not the thread count.
const MIN_TASKS: usize = 16;

/// `x` (B, C_in, H, W) convolved with `w` (C_out, C_in, k_h, k_w), plus the
/// bias `b` (C_out) if given: candle's `x.conv2d(w, padding, stride, 1, 1)`
/// followed by the bias broadcast over (B, ·, H', W').
///
/// f32 tensors on the CPU whose data are contiguous run on this module's
/// kernel; anything else (other dtypes, CUDA, strided views) runs on
/// candle's own conv2d exactly as `candle_nn::Conv2d` does.
pub fn conv2d(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    padding: usize,
    stride: usize,
) -> Result<Tensor> {
    conv2d_act(x, w, b, padding, stride, Activation::Identity)
}

/// [`conv2d`] followed by `act`. When no input needs gradients (inference),
/// the kernel applies the activation to each band while it is still in
/// cache, instead of a separate pass over the whole output; in training it
/// runs as its own op with a backward pass after the convolution.
pub fn conv2d_act(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    padding: usize,
    stride: usize,
    act: Activation,
) -> Result<Tensor> {
    if !runs_on_kernel(x, w, b, padding, stride) {
        return act.on_tensor(candle_conv2d(x, w, b, padding, stride)?);
    }
    let tracked = x.track_op() || w.track_op() || b.is_some_and(Tensor::track_op);
    let (fused, after) = if tracked {
        (Activation::Identity, act)
    } else {
        (act, Activation::Identity)
    };
    let op = Conv2dOp {
        padding,
        stride,
        activation: fused,
    };
    let y = match b {
        Some(b) => x.apply_op3(w, b, op)?,
        None => x.apply_op2(w, op)?,
    };
    after.on_tracked(y)
}

/// What `candle_nn::Conv2d::forward` computes, for everything the kernel
/// does not take.
fn candle_conv2d(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    padding: usize,
    stride: usize,
) -> Result<Tensor> {
    let y = x.conv2d(w, padding, stride, 1, 1)?;
    match b {
        None => Ok(y),
        Some(b) => {
            let n = b.dims1()?;
            y.broadcast_add(&b.reshape((1, n, 1, 1))?)
        }
    }
}

fn runs_on_kernel(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    padding: usize,
    stride: usize,
) -> bool {
    let (Ok(xd), Ok(wd)) = (x.dims4(), w.dims4()) else {
        return false;
    };
    let Some(geometry) = Geometry::new(xd, wd, padding, stride) else {
        return false;
    };
    let bias_ok = b.is_none_or(|b| {
        b.device().is_cpu()
            && b.dtype() == DType::F32
            && b.is_contiguous()
            && b.dims1().is_ok_and(|n| n == geometry.c_out)
    });
    super::enabled()
        && x.device().is_cpu()
        && w.device().is_cpu()
        && x.dtype() == DType::F32
        && w.dtype() == DType::F32
        && x.is_contiguous()
        && w.is_contiguous()
        && bias_ok
}

/// A `candle_nn::Conv2d` whose forward runs on [`conv2d`]. It wraps the
/// candle layer, so it is built the same way (`candle_nn::conv2d` and a
/// `VarBuilder`) and its weights keep their names.
#[derive(Clone, Debug)]
pub struct Conv2d(candle_nn::Conv2d);

impl Conv2d {
    pub fn inner(&self) -> &candle_nn::Conv2d {
        &self.0
    }
}

impl From<candle_nn::Conv2d> for Conv2d {
    fn from(layer: candle_nn::Conv2d) -> Self {
        Conv2d(layer)
    }
}

impl Conv2d {
    /// The layer followed by `act` (fused on the kernel; see [`conv2d_act`]).
    pub fn forward_act(&self, x: &Tensor, act: Activation) -> Result<Tensor> {
        let c = self.0.config();
        if c.dilation != 1 || c.groups != 1 {
            return act.on_tensor(self.0.forward(x)?);
        }
        conv2d_act(x, self.0.weight(), self.0.bias(), c.padding, c.stride, act)
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_act(x, Activation::Identity)
    }
}

/// Sizes of one convolution, all non-zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Geometry {
    batch: usize,
    c_in: usize,
    h: usize,
    w: usize,
    c_out: usize,
    k_h: usize,
    k_w: usize,
    padding: usize,
    stride: usize,
    out_h: usize,
    out_w: usize,
}

impl Geometry {
    /// `None` where the kernel does not apply: mismatched channels (groups),
    /// a zero size or stride, a kernel larger than the padded input; candle
    /// then reports or handles it.
    fn new(
        (batch, c_in, h, w): (usize, usize, usize, usize),
        (c_out, c_in_k, k_h, k_w): (usize, usize, usize, usize),
        padding: usize,
        stride: usize,
    ) -> Option<Self> {
        let sizes = [batch, c_in, h, w, c_out, k_h, k_w, stride];
        if c_in != c_in_k || sizes.contains(&0) {
            return None;
        }
        let out = |n: usize, k: usize| (n + 2 * padding).checked_sub(k).map(|r| r / stride + 1);
        Some(Geometry {
            batch,
            c_in,
            h,
            w,
            c_out,
            k_h,
            k_w,
            padding,
            stride,
            out_h: out(h, k_h)?,
            out_w: out(w, k_w)?,
        })
    }

    /// The reduction length.
    fn k(&self) -> usize {
        self.c_in * self.k_h * self.k_w
    }

    /// Whether the input itself is the im2col matrix.
    fn direct(&self) -> bool {
        self.k_h == 1 && self.k_w == 1 && self.stride == 1 && self.padding == 0
    }

    /// Output rows per band: a function of the shapes only (see the module
    /// doc on determinism).
    fn band_rows(&self) -> usize {
        let pixels = (BAND_BYTES / (4 * self.k())).clamp(MIN_BAND_PIXELS, MAX_BAND_PIXELS);
        let by_cache = (pixels / self.out_w).max(1);
        // Enough bands for MIN_TASKS tasks, but not below MIN_BAND_PIXELS.
        let bands_wanted = MIN_TASKS.div_ceil(self.batch);
        let by_tasks = self
            .out_h
            .div_ceil(bands_wanted)
            .max(MIN_BAND_PIXELS.div_ceil(self.out_w));
        by_cache.min(by_tasks).clamp(1, self.out_h)
    }
}

/// The custom op: (x, w) or (x, w, b), then the activation. Its backward
/// covers the convolution only: an op with an activation is built only when
/// nothing needs gradients.
#[derive(Clone, Copy, Debug)]
struct Conv2dOp {
    padding: usize,
    stride: usize,
    activation: Activation,
}

impl Conv2dOp {
    fn cpu(
        &self,
        x: (&CpuStorage, &Layout),
        w: (&CpuStorage, &Layout),
        b: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let g = Geometry::new(
            x.1.shape().dims4()?,
            w.1.shape().dims4()?,
            self.padding,
            self.stride,
        );
        let Some(g) = g else {
            bail!("equifx conv2d: shapes the kernel does not take reached it")
        };
        let xs = f32_data(x, "input")?;
        let ws = f32_data(w, "weight")?;
        let bs = b.map(|b| f32_data(b, "bias")).transpose()?;
        if xs.len() != g.batch * g.c_in * g.h * g.w
            || ws.len() != g.c_out * g.k()
            || bs.is_some_and(|b| b.len() != g.c_out)
        {
            bail!("equifx conv2d: data and shapes disagree")
        }
        let out = forward(&g, xs, ws, bs, self.activation);
        Ok((
            CpuStorage::F32(out),
            Shape::from((g.batch, g.c_out, g.out_h, g.out_w)),
        ))
    }
}

impl Conv2dOp {
    fn check_no_activation(&self) -> Result<()> {
        if self.activation != Activation::Identity {
            bail!("equifx conv2d: a fused activation has no backward")
        }
        Ok(())
    }
}

/// The contiguous f32 data a layout describes.
pub(crate) fn f32_data<'a>((s, l): (&'a CpuStorage, &Layout), what: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(data) = s else {
        bail!("equifx conv2d: the {what} is not f32")
    };
    let Some((start, end)) = l.contiguous_offsets() else {
        bail!("equifx conv2d: the {what} is not contiguous")
    };
    Ok(&data[start..end])
}

impl CustomOp2 for Conv2dOp {
    fn name(&self) -> &'static str {
        "equifx-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.cpu((s1, l1), (s2, l2), None)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        self.check_no_activation()?;
        let (gx, gw) = backward(x, w, grad, self.padding, self.stride)?;
        Ok((Some(gx), Some(gw)))
    }
}

impl CustomOp3 for Conv2dOp {
    fn name(&self) -> &'static str {
        "equifx-conv2d-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.cpu((s1, l1), (s2, l2), Some((s3, l3)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        self.check_no_activation()?;
        let (gx, gw) = backward(x, w, grad, self.padding, self.stride)?;
        let gb = grad.sum(3)?.sum(2)?.sum(0)?;
        Ok((Some(gx), Some(gw), Some(gb)))
    }
}

/// Gradients of x and w, given the gradient of the output.
fn backward(
    x: &Tensor,
    w: &Tensor,
    grad: &Tensor,
    padding: usize,
    stride: usize,
) -> Result<(Tensor, Tensor)> {
    let (_, _, h, wd) = x.dims4()?;
    let (_, _, k_h, k_w) = w.dims4()?;
    let grad = grad.contiguous()?;
    let on_kernel = k_h == k_w
        && grad.dtype() == DType::F32
        && grad.device().is_cpu()
        && runs_on_kernel(x, w, None, padding, stride);
    if !on_kernel {
        return candle_backward(x, w, &grad, padding, stride);
    }
    // The input gradient is the full transposed convolution of the output
    // gradient cut to the input (see `candle_backward`). On the kernel: the
    // output gradient with stride − 1 zeros between its values, correlated
    // with the weights flipped in space and with in and out channels
    // swapped, padded by k − 1.
    let dilated = dilate(&grad, stride)?;
    let flipped = w
        .transpose(0, 1)?
        .contiguous()?
        .flip(&[2, 3])?
        .contiguous()?;
    // The full correlation's first `padding` rows and columns are cut off
    // again. Padding k − 1 − padding never computes them, where that still
    // reaches the input's last row and column.
    let (_, _, dh, dw) = dilated.dims4()?;
    let reaches = |pad: usize, dim: usize, len: usize| dim + 2 * pad + 1 >= len + k_h;
    let (pad, cut) = match (k_h - 1).checked_sub(padding) {
        Some(pad) if reaches(pad, dh, h) && reaches(pad, dw, wd) => (pad, 0),
        _ => (k_h - 1, padding),
    };
    let full = conv2d(&dilated, &flipped, None, pad, 1)?;
    let gx = crop_or_zero_pad(&full, 2, cut, h)?;
    let gx = crop_or_zero_pad(&gx, 3, cut, wd)?;
    let op = WeightGradOp {
        kernel: (k_h, k_w),
        padding,
        stride,
    };
    let gw = x.apply_op2_no_bwd(&grad, &op)?;
    Ok((gx, gw))
}

/// (B, C, H, W) → (B, C, (H − 1)·s + 1, (W − 1)·s + 1) with the values
/// s apart and zeros between.
fn dilate(t: &Tensor, s: usize) -> Result<Tensor> {
    if s == 1 {
        return Ok(t.clone());
    }
    let (b, c, h, w) = t.dims4()?;
    t.reshape((b, c, h, 1, w, 1))?
        .pad_with_zeros(3, 0, s - 1)?
        .pad_with_zeros(5, 0, s - 1)?
        .reshape((b, c, h * s, w * s))?
        .narrow(2, 0, (h - 1) * s + 1)?
        .narrow(3, 0, (w - 1) * s + 1)?
        .contiguous()
}

/// The gradients with candle's own ops, as candle's backprop computes them
/// for its conv2d, but correct for any height, width and stride.
fn candle_backward(
    x: &Tensor,
    w: &Tensor,
    grad: &Tensor,
    padding: usize,
    stride: usize,
) -> Result<(Tensor, Tensor)> {
    let (_, _, h, wd) = x.dims4()?;
    let (_, _, k_h, k_w) = w.dims4()?;
    // The transposed convolution, uncropped, places each output's gradient
    // on the padded input; cutting the padding off leaves the input's rows
    // and columns, and those no window reached (past the last stride) get
    // zero. Unlike conv_transpose2d's single output_padding this holds for
    // any height, width and stride.
    let full = grad.conv_transpose2d(w, 0, 0, stride, 1)?;
    let gx = crop_or_zero_pad(&full, 2, padding, h)?;
    let gx = crop_or_zero_pad(&gx, 3, padding, wd)?;
    // As candle's backprop for conv2d: the input's channels as the batch, the
    // output gradient as the kernel, the stride as its dilation.
    let gw = x
        .transpose(0, 1)?
        .conv2d(&grad.transpose(0, 1)?, padding, 1, stride, 1)?
        .transpose(0, 1)?;
    let gw = gw.narrow(2, 0, k_h)?.narrow(3, 0, k_w)?;
    Ok((gx, gw))
}

/// The weight gradient of a convolution, (x, output gradient) → (C_out,
/// C_in, k_h, k_w): Σ over images and output pixels of the output gradient
/// times the input patch, each band's share one sgemm against the band's
/// im2col. The sum over bands is cut into a fixed number of runs of
/// consecutive bands (a function of the shapes only); each run is summed
/// in one task, and the runs' sums are added in order, so the result does
/// not depend on the thread count.
#[derive(Clone, Copy, Debug)]
struct WeightGradOp {
    kernel: (usize, usize),
    padding: usize,
    stride: usize,
}

impl CustomOp2 for WeightGradOp {
    fn name(&self) -> &'static str {
        "equifx-conv2d-weight-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (b, c_in, h, w) = l1.shape().dims4()?;
        let (b2, c_out, oh, ow) = l2.shape().dims4()?;
        let (k_h, k_w) = self.kernel;
        let g = Geometry::new(
            (b, c_in, h, w),
            (c_out, c_in, k_h, k_w),
            self.padding,
            self.stride,
        );
        let Some(g) = g.filter(|g| b2 == b && g.out_h == oh && g.out_w == ow) else {
            bail!("equifx conv2d weight gradient: shapes disagree")
        };
        let xs = f32_data((s1, l1), "input")?;
        let gs = f32_data((s2, l2), "output gradient")?;
        if xs.len() != b * c_in * h * w || gs.len() != b * c_out * oh * ow {
            bail!("equifx conv2d weight gradient: data and shapes disagree")
        }
        Ok((
            CpuStorage::F32(weight_grad(&g, xs, gs)),
            Shape::from((c_out, c_in, k_h, k_w)),
        ))
    }
}

/// See [`WeightGradOp`].
fn weight_grad(g: &Geometry, x: &[f32], grad: &[f32]) -> Vec<f32> {
    let (k, plane, image) = (g.k(), g.out_h * g.out_w, g.c_in * g.h * g.w);
    let rows = g.band_rows();
    let bands = g.out_h.div_ceil(rows);
    let tasks = g.batch * bands;
    let per_run = tasks.div_ceil(MIN_TASKS.min(tasks));
    let runs: Vec<Vec<f32>> = (0..tasks.div_ceil(per_run))
        .into_par_iter()
        .map(|run| {
            let mut acc = vec![0f32; g.c_out * k];
            for (i, task) in (run * per_run..((run + 1) * per_run).min(tasks)).enumerate() {
                let (img, band_idx) = (task / bands, task % bands);
                let r0 = band_idx * rows;
                let r1 = (r0 + rows).min(g.out_h);
                let n = (r1 - r0) * g.out_w;
                let x_img = &x[img * image..(img + 1) * image];
                // The band's output gradient: c_out rows of n, `plane` apart.
                let lhs = Mat {
                    data: &grad[img * g.c_out * plane + r0 * g.out_w..],
                    rs: plane,
                    cs: 1,
                };
                let mut product = |patches: Mat| {
                    // acc[c_out × k] (+)= grad_band[c_out × n] · patchesᵀ[n × k]
                    sgemm(g.c_out, k, n, (&mut acc, k, 1), i > 0, lhs, patches);
                };
                if g.direct() {
                    product(Mat {
                        data: &x_img[r0 * g.w..],
                        rs: 1,
                        cs: g.h * g.w,
                    });
                    continue;
                }
                with_col(k * n, |col| {
                    im2col(g, x_img, r0, r1, col);
                    product(Mat {
                        data: col,
                        rs: 1,
                        cs: n,
                    });
                });
            }
            acc
        })
        .collect();
    let mut runs = runs.into_iter();
    let mut sum = runs.next().unwrap_or_default();
    for run in runs {
        for (s, v) in sum.iter_mut().zip(run) {
            *s += v;
        }
    }
    sum
}

/// A read-only matrix view: element (i, j) at `data[i·rs + j·cs]`.
#[derive(Clone, Copy)]
struct Mat<'a> {
    data: &'a [f32],
    rs: usize,
    cs: usize,
}

impl Mat<'_> {
    /// Whether a rows × cols matrix with these strides lies inside the data.
    fn holds(&self, rows: usize, cols: usize) -> bool {
        rows == 0 || cols == 0 || (rows - 1) * self.rs + (cols - 1) * self.cs < self.data.len()
    }
}

/// dst[m × n] = lhs[m × k] · rhs[k × n], plus dst's own values if
/// `read_dst`, single-threaded; dst is (data, row stride, column stride).
/// Panics if a matrix does not fit its data.
fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    dst: (&mut [f32], usize, usize),
    read_dst: bool,
    lhs: Mat,
    rhs: Mat,
) {
    let (dst, dst_rs, dst_cs) = dst;
    let dst_view = Mat {
        data: dst,
        rs: dst_rs,
        cs: dst_cs,
    };
    assert!(dst_view.holds(m, n) && lhs.holds(m, k) && rhs.holds(k, n));
    // SAFETY: the three matrices lie inside their slices (asserted above);
    // dst is borrowed mutably, so nothing else reads or writes it meanwhile.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_cs as isize,
            dst_rs as isize,
            read_dst,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// `len` entries of `t` along `dim` from `start`, zeros where `t` ends.
fn crop_or_zero_pad(t: &Tensor, dim: usize, start: usize, len: usize) -> Result<Tensor> {
    let have = t.dim(dim)?.saturating_sub(start).min(len);
    if have == len {
        return t.narrow(dim, start, len);
    }
    let mut zeros_dims = t.dims().to_vec();
    zeros_dims[dim] = len - have;
    let zeros = Tensor::zeros(zeros_dims, t.dtype(), t.device())?;
    if have == 0 {
        return Ok(zeros);
    }
    Tensor::cat(&[&t.narrow(dim, start, have)?, &zeros], dim)
}

thread_local! {
    /// Each thread's im2col buffer, grown as needed and reused.
    static COL: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// The output buffer, shared by the tasks that write its disjoint bands.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);

// SAFETY: the pointer is only written through by `band`, whose callers hand
// each task a band no other task touches (see `forward`).
unsafe impl Send for OutPtr {}
// SAFETY: as above; the pointer itself is never mutated.
unsafe impl Sync for OutPtr {}

impl OutPtr {
    // A method, so closures capture the whole (Sync) struct, not the field.
    fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

/// The whole convolution: B × C_out × H' × W' values.
fn forward(g: &Geometry, x: &[f32], w: &[f32], bias: Option<&[f32]>, act: Activation) -> Vec<f32> {
    let plane = g.out_h * g.out_w;
    let mut out = vec![0f32; g.batch * g.c_out * plane];
    let rows = g.band_rows();
    let bands = g.out_h.div_ceil(rows);
    let image = g.c_in * g.h * g.w;
    let dst = OutPtr(out.as_mut_ptr());
    (0..g.batch * bands).into_par_iter().for_each(|task| {
        let (img, band_idx) = (task / bands, task % bands);
        let r0 = band_idx * rows;
        let r1 = (r0 + rows).min(g.out_h);
        let x_img = &x[img * image..(img + 1) * image];
        // SAFETY: `out` holds batch·c_out·plane values and outlives this
        // parallel loop. Task (img, band) writes only rows r0..r1 of the
        // c_out planes of image img: offsets img·c_out·plane + co·plane +
        // r0·out_w … + r1·out_w, all inside `out` and disjoint from every
        // other task's, and nothing reads `out` until the loop has ended.
        unsafe {
            band(
                g,
                x_img,
                w,
                bias,
                act,
                dst.at(img * g.c_out * plane + r0 * g.out_w),
                r0..r1,
            )
        };
    });
    out
}

/// Output rows r0..r1 of one image.
///
/// # Safety
/// `dst` points at row r0 of output channel 0 of this image; for every
/// channel co, the (r1 − r0)·out_w values from `dst + co·out_h·out_w` must be
/// valid for writes and touched by no one else during the call.
unsafe fn band(
    g: &Geometry,
    x_img: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    dst: *mut f32,
    rows: std::ops::Range<usize>,
) {
    let (r0, r1) = (rows.start, rows.end);
    let n = (r1 - r0) * g.out_w;
    let plane = g.out_h * g.out_w;
    let k = g.k();
    if let Some(bias) = bias {
        for (co, &b) in bias.iter().enumerate() {
            // SAFETY: this is one channel's band, valid and exclusively ours
            // by the function's contract.
            let row = unsafe { std::slice::from_raw_parts_mut(dst.add(co * plane), n) };
            row.fill(b);
        }
    }
    let product = |rhs: &[f32], rhs_rs: usize| {
        // The last value the product reads: row k − 1, column n − 1.
        assert!(w.len() >= g.c_out * k && rhs.len() > (k - 1) * rhs_rs + n - 1);
        // SAFETY: lhs is c_out × k row-major inside `w`; rhs is k × n with row
        // stride rhs_rs inside `rhs` (asserted above); dst is c_out × n with
        // row stride `plane`, writable and ours by the function's contract.
        // Parallelism::None: the whole reduction runs in this thread.
        unsafe {
            gemm::gemm(
                g.c_out,
                n,
                k,
                dst,
                1,
                plane as isize,
                bias.is_some(),
                w.as_ptr(),
                1,
                k as isize,
                rhs.as_ptr(),
                1,
                rhs_rs as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        }
    };
    if g.direct() {
        // Row r0 of every input channel, channels h·w apart.
        product(&x_img[r0 * g.w..], g.h * g.w);
    } else {
        with_col(k * n, |col| {
            im2col(g, x_img, r0, r1, col);
            product(col, n);
        });
    }
    if act != Activation::Identity {
        for co in 0..g.c_out {
            // SAFETY: as for the bias above; the product has returned, so
            // no other reference to these values is alive.
            act.apply(unsafe { std::slice::from_raw_parts_mut(dst.add(co * plane), n) });
        }
    }
}

/// Runs `f` on `len` values of this thread's im2col buffer.
fn with_col(len: usize, f: impl FnOnce(&mut [f32])) {
    COL.with(|cell| {
        // A task never yields to another on its thread while it holds the
        // buffer (no rayon calls inside), but stay correct if one did.
        let mut own = Vec::new();
        let mut borrowed = cell.try_borrow_mut();
        let col = match borrowed.as_mut() {
            Ok(col) => &mut **col,
            Err(_) => &mut own,
        };
        if col.len() < len {
            col.resize(len, 0.0);
        }
        f(&mut col[..len]);
    });
}

/// The K × N patch matrix of output rows r0..r1: row (c, ky, kx) holds, for
/// each output pixel, the input value that kernel tap multiplies, zero in the
/// padding. Every value of `col` is written.
///
/// With stride s, tap kx reads input columns s·ox + kx − p: every s-th value
/// of the row from one phase. Each input row is split into its s phases
/// once, and every tap then copies a contiguous run of one phase.
fn im2col(g: &Geometry, x_img: &[f32], r0: usize, r1: usize, col: &mut [f32]) {
    if g.stride == 1 && g.out_w == g.w && g.w > g.padding {
        return im2col_same(g, x_img, r0, r1, col);
    }
    let n = (r1 - r0) * g.out_w;
    let (s, p, ow) = (g.stride, g.padding, g.out_w);
    let phase_len = g.w.div_ceil(s);
    let taps: Vec<Tap> = (0..g.k_w).map(|kx| Tap::new(g, kx, phase_len)).collect();
    let mut phases = vec![0f32; if s > 1 { s * phase_len } else { 0 }];
    for c in 0..g.c_in {
        let chan = &x_img[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ky in 0..g.k_h {
            let krows = &mut col[(c * g.k_h + ky) * g.k_w * n..][..g.k_w * n];
            for (ri, r) in (r0..r1).enumerate() {
                let iy = r * s + ky;
                if iy < p || iy - p >= g.h {
                    for krow in krows.chunks_exact_mut(n) {
                        krow[ri * ow..(ri + 1) * ow].fill(0.0);
                    }
                    continue;
                }
                let src = &chan[(iy - p) * g.w..(iy - p + 1) * g.w];
                let phased = if s == 1 {
                    src
                } else {
                    split_phases(src, s, phase_len, &mut phases);
                    &phases[..]
                };
                for (tap, krow) in taps.iter().zip(krows.chunks_exact_mut(n)) {
                    let orow = &mut krow[ri * ow..(ri + 1) * ow];
                    orow[..tap.lo].fill(0.0);
                    orow[tap.hi..].fill(0.0);
                    orow[tap.lo..tap.hi]
                        .copy_from_slice(&phased[tap.start..tap.start + (tap.hi - tap.lo)]);
                }
            }
        }
    }
}

/// [`im2col`] of a stride-1 convolution whose output rows are as wide as
/// its input rows (a "same" convolution: 2·padding = k_w − 1), and wider
/// than the padding. Then every
/// tap's values for a run of output rows are one contiguous run of input
/// values, shifted by the tap's column offset: one copy per tap, plus a zero
/// at each row end the shift carried across. Row-by-row copies of a few
/// values each made im2col a quarter of a cINN training step, whose latents
/// are 8 values wide.
fn im2col_same(g: &Geometry, x_img: &[f32], r0: usize, r1: usize, col: &mut [f32]) {
    let (w, p) = (g.w, g.padding);
    let n = (r1 - r0) * w;
    for c in 0..g.c_in {
        let chan = &x_img[c * g.h * w..(c + 1) * g.h * w];
        for ky in 0..g.k_h {
            // Output rows ra..rb read input rows ra + ky − p … inside the image.
            let ra = (p.saturating_sub(ky)).clamp(r0, r1);
            let rb = (g.h + p).saturating_sub(ky).clamp(ra, r1);
            for kx in 0..g.k_w {
                let krow = &mut col[((c * g.k_h + ky) * g.k_w + kx) * n..][..n];
                let (above, rest) = krow.split_at_mut((ra - r0) * w);
                let (inside, below) = rest.split_at_mut((rb - ra) * w);
                above.fill(0.0);
                below.fill(0.0);
                if inside.is_empty() {
                    continue;
                }
                // Output column ox reads input column ox + kx − p.
                let src0 = (ra + ky - p) * w;
                let len = inside.len();
                // Stores, not `fill`: a memset call per row cost more than the copy.
                if kx >= p {
                    let dx = kx - p;
                    inside[..len - dx].copy_from_slice(&chan[src0 + dx..src0 + len]);
                    for row in inside.chunks_exact_mut(w) {
                        for v in row.iter_mut().skip(w - dx) {
                            *v = 0.0;
                        }
                    }
                } else {
                    let dx = p - kx;
                    inside[dx..].copy_from_slice(&chan[src0..src0 + len - dx]);
                    for row in inside.chunks_exact_mut(w) {
                        for v in row.iter_mut().take(dx) {
                            *v = 0.0;
                        }
                    }
                }
            }
        }
    }
}

/// Where one kernel column's values come from: output columns lo..hi read
/// input columns inside the row, at `start` of the phase-split row (`start`
/// is meaningless when lo == hi); the others read padding.
struct Tap {
    lo: usize,
    hi: usize,
    start: usize,
}

impl Tap {
    fn new(g: &Geometry, kx: usize, phase_len: usize) -> Tap {
        let (s, p) = (g.stride, g.padding);
        // Output columns ox whose input column ox·s + kx − p lies in 0..w.
        let hi = if g.w + p > kx {
            ((g.w + p - kx - 1) / s + 1).min(g.out_w)
        } else {
            0
        };
        let lo = p.saturating_sub(kx).div_ceil(s).min(hi);
        if lo == hi {
            return Tap { lo, hi, start: 0 };
        }
        // The first input column read, its phase and its index in the phase.
        let ix = lo * s + kx - p;
        Tap {
            lo,
            hi,
            start: (ix % s) * phase_len + ix / s,
        }
    }
}

/// `src` split into its `s` phases: phase q (values q, q + s, …) at
/// `out[q·phase_len..]`.
fn split_phases(src: &[f32], s: usize, phase_len: usize, out: &mut [f32]) {
    if s == 2 {
        let (even, odd) = out.split_at_mut(phase_len);
        let pairs = src.chunks_exact(2);
        if let [last] = pairs.remainder() {
            even[src.len() / 2] = *last;
        }
        for ((e, o), pair) in even.iter_mut().zip(odd.iter_mut()).zip(pairs) {
            *e = pair[0];
            *o = pair[1];
        }
        return;
    }
    for (q, phase) in out.chunks_exact_mut(phase_len).enumerate() {
        for (d, v) in phase.iter_mut().zip(src.iter().skip(q).step_by(s)) {
            *d = *v;
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;
    use crate::rng::StreamRng;

    /// The documented bound: |kernel − reference| ≤ TOL · Σ|terms| for each
    /// value, where Σ|terms| is the sum of the absolute products (and bias)
    /// that make it up.
    const TOL: f64 = 1e-5;

    /// A case: (batch, c_in, h, w, c_out, k_h, k_w, padding, stride, bias).
    type Case = (
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        bool,
    );

    fn randn(rng: &mut StreamRng, dims: &[usize]) -> Tensor {
        let n = dims.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
        Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
    }

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    /// Hand-picked shapes: odd sizes, 1×1 images, padding 0/1, stride 1/2,
    /// kernels 1/3/4, batch 1 and 3, with and without bias.
    fn fixed_cases() -> Vec<Case> {
        vec![
            (1, 3, 17, 13, 16, 3, 3, 1, 1, true),
            (3, 5, 9, 11, 7, 3, 3, 1, 1, false),
            (1, 4, 1, 1, 6, 3, 3, 1, 1, true),
            (3, 4, 1, 1, 6, 1, 1, 0, 1, true),
            (1, 4, 1, 1, 6, 1, 1, 1, 1, false),
            (1, 4, 1, 1, 6, 1, 1, 1, 2, true),
            (3, 6, 2, 2, 5, 4, 4, 1, 2, true),
            (1, 8, 15, 15, 12, 4, 4, 1, 2, true),
            (3, 8, 14, 9, 12, 4, 4, 1, 2, false),
            (1, 16, 12, 12, 8, 3, 3, 0, 1, true),
            (3, 7, 10, 7, 9, 3, 3, 0, 2, true),
            (1, 32, 20, 19, 16, 1, 1, 0, 1, true),
            (3, 9, 6, 5, 10, 1, 1, 0, 2, false),
            (1, 2, 5, 6, 3, 4, 4, 0, 1, true),
            (1, 128, 9, 10, 64, 3, 3, 1, 1, true),
            (1, 64, 34, 35, 64, 4, 4, 1, 2, true),
            (1, 3, 64, 64, 16, 3, 3, 1, 1, true),
        ]
    }

    /// Random shapes from a fixed seed.
    fn random_cases(count: u64) -> Vec<Case> {
        (0..count)
            .map(|i| {
                let mut r = StreamRng::new(7, b"conv-test-case", i);
                let mut pick =
                    |lo: usize, hi: usize| lo + (r.next_u64() % (hi - lo + 1) as u64) as usize;
                let k = [1, 3, 4][pick(0, 2)];
                let padding = pick(0, 1);
                let stride = pick(1, 2);
                let (h, w) = (pick(1, 23).max(k), pick(1, 23).max(k));
                (
                    [1, 3][pick(0, 1)],
                    pick(1, 20),
                    h,
                    w,
                    pick(1, 20),
                    k,
                    k,
                    padding,
                    stride,
                    pick(0, 1) == 1,
                )
            })
            .collect()
    }

    /// Tensors of a case: x, w, b.
    fn tensors(case: Case, seed: u64) -> (Tensor, Tensor, Option<Tensor>) {
        let (n, ci, h, w, co, kh, kw, _, _, bias) = case;
        let mut rng = StreamRng::new(seed, b"conv-test-data", 0);
        let x = randn(&mut rng, &[n, ci, h, w]);
        let wt = randn(&mut rng, &[co, ci, kh, kw]);
        let b = bias.then(|| randn(&mut rng, &[co]));
        (x, wt, b)
    }

    /// Σ|x·w| + |b| for every output value, in f64: the scale of the bound.
    fn abs_scale(
        x: &Tensor,
        w: &Tensor,
        b: Option<&Tensor>,
        padding: usize,
        stride: usize,
    ) -> Vec<f64> {
        let ab = b.map(|b| b.abs().unwrap());
        let s = candle_conv2d(
            &x.abs().unwrap(),
            &w.abs().unwrap(),
            ab.as_ref(),
            padding,
            stride,
        )
        .unwrap();
        values(&s).iter().map(|&v| f64::from(v)).collect()
    }

    /// The largest |a − b| / scale, failing on NaN or a shape mismatch.
    fn worst_ratio(a: &Tensor, b: &Tensor, scale: &[f64]) -> f64 {
        assert_eq!(a.dims(), b.dims());
        let (a, b) = (values(a), values(b));
        assert_eq!(a.len(), scale.len());
        a.iter()
            .zip(&b)
            .zip(scale)
            .map(|((&x, &y), &s)| {
                assert!(x.is_finite() && y.is_finite(), "{x} vs {y}");
                (f64::from(x) - f64::from(y)).abs() / s.max(f64::MIN_POSITIVE)
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn forward_matches_candle() {
        let mut worst = 0.0f64;
        for (i, case) in fixed_cases()
            .into_iter()
            .chain(random_cases(60))
            .enumerate()
        {
            let (x, w, b) = tensors(case, i as u64);
            let (padding, stride) = (case.7, case.8);
            assert!(
                runs_on_kernel(&x, &w, b.as_ref(), padding, stride),
                "{case:?}"
            );
            let ours = conv2d(&x, &w, b.as_ref(), padding, stride).unwrap();
            let theirs = candle_conv2d(&x, &w, b.as_ref(), padding, stride).unwrap();
            let scale = abs_scale(&x, &w, b.as_ref(), padding, stride);
            let r = worst_ratio(&ours, &theirs, &scale);
            assert!(r <= TOL, "{case:?}: error {r:e} of Σ|x·w| > {TOL:e}");
            worst = worst.max(r);
        }
        println!("forward: worst |ours − candle| / Σ|x·w| = {worst:e}");
    }

    #[test]
    fn a_wrong_result_is_caught() {
        // The comparison itself can fail: a bias dropped is far outside the bound.
        let case = fixed_cases()[0];
        let (x, w, b) = tensors(case, 0);
        let ours = conv2d(&x, &w, None, 1, 1).unwrap();
        let theirs = candle_conv2d(&x, &w, b.as_ref(), 1, 1).unwrap();
        let scale = abs_scale(&x, &w, b.as_ref(), 1, 1);
        assert!(worst_ratio(&ours, &theirs, &scale) > TOL);
    }

    /// Shapes cut into several bands, so thread counts could matter.
    fn banded_cases() -> Vec<Case> {
        vec![
            (1, 16, 67, 53, 24, 3, 3, 1, 1, true),
            (3, 8, 40, 41, 16, 4, 4, 1, 2, true),
            (2, 32, 30, 30, 16, 1, 1, 0, 1, false),
            (1, 3, 130, 97, 16, 3, 3, 1, 1, false),
            (2, 72, 24, 20, 16, 3, 3, 1, 1, true),
        ]
    }

    #[test]
    fn bit_identical_for_any_thread_count() {
        for (i, case) in banded_cases().into_iter().enumerate() {
            let (x, w, b) = tensors(case, 100 + i as u64);
            let g = Geometry::new(x.dims4().unwrap(), w.dims4().unwrap(), case.7, case.8).unwrap();
            assert!(
                g.batch * g.out_h.div_ceil(g.band_rows()) > 2,
                "{case:?}: one task only"
            );
            let run = |threads: usize| -> Vec<u32> {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                pool.install(|| {
                    let y = conv2d(&x, &w, b.as_ref(), case.7, case.8).unwrap();
                    values(&y).iter().map(|v| v.to_bits()).collect()
                })
            };
            let one = run(1);
            assert_eq!(one, run(2), "{case:?}: 1 vs 2 threads");
            assert_eq!(one, run(3), "{case:?}: 1 vs 3 threads");
        }
    }

    #[test]
    fn gradients_bit_identical_for_any_thread_count() {
        for (i, case) in banded_cases().into_iter().enumerate() {
            let (x, w, b) = tensors(case, 150 + i as u64);
            let (padding, stride) = (case.7, case.8);
            let mut rng = StreamRng::new(160 + i as u64, b"conv-test-proj", 0);
            let y = conv2d(&x, &w, b.as_ref(), padding, stride).unwrap();
            let r = randn(&mut rng, y.dims());
            let run = |threads: usize| -> Vec<Vec<u32>> {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                pool.install(|| {
                    let (xv, wv) = (Var::from_tensor(&x).unwrap(), Var::from_tensor(&w).unwrap());
                    let bv = b.as_ref().map(|b| Var::from_tensor(b).unwrap());
                    let y = conv2d(&xv, &wv, bv.as_deref(), padding, stride).unwrap();
                    let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
                    let mut vars = vec![xv.as_tensor(), wv.as_tensor()];
                    vars.extend(bv.as_ref().map(|b| b.as_tensor()));
                    vars.iter()
                        .map(|v| {
                            values(grads.get(v).unwrap())
                                .iter()
                                .map(|g| g.to_bits())
                                .collect()
                        })
                        .collect()
                })
            };
            let one = run(1);
            assert_eq!(one, run(2), "{case:?}: 1 vs 2 threads");
            assert_eq!(one, run(3), "{case:?}: 1 vs 3 threads");
        }
    }

    /// Gradients of Σ r·conv(x, w, b) by naive f64 loops: (gx, gw, gb) and
    /// the matching Σ|terms| scales.
    #[allow(clippy::type_complexity)]
    fn naive_grads(
        x: &Tensor,
        w: &Tensor,
        r: &Tensor,
        padding: usize,
        stride: usize,
    ) -> [(Vec<f64>, Vec<f64>); 3] {
        let (n, ci, h, wd) = x.dims4().unwrap();
        let (co, _, kh, kw) = w.dims4().unwrap();
        let (_, _, oh, ow) = r.dims4().unwrap();
        let (xv, wv, rv) = (values(x), values(w), values(r));
        let mut gx = (vec![0f64; xv.len()], vec![0f64; xv.len()]);
        let mut gw = (vec![0f64; wv.len()], vec![0f64; wv.len()]);
        let mut gb = (vec![0f64; co], vec![0f64; co]);
        for b in 0..n {
            for o in 0..co {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let g = f64::from(rv[((b * co + o) * oh + oy) * ow + ox]);
                        gb.0[o] += g;
                        gb.1[o] += g.abs();
                        for c in 0..ci {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let (iy, ix) = (oy * stride + ky, ox * stride + kx);
                                    if iy < padding
                                        || ix < padding
                                        || iy - padding >= h
                                        || ix - padding >= wd
                                    {
                                        continue;
                                    }
                                    let xi = ((b * ci + c) * h + iy - padding) * wd + ix - padding;
                                    let wi = ((o * ci + c) * kh + ky) * kw + kx;
                                    let (xval, wval) = (f64::from(xv[xi]), f64::from(wv[wi]));
                                    gx.0[xi] += g * wval;
                                    gx.1[xi] += (g * wval).abs();
                                    gw.0[wi] += g * xval;
                                    gw.1[wi] += (g * xval).abs();
                                }
                            }
                        }
                    }
                }
            }
        }
        [gx, gw, gb]
    }

    #[test]
    fn gradients_match_naive_and_candle() {
        // Stride-2 cases with heights and widths of different parity, where
        // one output_padding for both sides would be wrong, included.
        let mut cases = vec![
            (1, 3, 9, 8, 5, 3, 3, 1, 1, true),
            (3, 4, 6, 5, 6, 4, 4, 1, 2, true),
            (3, 4, 7, 8, 6, 4, 4, 1, 2, false),
            (2, 6, 7, 7, 5, 3, 3, 0, 2, true),
            (2, 8, 5, 6, 4, 1, 1, 0, 1, true),
            (1, 4, 1, 1, 3, 3, 3, 1, 1, true),
            (1, 4, 1, 1, 3, 1, 1, 1, 2, true),
            (2, 5, 9, 10, 7, 4, 4, 0, 1, true),
            // Non-square kernels: candle's ops compute these gradients.
            (2, 3, 7, 9, 4, 3, 1, 1, 1, true),
            (1, 2, 6, 7, 3, 1, 4, 0, 2, true),
        ];
        cases.extend(random_cases(12));
        let mut worst = 0.0f64;
        for (i, case) in cases.into_iter().enumerate() {
            let (x, w, b) = tensors(case, 200 + i as u64);
            let (padding, stride) = (case.7, case.8);
            let (xv, wv) = (Var::from_tensor(&x).unwrap(), Var::from_tensor(&w).unwrap());
            let bv = b.as_ref().map(|b| Var::from_tensor(b).unwrap());
            let y = conv2d(&xv, &wv, bv.as_deref(), padding, stride).unwrap();
            let mut rng = StreamRng::new(300 + i as u64, b"conv-test-proj", 0);
            let r = randn(&mut rng, y.dims());
            let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
            let naive = naive_grads(&x, &w, &r, padding, stride);
            let mut check = |name: &str, got: &Tensor, want: &(Vec<f64>, Vec<f64>)| {
                let got = values(got);
                assert_eq!(got.len(), want.0.len(), "{case:?}: {name} size");
                for ((g, e), s) in got.iter().zip(&want.0).zip(&want.1) {
                    let ratio = (f64::from(*g) - e).abs() / s.max(f64::MIN_POSITIVE);
                    assert!(ratio <= TOL, "{case:?}: {name} {g} vs {e} (scale {s})");
                    worst = worst.max(ratio);
                }
            };
            check("dx", grads.get(&xv).unwrap(), &naive[0]);
            check("dw", grads.get(&wv).unwrap(), &naive[1]);
            if let Some(bv) = &bv {
                check("db", grads.get(bv).unwrap(), &naive[2]);
            }
            // Candle's own conv2d backward, where it can take the shape (a
            // single output_padding for both sides).
            let (_, _, h, wd) = x.dims4().unwrap();
            let (oh, ow) = (y.dim(2).unwrap(), y.dim(3).unwrap());
            let k = case.5;
            if k == case.6
                && (h + 2 * padding - k) % stride == (wd + 2 * padding - k) % stride
                && (oh, ow) != (0, 0)
            {
                let yc = candle_conv2d(&xv, &wv, bv.as_deref(), padding, stride).unwrap();
                let gc = (&yc * &r).unwrap().sum_all().unwrap().backward().unwrap();
                let pairs = [(&xv, &naive[0]), (&wv, &naive[1])];
                for (v, want) in pairs {
                    let ratio = worst_ratio(grads.get(v).unwrap(), gc.get(v).unwrap(), &want.1);
                    assert!(ratio <= TOL, "{case:?}: against candle {ratio:e}");
                }
            }
        }
        println!("gradients: worst error / Σ|terms| = {worst:e}");
    }

    #[test]
    fn other_inputs_fall_back_to_candle() {
        let case = fixed_cases()[1];
        let (x, w, b) = tensors((1, 5, 9, 11, 7, 3, 3, 1, 1, true), 9);
        let _ = case;
        // f16: candle's own result, bit for bit.
        let (xh, wh) = (
            x.to_dtype(DType::F16).unwrap(),
            w.to_dtype(DType::F16).unwrap(),
        );
        let bh = b.as_ref().map(|b| b.to_dtype(DType::F16).unwrap());
        assert!(!runs_on_kernel(&xh, &wh, bh.as_ref(), 1, 1));
        let ours = conv2d(&xh, &wh, bh.as_ref(), 1, 1).unwrap();
        let theirs = candle_conv2d(&xh, &wh, bh.as_ref(), 1, 1).unwrap();
        let bits = |t: &Tensor| -> Vec<u16> {
            t.flatten_all()
                .unwrap()
                .to_vec1::<half::f16>()
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect()
        };
        assert_eq!(ours.dtype(), DType::F16);
        assert_eq!(bits(&ours), bits(&theirs));
        // A strided view: candle's result, bit for bit.
        let xt = x.transpose(2, 3).unwrap();
        assert!(!runs_on_kernel(&xt, &w, b.as_ref(), 1, 1));
        let ours = conv2d(&xt, &w, b.as_ref(), 1, 1).unwrap();
        let theirs = candle_conv2d(&xt, &w, b.as_ref(), 1, 1).unwrap();
        let u32s = |t: &Tensor| values(t).iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(u32s(&ours), u32s(&theirs));
        // Dilation through the layer: candle_nn's own forward.
        let cfg = candle_nn::Conv2dConfig {
            padding: 2,
            dilation: 2,
            ..Default::default()
        };
        let layer = candle_nn::Conv2d::new(w.clone(), b.clone(), cfg);
        let ours = Conv2d::from(layer.clone()).forward(&x).unwrap();
        assert_eq!(u32s(&ours), u32s(&layer.forward(&x).unwrap()));
    }

    #[test]
    fn layer_matches_candle_nn() {
        let (x, w, b) = tensors((3, 6, 12, 10, 8, 4, 4, 1, 2, true), 11);
        let cfg = candle_nn::Conv2dConfig {
            padding: 1,
            stride: 2,
            ..Default::default()
        };
        let layer = candle_nn::Conv2d::new(w.clone(), b.clone(), cfg);
        let ours = Conv2d::from(layer.clone()).forward(&x).unwrap();
        let scale = abs_scale(&x, &w, b.as_ref(), 1, 2);
        assert!(worst_ratio(&ours, &layer.forward(&x).unwrap(), &scale) <= TOL);
    }
}
