//! Adam with its state in plain tensors, so a checkpoint can store it and a
//! resumed run continues exactly where it stopped (candle's AdamW keeps its
//! moments private).

use candle_core::{backprop::GradStore, Result, Tensor, Var};

pub struct Adam {
    pub names: Vec<String>,
    vars: Vec<Var>,
    pub m: Vec<Tensor>,
    pub v: Vec<Tensor>,
    pub t: usize,
}

const B1: f64 = 0.9;
const B2: f64 = 0.999;
const EPS: f64 = 1e-8;

impl Adam {
    pub fn new(named: Vec<(String, Var)>) -> Result<Self> {
        let (names, vars): (Vec<_>, Vec<_>) = named.into_iter().unzip();
        let m = vars.iter().map(|v| v.zeros_like()).collect::<Result<_>>()?;
        let v = vars.iter().map(|v| v.zeros_like()).collect::<Result<_>>()?;
        Ok(Adam {
            names,
            vars,
            m,
            v,
            t: 0,
        })
    }

    /// One update with learning rate `lr` (the caller schedules it).
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        self.t += 1;
        let (c1, c2) = (1.0 - B1.powi(self.t as i32), 1.0 - B2.powi(self.t as i32));
        for i in 0..self.vars.len() {
            let Some(g) = grads.get(&self.vars[i]) else {
                continue;
            };
            // Detached: a gradient carries its autograd graph, and moments
            // built from it would keep every step's activations alive.
            let g = g.detach();
            self.m[i] = ((&self.m[i] * B1)? + (&g * (1.0 - B1))?)?.detach();
            self.v[i] = ((&self.v[i] * B2)? + (g.sqr()? * (1.0 - B2))?)?.detach();
            let update = ((&self.m[i] / c1)? / ((&self.v[i] / c2)?.sqrt()? + EPS)?)?;
            let next = self.vars[i].as_tensor().detach().sub(&(update * lr)?)?;
            self.vars[i].set(&next)?;
        }
        Ok(())
    }
}
