//! The watcher behind `watch`, the dashboard and repeated reports: each
//! sample with the rates since the one before and the alerts in force,
//! their hysteresis kept from sample to sample.

use crate::{Alert, Alerts, Rates, Snapshot, SnapshotOptions};
use std::io;

/// Samples the namespace, each time with the rates since the last sample
/// and the alerts in force.
pub struct Watcher {
    options: SnapshotOptions,
    previous: Snapshot,
    alerts: Alerts,
}

/// One refresh: the snapshot, the rates since the previous one, the alerts.
pub struct Sample {
    pub snap: Snapshot,
    pub rates: Rates,
    pub alerts: Vec<Alert>,
}

impl Watcher {
    pub fn new(options: SnapshotOptions) -> io::Result<Watcher> {
        Ok(Watcher {
            options,
            previous: Snapshot::take(options)?,
            alerts: Alerts::default(),
        })
    }

    /// The latest snapshot taken.
    pub fn current(&self) -> &Snapshot {
        &self.previous
    }

    pub fn sample(&mut self) -> io::Result<Sample> {
        let snap = Snapshot::take(self.options)?;
        let rates = Rates::between(&self.previous, &snap);
        let alerts = self.alerts.update(&snap, Some(&rates));
        self.previous = snap.clone();
        Ok(Sample {
            snap,
            rates,
            alerts,
        })
    }
}
