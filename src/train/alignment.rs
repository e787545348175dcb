//! Shared attribute directions in v, learned with the cINN.
//!
//! Maximum likelihood makes every domain's latents N(0, I) in v but says
//! nothing about *where* a domain puts an attribute: photo may encode "round"
//! along one direction and oil along another, and a translation that keeps v
//! then changes the object's shape. This term trains one logistic direction per
//! labelled attribute, shared by every domain, with one intercept per domain,
//! jointly with the cINN. Translation keeps the score along the shared
//! direction; the per-domain intercepts keep each domain's own prior, so a
//! domain's bias still shows as drift (a cool photo near the boundary comes
//! out warm in a 90 %-warm domain) instead of being trained away.
//!
//! Only images outside the heads' held-out split are used, so the confusion
//! the heads report is still measured on images no part of training saw labelled.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{Init, VarBuilder, VarMap};

use super::data::DomainData;
use super::heads::is_held_out;
use crate::error::{Error, Result};

/// Name prefix of the term's variables: trained and checkpointed, never exported.
pub const PREFIX: &str = "align.";

pub struct Alignment {
    /// (attributes, latent_dim): the shared directions.
    directions: Var,
    /// (attributes, domains): each domain's intercept.
    intercepts: Var,
    /// labels[domain][attribute][image]: `None` when the image is held out,
    /// unlabelled for the attribute, or its domain has no such label.
    labels: Vec<Vec<Vec<Option<bool>>>>,
}

