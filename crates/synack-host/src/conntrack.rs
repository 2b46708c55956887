//! Connection tracking as the namespace's netfilter keeps it: the table's
//! entries and limit (/proc/sys/net/netfilter/nf_conntrack_{count,max})
//! and its statistics summed over the CPUs (/proc/net/stat/nf_conntrack:
//! `insert_failed`, `drop`, `early_drop`, ...), the numbers `conntrack -C`
//! and `conntrack -S` print. Each namespace has its own table and counts;
//! the limit applies to each. Absent where the kernel has no conntrack.

use std::collections::BTreeMap;

const COUNT: &str = "/proc/sys/net/netfilter/nf_conntrack_count";
const MAX: &str = "/proc/sys/net/netfilter/nf_conntrack_max";
const STATS: &str = "/proc/net/stat/nf_conntrack";

/// The statistics synack reports, in the kernel's names.
pub const STATISTICS: [&str; 6] = [
    "insert_failed",
    "drop",
    "early_drop",
    "invalid",
    "insert",
    "search_restart",
];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conntrack {
    pub entries: u64,
    /// 0: no limit.
    pub max: u64,
    /// Kernel name → sum over the CPUs (counters since boot of the
    /// namespace).
    pub stats: BTreeMap<String, u64>,
}

impl Conntrack {
    /// Reads the calling thread's namespace: `Ok(None)` when the kernel
    /// has no connection tracking, `Err` when its files cannot be read.
    pub fn read() -> Result<Option<Conntrack>, String> {
        let read = |path: &str| std::fs::read_to_string(path);
        let count = match read(COUNT) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{COUNT}: {e}")),
        };
        let number = |path: &str, text: &str| {
            text.trim()
                .parse::<u64>()
                .map_err(|_| format!("{path}: not a number: {:?}", text.trim()))
        };
        let entries = number(COUNT, &count)?;
        let max = number(MAX, &read(MAX).map_err(|e| format!("{MAX}: {e}"))?)?;
        let stats = match read(STATS) {
            Ok(text) => parse_stats(&text).map_err(|e| format!("{STATS}: {e}"))?,
            // Without CONFIG_NF_CONNTRACK_PROCFS the numbers are netlink's
            // only: entries and limit still tell the fill.
            Err(_) => BTreeMap::new(),
        };
        Ok(Some(Conntrack {
            entries,
            max,
            stats,
        }))
    }

    /// Entries in percent of the limit (0 without one).
    pub fn fill(&self) -> f64 {
        if self.max == 0 {
            0.0
        } else {
            self.entries as f64 * 100.0 / self.max as f64
        }
    }

    pub fn stat(&self, name: &str) -> u64 {
        self.stats.get(name).copied().unwrap_or(0)
    }
}

/// The per-CPU table: a header of names, then a line of hexadecimal
/// numbers per CPU; summed by name (`entries` is the table's size on every
/// line, so it is left out).
pub fn parse_stats(text: &str) -> Result<BTreeMap<String, u64>, String> {
    let mut lines = text.lines();
    let names: Vec<&str> = lines.next().ok_or("empty")?.split_whitespace().collect();
    let mut sums = BTreeMap::new();
    for (i, line) in lines.enumerate() {
        let values: Vec<&str> = line.split_whitespace().collect();
        if values.len() != names.len() {
            return Err(format!(
                "line {}: {} values for {} names",
                i + 2,
                values.len(),
                names.len()
            ));
        }
        for (name, value) in names.iter().zip(values) {
            if *name == "entries" {
                continue;
            }
            let v = u64::from_str_radix(value, 16)
                .map_err(|_| format!("line {}: {value:?} is not hexadecimal", i + 2))?;
            *sums.entry(name.to_string()).or_insert(0) += v;
        }
    }
    Ok(sums)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_cpu_statistics_are_summed_by_name() {
        let text = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n\
            00000010  00000000 00000001 00000000 00000002 00000000 00000000 00000000 00000005 0000000a 00000003 00000000 00000000  00000000 00000000 00000000 00000000\n\
            00000010  00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000004 00000001 00000000 00000000 00000000  00000000 00000000 00000000 00000001\n";
        let s = parse_stats(text).unwrap();
        assert_eq!(s["insert_failed"], 11);
        assert_eq!(s["drop"], 3);
        assert_eq!(s["insert"], 9);
        assert_eq!(s["invalid"], 2);
        assert!(!s.contains_key("entries"));
        assert!(parse_stats("a b\n1\n").unwrap_err().contains("line 2"));
        assert!(parse_stats("a\nzz\n").unwrap_err().contains("hexadecimal"));
    }

    #[test]
    fn fill_is_entries_over_the_limit() {
        let c = Conntrack {
            entries: 90,
            max: 100,
            stats: BTreeMap::new(),
        };
        assert_eq!(c.fill(), 90.0);
        assert_eq!(Conntrack::default().fill(), 0.0);
    }
}
