//! Cells of the attribute grid. With K heads there are 2^K cells; bit k of a
//! cell index is 1 when attribute k is present, i.e. when its signed score
//! u_k + b̃_k is strictly positive. Every fairness module uses this one
//! convention, so a cell index in a sidecar, a plan or a report means the same.

/// Number of cells for `k` binary attributes.
pub fn n_cells(k: usize) -> usize {
    1usize << k
}

/// Whether attribute `k` is present in `cell`.
pub fn has(cell: usize, k: usize) -> bool {
    (cell >> k) & 1 == 1
}

/// Sign s_k ∈ {−1, +1} of attribute `k` in `cell`.
pub fn sign(cell: usize, k: usize) -> f64 {
    if has(cell, k) {
        1.0
    } else {
        -1.0
    }
}

/// The cell of a vector of signed scores (u_k + b̃_k).
pub fn cell_of(scores: &[f64]) -> usize {
    scores
        .iter()
        .enumerate()
        .filter(|(_, s)| **s > 0.0)
        .fold(0, |c, (k, _)| c | (1 << k))
}

/// A readable cell name such as `warm+ round-` from attribute names.
pub fn cell_name(cell: usize, names: &[String]) -> String {
    names
        .iter()
        .enumerate()
        .map(|(k, n)| format!("{n}{}", if has(cell, k) { '+' } else { '-' }))
        .collect::<Vec<_>>()
        .join(" ")
}
