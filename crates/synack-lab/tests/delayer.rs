//! The delayer at rest: it sleeps on its queue's descriptor, so an idle lab
//! with delay costs no CPU (it polled every 100 µs, a tenth of a core).
//! Alone in its test binary so that the process's CPU time is the lab's.
//! Needs root; skips elsewhere with the reason (CI runs as root).

use std::time::{Duration, Instant};
use synack_lab::Impairment;

/// CPU time of this process (user + system), from /proc/self/stat.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which is in parentheses).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 here.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

#[test]
fn an_idle_delayer_uses_no_cpu() {
    let Some(mut lab) = synack_lab::testing::lab_or_skip("the delayer idle test") else {
        return;
    };
    lab.impair(Impairment::delay(Duration::from_millis(40)))
        .unwrap();
    let before = cpu_time();
    let idle = Duration::from_secs(2);
    let start = Instant::now();
    // The measured interval: nothing crosses the lab meanwhile.
    std::thread::sleep(idle);
    let used = cpu_time() - before;
    assert!(start.elapsed() >= idle);
    assert!(
        used < Duration::from_millis(60),
        "the idle delayer used {used:?} of CPU in {idle:?}"
    );
    lab.down().unwrap();
}
