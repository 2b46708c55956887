//! Nanosecond timestamps rendered as RFC 3339 UTC, without a date crate:
//! the civil-from-days algorithm (H. Hinnant, "chrono-Compatible Low-Level
//! Date Algorithms") is ten lines.

/// A wall-clock time as nanoseconds since the Unix epoch (0 before it):
/// the one conversion every timestamp of a record goes through.
pub fn unix_ns(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Formats nanoseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
pub fn rfc3339(ts_ns: i64) -> String {
    let mut out = Vec::with_capacity(30);
    write_rfc3339(&mut out, ts_ns);
    String::from_utf8(out).unwrap_or_default()
}

/// Appends the RFC 3339 form of `ts_ns` to `out` without allocating.
pub fn write_rfc3339(out: &mut Vec<u8>, ts_ns: i64) {
    let (y, m, d) = civil_from_days(ts_ns.div_euclid(1_000_000_000).div_euclid(86_400));
    digits(out, y, 4);
    out.push(b'-');
    digits(out, i64::from(m), 2);
    out.push(b'-');
    digits(out, i64::from(d), 2);
    out.push(b'T');
    write_time_of_day(out, ts_ns, 9);
    out.push(b'Z');
}

/// Appends the UTC time of day of `ts_ns`, `HH:MM:SS.f`, with `decimals`
/// digits of the second (at most 9; cut, not rounded, as a clock reads).
pub fn write_time_of_day(out: &mut Vec<u8>, ts_ns: i64, decimals: u32) {
    let decimals = decimals.min(9);
    let sod = ts_ns.div_euclid(1_000_000_000).rem_euclid(86_400);
    let nanos = ts_ns.rem_euclid(1_000_000_000);
    digits(out, sod / 3600, 2);
    out.push(b':');
    digits(out, sod % 3600 / 60, 2);
    out.push(b':');
    digits(out, sod % 60, 2);
    out.push(b'.');
    digits(out, nanos / 10i64.pow(9 - decimals), decimals as usize);
}

/// `v` in `width` decimal digits, zero-padded (the lowest kept).
fn digits(out: &mut Vec<u8>, mut v: i64, width: usize) {
    let at = out.len();
    out.resize(at + width, b'0');
    for slot in out[at..].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Seconds with microseconds, as Zeek's `ts` column prints them.
pub fn epoch_seconds(ts_ns: i64) -> String {
    format!(
        "{}.{:06}",
        ts_ns.div_euclid(1_000_000_000),
        ts_ns.rem_euclid(1_000_000_000) / 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339(951_782_400_000_000_001),
            "2000-02-29T00:00:00.000000001Z"
        );
        assert_eq!(
            rfc3339(1_795_000_000_123_456_789),
            "2026-11-18T11:06:40.123456789Z"
        );
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(
            epoch_seconds(1_500_000_000_123_456_789),
            "1500000000.123456"
        );
    }

    #[test]
    fn the_time_of_day_is_the_rfc3339_forms_cut_to_its_decimals() {
        for ts in [0, -1, 951_782_400_000_000_001, 1_795_000_000_123_456_789] {
            let full = rfc3339(ts);
            for decimals in [0, 3, 6, 9] {
                let mut l = Vec::new();
                write_time_of_day(&mut l, ts, decimals);
                assert_eq!(
                    String::from_utf8(l).unwrap(),
                    full[11..20 + decimals as usize],
                    "{ts} with {decimals}"
                );
            }
        }
    }
}
