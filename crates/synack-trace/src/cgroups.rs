//! Cgroup ids (what `bpf_get_current_cgroup_id` returns: the inode number
//! of the cgroup's directory in the v2 hierarchy) into paths such as
//! `/system.slice/nginx.service`. The hierarchy is walked once, and again
//! for an id it does not know at most once a second; both the walk and the
//! cache are bounded.

use rustc_hash::FxHashMap as HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Directories read in one walk, at most.
const MAX_DIRS: usize = 65_536;

pub struct Cgroups {
    root: PathBuf,
    paths: HashMap<u64, String>,
    walked: Option<Instant>,
}

impl Cgroups {
    /// Paths under `root` (the cgroup2 mount, `/sys/fs/cgroup`).
    pub fn new(root: impl Into<PathBuf>) -> Cgroups {
        Cgroups {
            root: root.into(),
            paths: HashMap::default(),
            walked: None,
        }
    }

    /// The path of cgroup `id`, if the hierarchy has it.
    pub fn path(&mut self, id: u64) -> Option<&str> {
        if !self.paths.contains_key(&id)
            && self
                .walked
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            self.walk();
        }
        self.paths.get(&id).map(String::as_str)
    }

    fn walk(&mut self) {
        self.walked = Some(Instant::now());
        self.paths.clear();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            if self.paths.len() >= MAX_DIRS {
                break;
            }
            let Ok(meta) = std::fs::metadata(&dir) else {
                continue;
            };
            self.paths.insert(meta.ino(), relative(&self.root, &dir));
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(entry.path());
                }
            }
        }
    }
}

/// Where the cgroup v2 hierarchy is mounted: `/sys/fs/cgroup` on most
/// hosts, `/sys/fs/cgroup/unified` on hybrid ones (v1 controllers beside
/// it, whose directories have inode numbers of their own that could pass
/// for a v2 id).
pub fn cgroup2_root() -> PathBuf {
    std::fs::read_to_string("/proc/self/mounts")
        .ok()
        .and_then(|mounts| cgroup2_mount_in(&mounts))
        .unwrap_or_else(|| PathBuf::from("/sys/fs/cgroup"))
}

/// The first cgroup2 mount point in a mount table (`/proc/self/mounts`:
/// device, mount point, type, ...; a space in a path is written `\040`).
fn cgroup2_mount_in(mounts: &str) -> Option<PathBuf> {
    let point = mounts.lines().find_map(|line| {
        let mut fields = line.split(' ');
        let point = fields.nth(1)?;
        (fields.next()? == "cgroup2").then_some(point)
    })?;
    Some(PathBuf::from(point.replace("\\040", " ")))
}

fn relative(root: &Path, dir: &Path) -> String {
    match dir.strip_prefix(root) {
        Ok(rest) => format!("/{}", rest.display()),
        Err(_) => dir.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_directory_inodes_named_from_the_root() {
        let root = std::env::temp_dir().join(format!("synack-cgroups-{}", std::process::id()));
        let unit = root.join("system.slice").join("nginx.service");
        std::fs::create_dir_all(&unit).unwrap();
        let id = std::fs::metadata(&unit).unwrap().ino();
        let root_id = std::fs::metadata(&root).unwrap().ino();
        let mut c = Cgroups::new(&root);
        assert_eq!(c.path(id), Some("/system.slice/nginx.service"));
        assert_eq!(c.path(root_id), Some("/"));
        assert_eq!(c.path(1), None);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn cgroup_paths_start_at_the_cgroup2_mount_on_hybrid_hosts() {
        let hybrid = "tmpfs /sys/fs/cgroup tmpfs rw 0 0\n\
                      cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n\
                      cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n";
        assert_eq!(
            cgroup2_mount_in(hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let unified = "sysfs /sys sysfs rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n";
        assert_eq!(
            cgroup2_mount_in(unified),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
        assert_eq!(
            cgroup2_mount_in("none /my\\040cgroups cgroup2 rw 0 0\n"),
            Some(PathBuf::from("/my cgroups"))
        );
        assert_eq!(
            cgroup2_mount_in("cgroup /sys/fs/cgroup/cpu cgroup rw 0 0\n"),
            None
        );
    }
}
