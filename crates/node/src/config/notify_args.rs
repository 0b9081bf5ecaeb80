//! The notification commands as given (`-blocknotify`, `-startupnotify`, `-shutdownnotify`,
//! `-alertnotify`); [`crate::notify`] runs them and re-exports this type.

/// The commands given (each None when not set; `-shutdownnotify` is repeatable).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyCommands {
    /// `-blocknotify`.
    pub block: Option<String>,
    /// `-startupnotify`.
    pub startup: Option<String>,
    /// `-shutdownnotify` entries.
    pub shutdown: Vec<String>,
    /// `-alertnotify`.
    pub alert: Option<String>,
}

impl NotifyCommands {
    /// Records option `name`; false when it is not a notification option.
    pub fn set(&mut self, name: &str, value: &str) -> bool {
        let v = (!value.is_empty() && value != "0").then(|| value.to_string());
        match name {
            "blocknotify" => self.block = v,
            "startupnotify" => self.startup = v,
            "alertnotify" => self.alert = v,
            "shutdownnotify" => self.shutdown.extend(v),
            _ => return false,
        }
        true
    }
}
