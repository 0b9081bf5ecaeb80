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
}

/// Health reports by module name.
#[derive(Default)]
pub struct HealthRegistry {
    map: Mutex<HashMap<String, ModuleHealth>>,
}

impl HealthRegistry {
    /// Records a report.
    pub fn report(&self, module: &str, healthy: bool, report: Option<String>) {
        let reported_at = crate::clock::unix_now().max(0) as u64;
        self.map.lock().unwrap_or_else(|p| p.into_inner()).insert(
            module.to_string(),
            ModuleHealth {
                healthy,
                report,
                reported_at,
            },
        );
    }

    /// All reports.
    pub fn snapshot(&self) -> HashMap<String, ModuleHealth> {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
