//! One way to summarise a distribution of times, in bounded memory: an HDR
//! histogram (three significant digits, growing as needed) with the exact
//! minimum and maximum beside it. `analyze`'s per-endpoint RTTs and
//! `probe`'s per-target handshake times both use it, so a percentile means
//! the same everywhere. Values are in whatever unit the caller records.

use hdrhistogram::Histogram;

#[derive(Clone, Debug)]
pub struct Latencies {
    histogram: Histogram<u64>,
    min: u64,
    max: u64,
    sum: u128,
}

impl Default for Latencies {
    fn default() -> Self {
        let mut histogram = Histogram::new(3).expect("3 significant digits is valid");
        histogram.auto(true);
        Latencies {
            histogram,
            min: u64::MAX,
            max: 0,
            sum: 0,
        }
    }
}

impl Latencies {
    pub fn record(&mut self, value: u64) {
        // With auto-resize only a value past u64 range could fail.
        let _ = self.histogram.record(value);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.sum += u128::from(value);
    }

    /// Values recorded in `[low, high)` (to the histogram's precision).
    pub fn count_in(&self, low: u64, high: u64) -> u64 {
        if high <= low {
            return 0;
        }
        self.histogram.count_between(low, high - 1)
    }

    pub fn len(&self) -> u64 {
        self.histogram.len()
    }

    pub fn is_empty(&self) -> bool {
        self.histogram.is_empty()
    }

    /// The exact smallest value recorded.
    pub fn min(&self) -> Option<u64> {
        (!self.is_empty()).then_some(self.min)
    }

    /// The exact largest value recorded.
    pub fn max(&self) -> Option<u64> {
        (!self.is_empty()).then_some(self.max)
    }

    /// The value at quantile `q` (0-1), within the histogram's precision.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let h = &self.histogram;
        (!h.is_empty()).then(|| h.median_equivalent(h.value_at_quantile(q)))
    }

    pub fn mean(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.sum as f64 / self.len() as f64)
    }

    /// The mean absolute deviation from the mean (ping's `mdev` idea),
    /// within the histogram's precision.
    pub fn mean_deviation(&self) -> Option<u64> {
        let mean = self.mean()?;
        let total: f64 = self
            .histogram
            .iter_recorded()
            .map(|v| {
                let value = self.histogram.median_equivalent(v.value_iterated_to()) as f64;
                (value - mean).abs() * v.count_at_value() as f64
            })
            .sum();
        Some((total / self.len() as f64) as u64)
    }

    /// Counts in `bins` equal-width bins from the minimum to the maximum:
    /// (lower edge, count). Empty when fewer than two distinct values.
    pub fn bins(&self, bins: usize) -> Vec<(u64, u64)> {
        let (Some(lo), Some(hi)) = (self.min(), self.max()) else {
            return Vec::new();
        };
        if hi == lo || bins == 0 {
            return Vec::new();
        }
        let width = ((hi - lo) as f64 / bins as f64).max(1.0);
        let mut counts = vec![0u64; bins];
        for v in self.histogram.iter_recorded() {
            let value = self
                .histogram
                .median_equivalent(v.value_iterated_to())
                .clamp(lo, hi);
            let i = (((value - lo) as f64 / width) as usize).min(bins - 1);
            counts[i] += v.count_at_value();
        }
        counts
            .into_iter()
            .enumerate()
            .map(|(i, c)| (lo + (i as f64 * width) as u64, c))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_min_max_and_deviation_of_a_known_set() {
        let mut l = Latencies::default();
        for v in 1..=1000u64 {
            l.record(v * 1000);
        }
        assert_eq!(l.len(), 1000);
        assert_eq!((l.min(), l.max()), (Some(1000), Some(1_000_000)));
        let p50 = l.quantile(0.5).unwrap();
        assert!((499_000..=501_000).contains(&p50), "{p50}");
        let p99 = l.quantile(0.99).unwrap();
        assert!((989_000..=991_000).contains(&p99), "{p99}");
        // Uniform on [1, 1000] ms: mean deviation 250 ms.
        let mdev = l.mean_deviation().unwrap();
        assert!((249_000..=251_000).contains(&mdev), "{mdev}");
        let bins = l.bins(4);
        assert_eq!(bins.len(), 4);
        assert_eq!(bins.iter().map(|b| b.1).sum::<u64>(), 1000);
        assert_eq!(bins[0].0, 1000);
    }

    #[test]
    fn memory_does_not_grow_with_the_count() {
        let mut l = Latencies::default();
        for i in 0..100_000u64 {
            l.record(1_000_000 + (i % 5000) * 10);
        }
        let before = l.histogram.distinct_values();
        for i in 0..1_000_000u64 {
            l.record(1_000_000 + (i % 5000) * 10);
        }
        assert_eq!(l.histogram.distinct_values(), before);
        assert_eq!(l.len(), 1_100_000);
    }

    #[test]
    fn nothing_recorded_gives_nothing() {
        let l = Latencies::default();
        assert_eq!(l.quantile(0.5), None);
        assert_eq!(l.mean_deviation(), None);
        assert!(l.bins(8).is_empty());
    }
}
