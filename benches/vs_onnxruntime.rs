//! equifx against ONNX Runtime on the same network, in one run, A B A B …:
//!
//! 1. the network alone: the shipped bundle's photo→anime translation
//!    (encoder, cINN forward, cINN inverse, decoder: what
//!    `translate_photo_to_anime.onnx` holds) on one 1×3×H×W input, the
//!    1920×1080 frame padded to the model's alignment (1088×1920 for the
//!    shipped bundle), in this process through the library against a
//!    persistent ONNX Runtime child (benches/onnx/ort_server.py; its start-up
//!    and session creation are not timed), then the same split per network;
//! 2. the whole process on 1920×1080 and 3840×2160 frames: `equifx transfer`
//!    at the frame's full resolution with the node's default tiling (and
//!    with 2048-px tiles) against
//!    benches/onnx/run_ort_transfer.py (PNG decode, the exported graph
//!    untiled, PNG encode), wall time, CPU time and peak RSS from
//!    `/usr/bin/time`.
//!
//! Both sides get 2 threads (`RAYON_NUM_THREADS`, ORT's
//! `intra_op_num_threads`); `EQUIFX_BENCH_THREADS` changes that,
//! `EQUIFX_BENCH_PAIRS` the 5 counted pairs (after one warm-up each) and
//! `EQUIFX_BENCH_SIZES=1920x1080` the whole-process frames. ONNX Runtime
//! comes from the venv `tests/onnx_export.rs` uses (created the same way, by
//! the same code: tests/common/venv.rs), plus pillow for the PNG codec;
//! without python or onnxruntime the bench says so and stops.
//!
//! `cargo bench --bench vs_onnxruntime`

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use candle_core::{Device, Tensor};
use equifx::model::{Bundle, ModelConfig};

#[path = "../tests/common/tensor.rs"]
mod tensor;
#[path = "../tests/common/venv.rs"]
mod venv;
use tensor::{read_f32, write_f32};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn equifx_bin() -> &'static str {
    env!("CARGO_BIN_EXE_equifx")
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// This process's CPU time (all threads), seconds, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    // utime and stime are fields 14 and 15, in USER_HZ (100) ticks.
    if f.len() > 12 {
        (f[11] + f[12]) / 100.0
    } else {
        f64::NAN
    }
}

// ---------------------------------------------------------------------------
// Statistics and the table
// ---------------------------------------------------------------------------

/// Median, min and max.
fn stats(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    let med = if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    };
    (med, s[0], s[n - 1])
}

fn fmt_s(v: &[f64]) -> String {
    let (m, lo, hi) = stats(v);
    format!("{m:.3} ({lo:.3}–{hi:.3})")
}

fn fmt_ratio(a: &[f64], b: &[f64]) -> String {
    let r: Vec<f64> = a.iter().zip(b).map(|(a, b)| a / b).collect();
    let (m, lo, hi) = stats(&r);
    format!("{m:.2}× ({lo:.2}–{hi:.2})")
}

fn median(v: &[f64]) -> f64 {
    stats(v).0
}

// ---------------------------------------------------------------------------
// FLOPs from the architecture
// ---------------------------------------------------------------------------

/// 2·K·K·Cin·Cout·Hout·Wout of one conv; returns it and the output size.
fn conv_flops(
    k: usize,
    stride: usize,
    pad: usize,
    cin: usize,
    cout: usize,
    (h, w): (usize, usize),
) -> (f64, (usize, usize)) {
    let ho = (h + 2 * pad - k) / stride + 1;
    let wo = (w + 2 * pad - k) / stride + 1;
    (2.0 * (k * k * cin * cout * ho * wo) as f64, (ho, wo))
}

