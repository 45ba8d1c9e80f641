//! Finite-difference gradient checking for tests.

/// Compares `analytic[p]` with central differences of `loss` for each probed index `p` of
/// `params`. A probe whose forward and backward one-sided slopes disagree straddles a ReLU kink
/// (the derivative does not exist there) and is skipped. Panics on a mismatch; returns how many
/// probes were checked so callers can require that most were.
pub fn check(
    params: &mut [f32],
    analytic: &[f32],
    probes: impl Iterator<Item = usize>,
    h: f32,
    mut loss: impl FnMut(&[f32]) -> f64,
) -> usize {
    let base = loss(params);
    let mut checked = 0;
    for p in probes {
        let orig = params[p];
        params[p] = orig + h;
        let up = loss(params);
        params[p] = orig - h;
        let down = loss(params);
        params[p] = orig;
        let (fwd, bwd) = ((up - base) / h as f64, (base - down) / h as f64);
        if (fwd - bwd).abs() > 0.05 * (1e-3 + fwd.abs().max(bwd.abs())) {
            continue;
        }
        let fd = (up - down) / (2.0 * h as f64);
        let got = analytic[p] as f64;
        assert!((fd - got).abs() <= 1e-4 + 1e-2 * fd.abs(), "parameter {p}: finite difference {fd} vs analytic {got}");
        checked += 1;
    }
    checked
}
