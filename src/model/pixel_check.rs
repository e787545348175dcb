//! The Fair Sampler's check by the pixels (docs/fairness.md §4): each item's
//! picture is decoded and read by the bundle's pixel reader; a candidate
//! whose picture does not show its cell (the reader's probability of each
//! attribute of the cell below the threshold) is turned down and the item
//! drawn again from the same cell, up to a number of tries. The item's cell
//! never changes, so a block's counts stay exact; every candidate is a draw
//! of its own stream, so the outcome does not depend on how items are batched.
//!
//! What the check costs is reported: attempts per item in the sidecar, and
//! the share of candidates that passed, per cell.

use std::ops::Range;

use super::latents::{decode, decode_and_read};
use super::Bundle;
use crate::error::{Error, Result};
use crate::fairness::metadata::PixelCheck;
use crate::fairness::sampler::{FairSampler, SampledItem};
use crate::frame::Image;
use rayon::prelude::*;

/// How hard to check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckOptions {
    /// Candidates drawn at most per item; 1 = no redraws (the pictures are
    /// still read and reported). 0 turns the check off.
    pub tries: u32,
    /// The reader's probability every attribute of the cell must reach.
    /// Higher is more faithful to the cell and redraws more; well above the
    /// default it favours the pictures easiest to read (Level B (4) sees it
    /// at 0.999).
    pub threshold: f32,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            tries: 16,
            threshold: 0.95,
        }
    }
}

impl CheckOptions {
    pub fn validate(&self) -> Result<()> {
        if !(0.5..1.0).contains(&self.threshold) {
            return Err(Error::InvalidArgument(format!(
                "the pixel check's threshold {} must be in [0.5, 1)",
                self.threshold
            )));
        }
        if self.tries > 64 {
            return Err(Error::InvalidArgument(format!(
                "{} tries per item: at most 64",
                self.tries
            )));
        }
        Ok(())
    }
}

/// A sampled item with its decoded picture and, when checked, the check.
pub struct CheckedItem {
    pub item: SampledItem,
    pub picture: Image,
    pub check: Option<PixelCheck>,
}

/// How surely `read` shows cell `cell`: the smallest probability, over the
/// attributes the reader reads, of the cell's value of that attribute.
fn agreement(read: &[f32], cell: usize) -> f32 {
    read.iter()
        .enumerate()
        .filter(|(_, p)| !p.is_nan())
        .map(|(k, &p)| if (cell >> k) & 1 == 1 { p } else { 1.0 - p })
        .fold(1.0, f32::min)
}

/// Items `range` of `sampler`, decoded in `domain`, each checked by the
/// bundle's reader when it has one and `options.tries > 0`.
pub fn sample_checked(
    bundle: &Bundle,
    sampler: &FairSampler,
    domain: usize,
    range: Range<u64>,
    options: CheckOptions,
) -> Result<Vec<CheckedItem>> {
    options.validate()?;
    let names = sampler.heads().names().to_vec();
    let first = sampler.sample_range(range.clone())?;
    if options.tries == 0 || bundle.reader.is_none() {
        let vs: Vec<Vec<f32>> = first.iter().map(|i| i.v.clone()).collect();
        let pictures = decode(bundle, &vs, domain)?;
        return Ok(first
            .into_iter()
            .zip(pictures)
            .map(|(item, picture)| CheckedItem {
                item,
                picture,
                check: None,
            })
            .collect());
    }
    struct Best {
        item: SampledItem,
        picture: Image,
        read: Vec<f32>,
        score: f32,
        attempts: u32,
    }
    let mut best: Vec<Option<Best>> = (0..first.len()).map(|_| None).collect();
    let mut pending: Vec<(usize, SampledItem)> = first.into_iter().enumerate().collect();
    for attempt in 0..options.tries {
        if attempt > 0 {
            pending = pending
                .into_par_iter()
                .map(|(slot, _)| {
                    sampler
                        .sample_attempt(range.start + slot as u64, attempt)
                        .map(|i| (slot, i))
                })
                .collect::<Result<_>>()?;
        }
        if pending.is_empty() {
            break;
        }
        let vs: Vec<Vec<f32>> = pending.iter().map(|(_, i)| i.v.clone()).collect();
        let (pictures, read) = decode_and_read(bundle, &vs, domain, &names)?;
        let read = read.ok_or_else(|| Error::Internal("the reader went away".into()))?;
        let mut still = Vec::new();
        for (((slot, item), picture), read) in pending.into_iter().zip(pictures).zip(read) {
            let score = agreement(&read, item.meta.cell);
            let better = best[slot].as_ref().is_none_or(|b| score > b.score);
            if better {
                best[slot] = Some(Best {
                    item: item.clone(),
                    picture,
                    read,
                    score,
                    attempts: 0,
                });
            }
            if let Some(b) = best[slot].as_mut() {
                b.attempts = attempt + 1;
            }
            if score < options.threshold {
                still.push((slot, item));
            }
        }
        pending = still;
    }
    best.into_iter()
        .map(|b| {
            let b = b.ok_or_else(|| Error::Internal("an item without a candidate".into()))?;
            Ok(CheckedItem {
                check: Some(PixelCheck {
                    attempts: b.attempts,
                    passed: b.score >= options.threshold,
                    read: b
                        .read
                        .iter()
                        .map(|&p| (!p.is_nan()).then_some(f64::from(p)))
                        .collect(),
                }),
                item: b.item,
                picture: b.picture,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_is_the_weakest_attribute_of_the_cell() {
        // Cell 0b01: attribute 0 present, attribute 1 absent.
        assert_eq!(agreement(&[0.9, 0.2], 0b01), 0.8);
        assert_eq!(agreement(&[0.6, 0.0], 0b01), 0.6);
        // An attribute the reader does not read does not count.
        assert_eq!(agreement(&[f32::NAN, 0.3], 0b00), 0.7);
        assert_eq!(agreement(&[f32::NAN], 0b1), 1.0);
    }

    #[test]
    fn bad_options_are_refused() {
        for (tries, threshold) in [(8, 0.4), (8, 1.0), (8, f32::NAN), (65, 0.9)] {
            assert!(CheckOptions { tries, threshold }.validate().is_err());
        }
        assert!(CheckOptions::default().validate().is_ok());
    }
}
