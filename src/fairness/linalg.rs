//! Small dense linear algebra on row-major `f64` slices: the K×K head
//! covariances (K ≤ ~4), the (D+1)×(D+1) Newton systems of the head fit and the
//! K×K confusion inversions. Sizes are tiny, so plain loops beat a dependency.

/// Dot product of two equally long slices.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Cholesky factor L (lower, row-major n×n) of a symmetric positive definite
/// matrix, or `None` when the matrix is not positive definite (e.g. collinear heads).
pub fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                if s.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                    return None;
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// Solves (L Lᵀ) x = b given the Cholesky factor L.
pub fn cholesky_solve(l: &[f64], n: usize, b: &[f64]) -> Vec<f64> {
    let mut y = vec![0.0; n];
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * n + k] * y[k];
        }
        y[i] = s / l[i * n + i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let mut s = y[i];
        for k in i + 1..n {
            s -= l[k * n + i] * x[k];
        }
        x[i] = s / l[i * n + i];
    }
    x
}

/// Inverse of a symmetric positive definite matrix, or `None` if it is not.
pub fn inverse_spd(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let l = cholesky(a, n)?;
    let mut inv = vec![0.0; n * n];
    let mut e = vec![0.0; n];
    for j in 0..n {
        e.iter_mut().for_each(|x| *x = 0.0);
        e[j] = 1.0;
        let col = cholesky_solve(&l, n, &e);
        for i in 0..n {
            inv[i * n + j] = col[i];
        }
    }
    Some(inv)
}

/// Solves the general system A x = b by Gaussian elimination with partial
/// pivoting; `None` when A is (numerically) singular.
pub fn solve(a: &[f64], n: usize, b: &[f64]) -> Option<Vec<f64>> {
    let mut m = a.to_vec();
    let mut x = b.to_vec();
    for col in 0..n {
        let pivot =
            (col..n).max_by(|&i, &j| m[i * n + col].abs().total_cmp(&m[j * n + col].abs()))?;
        if m[pivot * n + col].abs() < 1e-12 {
            return None;
        }
        if pivot != col {
            for k in 0..n {
                m.swap(pivot * n + k, col * n + k);
            }
            x.swap(pivot, col);
        }
        for r in col + 1..n {
            let f = m[r * n + col] / m[col * n + col];
            for k in col..n {
                m[r * n + k] -= f * m[col * n + k];
            }
            x[r] -= f * x[col];
        }
    }
    for i in (0..n).rev() {
        let mut s = x[i];
        for k in i + 1..n {
            s -= m[i * n + k] * x[k];
        }
        x[i] = s / m[i * n + i];
    }
    Some(x)
}

/// Matrix–vector product of a row-major r×c matrix with a c-vector.
pub fn mat_vec(a: &[f64], rows: usize, x: &[f64]) -> Vec<f64> {
    let c = x.len();
    (0..rows).map(|i| dot(&a[i * c..(i + 1) * c], x)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_inverse_and_solve_agree_with_the_definition() {
        let a = [4.0, 1.2, 0.3, 1.2, 2.0, -0.4, 0.3, -0.4, 1.5];
        let inv = inverse_spd(&a, 3).expect("spd");
        for i in 0..3 {
            for j in 0..3 {
                let p: f64 = (0..3).map(|k| a[i * 3 + k] * inv[k * 3 + j]).sum();
                assert!((p - f64::from(u8::from(i == j))).abs() < 1e-12);
            }
        }
        let b = [1.0, -2.0, 0.5];
        let x = solve(&a, 3, &b).expect("regular");
        let ax = mat_vec(&a, 3, &x);
        for i in 0..3 {
            assert!((ax[i] - b[i]).abs() < 1e-12);
        }
    }

    #[test]
    fn singular_matrices_are_reported_not_factored() {
        let collinear = [1.0, 1.0, 1.0, 1.0];
        assert!(cholesky(&collinear, 2).is_none());
        assert!(solve(&collinear, 2, &[1.0, 2.0]).is_none());
    }
}