/// Conv FLOPs of one photo→anime translation of an h × w image: (encoder,
/// cINN forward + inverse, decoder). Elementwise work (SiLU, ActNorm,
/// upsampling) is left out.
fn translate_flops(cfg: &ModelConfig, h: usize, w: usize) -> (f64, f64, f64) {
    let c = cfg.ae_channels;
    let (mut enc, mut size) = conv_flops(3, 1, 1, 3, c[0], (h, w));
    for i in 0..3 {
        let (f, s) = conv_flops(4, 2, 1, c[i], c[i + 1], size);
        enc += f;
        size = s;
    }
    let (f, latent) = conv_flops(3, 1, 1, c[3], cfg.latent_channels, size);
    enc += f;

    let flow = if cfg.cinn_squeeze {
        (latent.0 / 2, latent.1 / 2)
    } else {
        latent
    };
    let ch = cfg.flow_channels();
    let half = ch / 2;
    let subnet = conv_flops(3, 1, 1, half + cfg.embed_dim, cfg.cinn_hidden, flow).0
        + conv_flops(1, 1, 0, cfg.cinn_hidden, cfg.cinn_hidden, flow).0
        + conv_flops(3, 1, 1, cfg.cinn_hidden, 2 * (ch - half), flow).0;
    // Forward under the source domain, inverse under the target.
    let cinn = 2.0 * cfg.cinn_blocks as f64 * subnet;

    let (mut dec, mut size) = conv_flops(3, 1, 1, cfg.latent_channels, c[3], latent);
    for i in 0..3 {
        let (f, s) = conv_flops(3, 1, 1, c[3 - i], c[2 - i], (size.0 * 2, size.1 * 2));
        dec += f;
        size = s;
    }
    dec += conv_flops(3, 1, 1, c[0], 3, size).0;
    (enc, cinn, dec)
}

// ---------------------------------------------------------------------------
// Inputs and the ONNX Runtime child
// ---------------------------------------------------------------------------

/// Seeded uniform numbers in [0, 1), from the project's stream generator.
fn uniform_tensor(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = equifx::rng::StreamRng::new(seed, b"vs-onnxruntime", 0);
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.uniform() as f32).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

struct OrtServer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl OrtServer {
    fn start(python: &Path, job: &Path) -> (OrtServer, String) {
        let mut child = Command::new(python)
            .arg(root().join("benches/onnx/ort_server.py"))
            .arg(job)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("cannot start the ONNX Runtime child");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut s = OrtServer {
            child,
            stdin,
            stdout,
        };
        let ready = s.line();
        assert!(ready.starts_with("ready"), "ONNX Runtime child: {ready}");
        (s, ready.trim_start_matches("ready ").to_string())
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.stdout.read_line(&mut l).unwrap();
        assert!(!l.is_empty(), "the ONNX Runtime child ended");
        l.trim().to_string()
    }

    fn ask(&mut self, cmd: &str) -> String {
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
        self.line()
    }

    /// (wall seconds inside the child, its CPU seconds, round-trip seconds).
    fn run(&mut self, graph: &str) -> (f64, f64, f64) {
        let t = Instant::now();
        let reply = self.ask(&format!("run {graph}"));
        let rt = t.elapsed().as_secs_f64();
        let f: Vec<&str> = reply.split_whitespace().collect();
        assert!(
            f.len() == 4 && f[0] == "done",
            "ONNX Runtime child: {reply}"
        );
        (f[2].parse().unwrap(), f[3].parse().unwrap(), rt)
    }

    fn stop(mut self) {
        let _ = writeln!(self.stdin, "quit");
        drop(self.stdin);
        let _ = self.child.wait();
    }
}

/// Wall and CPU seconds of `f` in this process.
fn timed(f: impl FnOnce()) -> (f64, f64) {
    let (t, c) = (Instant::now(), cpu_seconds());
    f();
    (t.elapsed().as_secs_f64(), cpu_seconds() - c)
}

#[derive(Default)]
struct Samples {
    eq_wall: Vec<f64>,
    eq_cpu: Vec<f64>,
    ort_wall: Vec<f64>,
    ort_cpu: Vec<f64>,
    ort_rt: Vec<f64>,
}

/// Warm-up of each, then `pairs` × (equifx, ORT).
fn alternate(pairs: usize, ort: &mut OrtServer, graph: &str, mut eq: impl FnMut()) -> Samples {
    eq();
    ort.run(graph);
    let mut s = Samples::default();
    for _ in 0..pairs {
        let (w, c) = timed(&mut eq);
        s.eq_wall.push(w);
        s.eq_cpu.push(c);
        let (w, c, rt) = ort.run(graph);
        s.ort_wall.push(w);
        s.ort_cpu.push(c);
        s.ort_rt.push(rt);
    }
    s
}

// ---------------------------------------------------------------------------
// Whole processes
// ---------------------------------------------------------------------------

/// Wall, CPU (user + sys) seconds and peak RSS (MB) of one process.
struct ProcRun {
    wall: f64,
    cpu: f64,
    rss_mb: f64,
}

