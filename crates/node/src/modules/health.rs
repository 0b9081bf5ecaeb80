//! The last health report of each module, for HealthCheck reports and `gethealth`.

use std::collections::HashMap;
use std::sync::Mutex;

/// One module's most recent self-assessment.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModuleHealth {
    /// The module's verdict.
    pub healthy: bool,
    /// Its details (free-form or JSON).
    pub report: Option<String>,
    /// UNIX seconds of the report.
    pub reported_at: u64,
    /// Position of this report among all reports, to tell answers to a given check apart.
    #[serde(skip)]
    pub report_no: u64,
}

/// Health reports by module name.
#[derive(Default)]
pub struct HealthRegistry {
    map: Mutex<HashMap<String, ModuleHealth>>,
    reports: std::sync::atomic::AtomicU64,
}

impl HealthRegistry {
    /// Records a report.
    pub fn report(&self, module: &str, healthy: bool, report: Option<String>) {
        let reported_at = crate::clock::unix_now().max(0) as u64;
        let mut map = crate::sync::lock(&self.map);
        // Numbered under the map lock, so a report is visible as soon as its number is.
        let report_no = self.reports.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        map.insert(
            module.to_string(),
            ModuleHealth {
                healthy,
                report,
                reported_at,
                report_no,
            },
        );
    }

    /// A mark taken before asking for reports: later reports answer the request.
    pub fn mark(&self) -> u64 {
        self.reports.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Modules whose latest report came after `mark`.
    pub fn answered_since(&self, mark: u64) -> std::collections::HashSet<String> {
        let map = crate::sync::lock(&self.map);
        map.iter().filter(|(_, h)| h.report_no > mark).map(|(n, _)| n.clone()).collect()
    }

    /// All reports.
    pub fn snapshot(&self) -> HashMap<String, ModuleHealth> {
        crate::sync::lock(&self.map).clone()
    }
}
