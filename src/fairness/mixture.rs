//! The mixture the fairness space is modelled as: Σ_c π_c N(m_c, I) over
//! whitened latents. The bundle's prior (`crate::model::prior`) fits and
//! stores it; label-free groups ([`super::groups`]) partition it.

/// One mixture component in the whitened space: N(mean, I) with weight π.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub weight: f64,
    pub mean: Vec<f64>,
}

impl Component {
    /// ln π + ln N(e; m, I) up to the constant −d/2·ln 2π that every
    /// component shares: what posteriors over components compare.
    pub fn log_density(&self, e: &[f32]) -> f64 {
        let d2: f64 = e
            .iter()
            .zip(&self.mean)
            .map(|(&x, m)| (f64::from(x) - m).powi(2))
            .sum();
        self.weight.ln() - 0.5 * d2
    }
}
