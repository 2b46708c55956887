//! Capture inside the lab: every frame on one side's veth, both directions,
//! written as pcapng with synack's own writer, so that `synack analyze`
//! tests get real kernel handshakes whose ground truth the lab injected.
//! Timestamps are taken in user space when each frame is read (a few µs
//! after the kernel saw it).

use crate::error::LabError;
use crate::netns::Netns;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};
use synack_capture::{LinkType, PcapNgWriter};

/// A running capture; [`Capture::stop`] ends it and says how many frames it wrote.
pub struct Capture {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<io::Result<io::Result<u64>>>>,
    path: PathBuf,
}

impl Capture {
    pub(crate) fn start(
        ns: &Netns,
        ifname: &'static str,
        path: &Path,
    ) -> Result<Capture, LabError> {
        let file = std::fs::File::create(path)
            .map_err(|e| LabError::io(format!("creating {}", path.display()), e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<()>>();
        let handle = ns.spawn(move || -> io::Result<u64> {
            let link = match synack_capture::live::RawLink::open_capture(
                ifname,
                Duration::from_millis(20),
            ) {
                Ok(l) => {
                    let _ = ready_tx.send(Ok(()));
                    l
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                    return Err(e);
                }
            };
            let mut w = PcapNgWriter::new(
                BufWriter::new(file),
                LinkType::ETHERNET,
                65_535,
                "synack lab",
            )?;
            let mut buf = vec![0u8; 65_536];
            let mut frames = 0u64;
            loop {
                match link.recv(&mut buf)? {
                    Some(n) => {
                        let ts = synack_core::time::unix_ns(SystemTime::now());
                        w.write(ts, &buf[..n])?;
                        frames += 1;
                    }
                    // Stop only once the socket is drained.
                    None if flag.load(Ordering::SeqCst) => break,
                    None => {}
                }
            }
            std::io::Write::flush(&mut w.into_inner())?;
            Ok(frames)
        });
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Capture {
                stop,
                handle: Some(handle),
                path: path.to_path_buf(),
            }),
            Ok(Err(e)) => Err(LabError::io("opening the AF_PACKET capture socket", e)),
            Err(_) => Err(LabError::io(
                "starting the capture",
                io::Error::other("thread ended early"),
            )),
        }
    }

    /// Stops capturing (after the frames already queued) and returns how
    /// many frames were written.
    pub fn stop(mut self) -> Result<u64, LabError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<u64, LabError> {
        self.stop.store(true, Ordering::SeqCst);
        let Some(h) = self.handle.take() else {
            return Ok(0);
        };
        let what = format!("capturing to {}", self.path.display());
        match h.join() {
            Ok(Ok(Ok(n))) => Ok(n),
            Ok(Ok(Err(e))) | Ok(Err(e)) => Err(LabError::io(what, e)),
            Err(_) => Err(LabError::io(
                what,
                io::Error::other("capture thread panicked"),
            )),
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}
