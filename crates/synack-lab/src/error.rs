//! What can go wrong building or changing a lab, with what to do about it.

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error(
        "synack lab needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN to create network namespaces); run it with sudo"
    )]
    NotRoot,
    #[error(
        "`{program}` is missing: install the Debian package {package} (apt-get install {package})"
    )]
    Missing {
        program: &'static str,
        package: &'static str,
    },
    #[error("`{command}` failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the lab's link did not come up within {0} ms")]
    LinkDown(u64),
    #[error("{0}")]
    Usage(String),
}

impl LabError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> LabError {
        LabError::Io {
            what: what.into(),
            source,
        }
    }
}
