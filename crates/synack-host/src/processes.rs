//! Which processes hold a socket: a walk of /proc/PID/fd links
//! (`socket:[INODE]`), as `ss -p` does. Costly with many processes and
//! descriptors, so only on request; processes that vanish or deny access
//! mid-walk are skipped.

use std::collections::{HashMap, HashSet};

/// (pid, command) of every process holding one of `inodes`.
pub fn owners(inodes: &[u32]) -> HashMap<u32, Vec<(u32, String)>> {
    let mut found: HashMap<u32, Vec<(u32, String)>> = HashMap::new();
    if inodes.is_empty() {
        return found;
    }
    // Looked up once per descriptor of every process: a set, not a scan.
    let wanted: HashSet<u32> = inodes.iter().copied().collect();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let inode = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse::<u32>().ok());
            if let Some(inode) = inode.filter(|i| wanted.contains(i)) {
                let comm = std::fs::read_to_string(entry.path().join("comm"))
                    .map(|c| c.trim().to_string())
                    .unwrap_or_default();
                let owners = found.entry(inode).or_default();
                if !owners.iter().any(|(p, _)| *p == pid) {
                    owners.push((pid, comm));
                }
            }
        }
    }
    found
}