impl Alignment {
    /// The term for every attribute labelled in at least one domain, or `None`
    /// when nothing is labelled.
    pub fn new(
        varmap: &VarMap,
        data: &[DomainData],
        latent_dim: usize,
        seed: u64,
    ) -> Result<Option<Alignment>> {
        let mut attributes: Vec<&String> = data.iter().flat_map(|d| d.labels.keys()).collect();
        attributes.sort();
        attributes.dedup();
        if attributes.is_empty() {
            return Ok(None);
        }
        let vb = VarBuilder::from_varmap(varmap, DType::F32, &Device::Cpu);
        let vb = vb.pp(PREFIX.trim_end_matches('.'));
        let zeros = Init::Const(0.0);
        vb.get_with_hints((attributes.len(), latent_dim), "directions", zeros)?;
        vb.get_with_hints((attributes.len(), data.len()), "intercepts", zeros)?;
        let var = |name: &str| -> Result<Var> {
            varmap
                .data()
                .lock()
                .map_err(|_| Error::Internal("variable map lock poisoned".into()))?
                .get(&format!("{PREFIX}{name}"))
                .cloned()
                .ok_or_else(|| Error::Internal(format!("{PREFIX}{name} was not created")))
        };
        let labels = data
            .iter()
            .map(|d| {
                attributes
                    .iter()
                    .map(|a| {
                        (0..d.len())
                            .map(|i| match d.labels.get(*a) {
                                Some(l) if !is_held_out(seed, i) => l[i],
                                _ => None,
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        Ok(Some(Alignment {
            directions: var("directions")?,
            intercepts: var("intercepts")?,
            labels,
        }))
    }

    /// Mean logistic loss of the shared heads on a batch of v (B, …) whose
    /// items are image `images[i]` of domain `domains[i]`; 0 when no item is labelled.
    pub fn loss(&self, v: &Tensor, domains: &[u32], images: &[usize]) -> Result<Tensor> {
        let attributes = self.labels.first().map_or(0, Vec::len);
        let (mut y, mut mask) = (Vec::new(), Vec::new());
        for (&d, &i) in domains.iter().zip(images) {
            for a in 0..attributes {
                let label = self.labels[d as usize][a][i];
                y.push(f32::from(u8::from(label == Some(true))));
                mask.push(f32::from(u8::from(label.is_some())));
            }
        }
        let labelled: f32 = mask.iter().sum();
        let b = domains.len();
        let dev = v.device();
        let y = Tensor::from_vec(y, (b, attributes), dev)?;
        let mask = Tensor::from_vec(mask, (b, attributes), dev)?;
        let doms = Tensor::from_vec(domains.to_vec(), b, dev)?;
        let scores = v
            .flatten_from(1)?
            .matmul(&self.directions.as_tensor().t()?)?;
        let intercepts = self
            .intercepts
            .as_tensor()
            .t()?
            .contiguous()?
            .index_select(&doms, 0)?;
        let logits = (scores + intercepts)?;
        // Binary cross-entropy from logits, stable for large |logit|:
        // softplus(s) − y·s with softplus(s) = max(s, 0) + ln(1 + e^−|s|).
        let softplus = (logits.relu()? + ((logits.abs()?.neg()?.exp()? + 1.0)?.log()?))?;
        let ce = (softplus - (y * &logits)?)?;
        Ok(((ce * mask)?.sum_all()? / f64::from(labelled.max(1.0)))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn domain(labels: Vec<bool>) -> DomainData {
        labelled(labels.into_iter().map(Some).collect())
    }

    fn labelled(labels: Vec<Option<bool>>) -> DomainData {
        DomainData {
            name: "d".into(),
            root: std::path::PathBuf::new(),
            files: vec![std::path::PathBuf::new(); labels.len()],
            labels: BTreeMap::from([("warm".to_string(), labels)]),
            skipped: Vec::new(),
        }
    }

    /// With zero weights every logit is 0, so the loss is ln 2 per labelled
    /// item; held-out and unlabelled items add nothing.
    #[test]
    fn an_untrained_head_costs_ln_two_per_labelled_item() {
        let varmap = VarMap::new();
        let data = vec![domain(vec![true; 64]), domain(vec![false; 64])];
        let a = Alignment::new(&varmap, &data, 4, 1).unwrap().unwrap();
        let v = Tensor::ones((8, 4), DType::F32, &Device::Cpu).unwrap();
        let idx: Vec<usize> = (0..8).collect();
        let doms = [0u32, 1, 0, 1, 0, 1, 0, 1];
        let l = a.loss(&v, &doms, &idx).unwrap().to_scalar::<f32>().unwrap();
        assert!((l - std::f32::consts::LN_2).abs() < 1e-6, "{l}");
    }

    /// Images without a label for the attribute add nothing: a batch of
    /// them costs 0; the labelled ones still cost ln 2 each untrained.
    #[test]
    fn unlabelled_images_are_skipped() {
        let varmap = VarMap::new();
        let labels: Vec<Option<bool>> = (0..64).map(|i| (i % 2 == 0).then_some(true)).collect();
        let a = Alignment::new(&varmap, &[labelled(labels)], 4, 1)
            .unwrap()
            .unwrap();
        let v = Tensor::ones((8, 4), DType::F32, &Device::Cpu).unwrap();
        let odd: Vec<usize> = (0..8).map(|k| 2 * k + 1).collect();
        let l = a
            .loss(&v, &[0; 8], &odd)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(l, 0.0);
        let even: Vec<usize> = (0..64)
            .step_by(2)
            .filter(|&i| !is_held_out(1, i))
            .take(8)
            .collect();
        let l = a
            .loss(&v, &[0; 8], &even)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!((l - std::f32::consts::LN_2).abs() < 1e-6, "{l}");
    }

    /// Gradient descent on the term alone separates a labelled direction: the
    /// loss falls and the learned direction points along the planted one.
    #[test]
    fn the_shared_direction_learns_the_planted_attribute() {
        let varmap = VarMap::new();
        let n = 200;
        let labels: Vec<bool> = (0..n).map(|i| i % 3 == 0).collect();
        let data = vec![domain(labels.clone())];
        let a = Alignment::new(&varmap, &data, 2, 3).unwrap().unwrap();
        // Planted: coordinate 1 is +1 for positives and −1 for negatives, coordinate 0 is noise.
        let v: Vec<f32> = (0..n)
            .flat_map(|i| {
                [
                    ((i * 7919) % 13) as f32 / 6.0 - 1.0,
                    if labels[i] { 1.0 } else { -1.0 },
                ]
            })
            .collect();
        let v = Tensor::from_vec(v, (n, 2), &Device::Cpu).unwrap();
        let idx: Vec<usize> = (0..n).collect();
        let doms = vec![0u32; n];
        let first = a.loss(&v, &doms, &idx).unwrap().to_scalar::<f32>().unwrap();
        for _ in 0..200 {
            let l = a.loss(&v, &doms, &idx).unwrap();
            let g = l.backward().unwrap();
            for var in [&a.directions, &a.intercepts] {
                let step = (g.get(var).unwrap() * 0.5).unwrap();
                var.set(&(var.as_tensor() - step).unwrap()).unwrap();
            }
        }
        let last = a.loss(&v, &doms, &idx).unwrap().to_scalar::<f32>().unwrap();
        let w = a
            .directions
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(last < 0.1 * first, "loss {first} → {last}");
        assert!(w[1] > 5.0 * w[0].abs(), "direction {w:?}");
    }
}
