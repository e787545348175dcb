//! The mixture the fairness space is modelled as: Σ_c π_c N(m_c, I) over
//! whitened latents. The bundle's prior (`crate::model::prior`) fits and
//! stores it; label-free groups ([`super::groups`]) partition it.

/// One mixture component in the whitened space: N(mean, I) with weight π.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub weight: f64,
    pub mean: Vec<f64>,
}