fn run_process(cmd: &[std::ffi::OsString], env: &[(&str, &str)], tmp: &Path) -> ProcRun {
    let time_out = tmp.join("time.txt");
    let gnu_time = Path::new("/usr/bin/time").exists();
    let mut c = if gnu_time {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "%e %U %S %M", "-o"]).arg(&time_out).args(cmd);
        c
    } else {
        let mut c = Command::new(&cmd[0]);
        c.args(&cmd[1..]);
        c
    };
    c.envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let t = Instant::now();
    let out = c.output().expect("cannot start a whole-process run");
    let wall = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if !gnu_time {
        return ProcRun {
            wall,
            cpu: f64::NAN,
            rss_mb: f64::NAN,
        };
    }
    let text = std::fs::read_to_string(&time_out).unwrap();
    let f: Vec<f64> = text
        .lines()
        .last()
        .unwrap_or("")
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(f64::NAN))
        .collect();
    ProcRun {
        wall,
        cpu: f[1] + f[2],
        rss_mb: f[3] / 1024.0,
    }
}

fn synth_frame(dir: &Path, w: usize, h: usize) -> PathBuf {
    let out = dir.join(format!("frame_{w}x{h}"));
    let o = Command::new(equifx_bin())
        .args(["synth", "--domain", "photo", "--count", "1", "--seed", "5"])
        .args(["--size", &format!("{w}x{h}")])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "png"))
        .expect("equifx synth wrote no PNG")
}

