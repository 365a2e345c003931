//! Ratio sampling, deterministic on the trace id.
//!
//! As OpenTelemetry's `TraceIdRatioBased` does: the low 64 bits of the trace id, shifted
//! right once, are compared with `rate * 2^63`. Every service that sees the same trace id
//! and rate makes the same choice, so a sampled flow is recorded everywhere it goes.

use crate::id::TraceId;

/// Whether a trace is chosen at `rate` (0 to 1).
pub fn ratio_sampled(trace_id: TraceId, rate: f64) -> bool {
    if rate >= 1.0 {
        return true;
    }
    if rate.is_nan() || rate <= 0.0 {
        return false;
    }
    let bound = (rate * (1u64 << 63) as f64) as u64;
    (trace_id.low_u64() >> 1) < bound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_bounds_and_determinism() {
        let t = TraceId::from_bytes([0xff; 16]).unwrap();
        assert!(ratio_sampled(t, 1.0));
        assert!(!ratio_sampled(t, 0.999));
        let low = TraceId::from_bytes([0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]).unwrap();
        assert!(ratio_sampled(low, 0.0001));
        assert!(!ratio_sampled(low, 0.0));
        let hits = (0..10_000)
            .filter(|_| ratio_sampled(TraceId::random(), 0.1))
            .count();
        assert!((800..1200).contains(&hits), "{hits}");
    }
}