fn main() {
    let threads = env_usize("EQUIFX_BENCH_THREADS", 2);
    let pairs = env_usize("EQUIFX_BENCH_PAIRS", 5).max(1);
    // Before any thread pool starts (candle and rayon both read it).
    std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    let threads_s = threads.to_string();

    println!(
        "vs_onnxruntime: {} ({} logical CPUs), {threads} threads each side, {pairs} pairs after one warm-up each",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("load average at start: {}", load_average());

    let python = match venv::ORT.python() {
        Ok(p) => p,
        Err(e) => {
            println!("vs_onnxruntime: SKIPPED, ONNX Runtime is not available: {e}");
            return;
        }
    };

    let tmp = tempfile::tempdir().unwrap();
    let onnx = tmp.path().join("onnx");
    let bundle_dir = root().join("models/default");
    let o = Command::new(equifx_bin())
        .args(["model", "export", "--onnx"])
        .arg(&bundle_dir)
        .arg("-o")
        .arg(&onnx)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // The machine's sgemm rate.
    let a = uniform_tensor(&[1024, 1024], 3);
    a.matmul(&a).unwrap();
    let mut best = f64::MAX;
    for _ in 0..3 {
        best = best.min(timed(|| drop(a.matmul(&a).unwrap())).0);
    }
    let sgemm = 2.0 * 1024f64.powi(3) / best / 1e9;
    println!("candle sgemm 1024×1024×1024: {sgemm:.0} GFLOP/s (best of 3)");

    // -----------------------------------------------------------------------
    // 1. The network alone
    // -----------------------------------------------------------------------
    let bundle = Bundle::load(&bundle_dir, &Device::Cpu).unwrap();
    let cfg = bundle.manifest.architecture.clone();
    let align = cfg.align();
    let (h, w) = (
        1080usize.div_ceil(align) * align,
        1920usize.div_ceil(align) * align,
    );
    let domain = |name: &str| {
        bundle
            .manifest
            .domains
            .iter()
            .position(|d| d == name)
            .unwrap()
    };
    let (photo, anime) = (domain("photo"), domain("anime"));
    let stems = equifx::export::domain_stems(&bundle.manifest.domains);
    let (enc_f, cinn_f, dec_f) = translate_flops(&cfg, h, w);
    let total_f = enc_f + cinn_f + dec_f;
    let px = (h * w) as f64;
    println!(
        "\n1. Network alone: translate {}→{} on 1×3×{h}×{w} (1080 padded to a multiple of align() = {align})",
        stems[photo], stems[anime]
    );
    println!(
        "conv FLOPs: {:.1} kFLOP/px (encoder {:.1}, cINN fwd+inv {:.1}, decoder {:.1}), {:.1} GFLOP a frame",
        total_f / px / 1e3,
        enc_f / px / 1e3,
        cinn_f / px / 1e3,
        dec_f / px / 1e3,
        total_f / 1e9
    );

    let x = uniform_tensor(&[1, 3, h, w], 1);
    let dom = |d: usize| Tensor::from_vec(vec![d as u32], 1, &Device::Cpu).unwrap();
    let (dp, da) = (dom(photo), dom(anime));
    let ae = &bundle.autoencoder;
    let z = ae.encoder.forward(&x).unwrap();
    let (v, _) = bundle.cinn.forward(&z, &dp).unwrap();
    let z2 = bundle.cinn.inverse(&v, &da).unwrap();
    let (y, _) = bundle.translate(&x, photo, anime, 1.0).unwrap();

    let io = tmp.path().join("io");
    std::fs::create_dir_all(&io).unwrap();
    let graph = |name: &str, file: String, input: &str, output: &str, t: &Tensor| {
        let input_file = io.join(format!("{name}.in.f32"));
        write_f32(&input_file, t);
        serde_json::json!({
            "name": name, "model": onnx.join(file), "input": input, "output": output,
            "input_file": input_file, "shape": t.dims(),
        })
    };
    let (sp, sa) = (&stems[photo], &stems[anime]);
    let job = serde_json::json!({
        "threads": threads,
        "graphs": [
            graph("translate", format!("translate_{sp}_to_{sa}.onnx"), "x", "y", &x),
            graph("encoder", "encoder.onnx".into(), "x", "z", &x),
            graph("cinn_forward", format!("cinn_forward_{sp}.onnx"), "z", "v", &z),
            graph("cinn_inverse", format!("cinn_inverse_{sa}.onnx"), "v", "z", &v),
            graph("decoder", "decoder.onnx".into(), "z", "x", &z2),
        ],
    });
    let job_path = io.join("job.json");
    std::fs::write(&job_path, job.to_string()).unwrap();
    let (mut ort, versions) = OrtServer::start(&python, &job_path);
    println!("{versions}, CPUExecutionProvider, default graph optimisations");

    // Same numbers both sides (the export test holds them to 1e-4 at small sizes).
    ort.run("translate");
    let out_file = io.join("translate.out.f32");
    ort.ask(&format!("save translate {}", out_file.display()));
    let want = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let diff = read_f32(&out_file)
        .iter()
        .zip(&want)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    println!("max |ORT − equifx| on the frame: {diff:.2e}");

    let translate = alternate(pairs, &mut ort, "translate", || {
        bundle.translate(&x, photo, anime, 1.0).unwrap();
    });
    let parts: Vec<(&str, f64, Samples)> = vec![
        (
            "encoder",
            enc_f,
            alternate(pairs, &mut ort, "encoder", || {
                ae.encoder.forward(&x).unwrap();
            }),
        ),
        (
            "cinn_forward",
            cinn_f / 2.0,
            alternate(pairs, &mut ort, "cinn_forward", || {
                bundle.cinn.forward(&z, &dp).unwrap();
            }),
        ),
        (
            "cinn_inverse",
            cinn_f / 2.0,
            alternate(pairs, &mut ort, "cinn_inverse", || {
                bundle.cinn.inverse(&v, &da).unwrap();
            }),
        ),
        (
            "decoder",
            dec_f,
            alternate(pairs, &mut ort, "decoder", || {
                ae.decoder.forward(&z2).unwrap();
            }),
        ),
    ];
    ort.stop();

    println!(
        "\n| network (1×3×{h}×{w}) | GFLOP | equifx s | ORT s (in child) | ORT s (round trip) | equifx/ORT wall | equifx/ORT CPU | equifx GFLOP/s | ORT GFLOP/s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut rows = vec![("translate (whole)", total_f, &translate)];
    rows.extend(parts.iter().map(|(n, f, s)| (*n, *f, s)));
    for (name, flops, s) in rows {
        println!(
            "| {name} | {:.1} | {} | {} | {} | {} | {} | {:.1} | {:.1} |",
            flops / 1e9,
            fmt_s(&s.eq_wall),
            fmt_s(&s.ort_wall),
            fmt_s(&s.ort_rt),
            fmt_ratio(&s.eq_wall, &s.ort_wall),
            fmt_ratio(&s.eq_cpu, &s.ort_cpu),
            flops / median(&s.eq_wall) / 1e9,
            flops / median(&s.ort_wall) / 1e9,
        );
    }
    println!(
        "CPU seconds (median): equifx {:.2}, ORT {:.2}; frame time per Mpx: equifx {:.2} s, ORT {:.2} s",
        median(&translate.eq_cpu),
        median(&translate.ort_cpu),
        median(&translate.eq_wall) / px * 1e6,
        median(&translate.ort_wall) / px * 1e6,
    );
    drop((x, z, v, z2, y));

    // -----------------------------------------------------------------------
    // 2. Whole processes
    // -----------------------------------------------------------------------
    if let Err(e) = venv::ensure_module(&python, "PIL", "pillow") {
        println!("\n2. Whole process: SKIPPED, no pillow for the PNG codec in the venv: {e}");
        println!("load average at end: {}", load_average());
        return;
    }
    let sizes = std::env::var("EQUIFX_BENCH_SIZES").unwrap_or("1920x1080,3840x2160".into());
    let graph_file = onnx.join(format!("translate_{sp}_to_{sa}.onnx"));
    let script = root().join("benches/onnx/run_ort_transfer.py");
    println!(
        "\n2. Whole process: `equifx transfer FRAME.png --from photo --to anime -p resolution=<frame height>` \
         (the node's default tiling, and with `-p tile_size=2048`) vs `python run_ort_transfer.py` (untiled)"
    );
    println!(
        "\n| frame | equifx wall s | ORT wall s | equifx/ORT wall | equifx CPU s | ORT CPU s | equifx/ORT CPU | equifx peak RSS MB | ORT peak RSS MB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for size in sizes.split(',') {
        let (fw, fh) = size
            .split_once('x')
            .map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap()))
            .expect("EQUIFX_BENCH_SIZES: WxH,WxH");
        let frame = synth_frame(tmp.path(), fw, fh);
        let res = format!("resolution={fh}");
        let out_eq = tmp.path().join("out_equifx.png");
        let out_ort = tmp.path().join("out_ort.png");
        let equifx_cmd = |extra: &[&'static str]| -> Vec<std::ffi::OsString> {
            let mut c: Vec<std::ffi::OsString> = vec![
                equifx_bin().into(),
                "transfer".into(),
                frame.clone().into(),
                "--from".into(),
                "photo".into(),
                "--to".into(),
                "anime".into(),
                "-p".into(),
                res.clone().into(),
            ];
            c.extend(extra.iter().map(|&e| e.into()));
            c.extend(["-o".into(), out_eq.clone().into()]);
            c
        };
        // The node's default tiling (frames up to 4K in one tile, as ORT
        // runs them), then 2048-px tiles, which bound memory more tightly.
        let eq_cmds = [equifx_cmd(&[]), equifx_cmd(&["-p", "tile_size=2048"])];
        let ort_cmd: Vec<std::ffi::OsString> = vec![
            python.clone().into(),
            script.clone().into(),
            graph_file.clone().into(),
            frame.clone().into(),
            out_ort.clone().into(),
        ];
        let eq_env = [("RAYON_NUM_THREADS", threads_s.as_str())];
        let ort_env = [
            ("EQUIFX_ORT_THREADS", threads_s.as_str()),
            ("OMP_NUM_THREADS", threads_s.as_str()),
            ("OPENBLAS_NUM_THREADS", threads_s.as_str()),
        ];
        // One warm-up each, then A B C A B C …
        for c in &eq_cmds {
            run_process(c, &eq_env, tmp.path());
        }
        run_process(&ort_cmd, &ort_env, tmp.path());
        let (mut eq, mut or) = ([Vec::new(), Vec::new()], Vec::new());
        for _ in 0..pairs {
            for (c, runs) in eq_cmds.iter().zip(eq.iter_mut()) {
                runs.push(run_process(c, &eq_env, tmp.path()));
            }
            or.push(run_process(&ort_cmd, &ort_env, tmp.path()));
        }
        let col = |v: &[ProcRun], f: fn(&ProcRun) -> f64| v.iter().map(f).collect::<Vec<f64>>();
        let (ow, oc, orr) = (
            col(&or, |r| r.wall),
            col(&or, |r| r.cpu),
            col(&or, |r| r.rss_mb),
        );
        for (label, runs) in ["default tiling", "Tile Size 2048"].iter().zip(&eq) {
            let (ew, ec, er) = (
                col(runs, |r| r.wall),
                col(runs, |r| r.cpu),
                col(runs, |r| r.rss_mb),
            );
            println!(
                "| {fw}×{fh}, equifx {label} | {} | {} | {} | {} | {} | {} | {:.0} | {:.0} |",
                fmt_s(&ew),
                fmt_s(&ow),
                fmt_ratio(&ew, &ow),
                fmt_s(&ec),
                fmt_s(&oc),
                fmt_ratio(&ec, &oc),
                median(&er),
                median(&orr),
            );
        }
    }
    println!("\nload average at end: {}", load_average());
}
