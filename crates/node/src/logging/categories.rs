//! Which debug categories are on: the state `-debug`/`-debugexclude` start with, the `logging`
//! RPC changes, and the tracing filter directives that follow from it.

use crate::config::{active_debug, logopts_targets, BLVM_CATEGORIES, CORE_DEBUG_CATEGORIES};
use std::collections::BTreeSet;

/// The crates whose logs "every category" turns up (dependencies stay at info).
const OUR_CRATES: &[&str] = &["blvm", "blvm_node", "blvm_module"];

/// Every category name a user can give: Core's, then blvm's own that Core does not have.
pub fn names() -> impl Iterator<Item = &'static str> {
    let core = CORE_DEBUG_CATEGORIES.iter().map(|(c, _)| *c);
    let own = BLVM_CATEGORIES
        .iter()
        .copied()
        .filter(|c| !CORE_DEBUG_CATEGORIES.iter().any(|(k, _)| k == c));
    core.chain(own)
}

/// The enabled debug categories, as Core keeps its category mask.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Categories {
    /// `1`/`all` was given (and not cleared): every log line of blvm's crates at debug, even
    /// those outside any category, except the categories disabled since.
    everything: bool,
    /// Enabled category names (Core's or blvm's).
    on: BTreeSet<&'static str>,
}

/// A category name no one knows (Core: "unknown logging category").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown logging category {0}")]
pub struct UnknownCategory(pub String);

fn known(name: &str) -> Result<&'static str, UnknownCategory> {
    names().find(|n| *n == name).ok_or_else(|| UnknownCategory(name.to_string()))
}

impl Categories {
    /// The state `-debug` (values before the last `0`/`none` disregarded) and `-debugexclude`
    /// give; unknown names must have been refused by the option parser.
    pub fn from_args(debug: &[String], exclude: &[String]) -> Self {
        let mut c = Categories::default();
        for d in active_debug(debug) {
            let _ = c.enable(d);
        }
        for d in exclude {
            let _ = c.disable(d);
        }
        c
    }

    /// Turns a category on (`1`/`all`: every one).
    pub fn enable(&mut self, name: &str) -> Result<(), UnknownCategory> {
        if name == "1" || name == "all" {
            self.everything = true;
            self.on = names().collect();
        } else {
            self.on.insert(known(name)?);
        }
        Ok(())
    }

    /// Turns a category off (`1`/`all`: every one, including lines outside any category).
    pub fn disable(&mut self, name: &str) -> Result<(), UnknownCategory> {
        if name == "1" || name == "all" {
            *self = Categories::default();
        } else {
            self.on.remove(known(name)?);
        }
        Ok(())
    }

    /// Whether a category is on.
    pub fn is_on(&self, name: &str) -> bool {
        self.on.contains(name)
    }

    /// The tracing filter: enabled categories at the global `-loglevel` (debug unless given)
    /// or at their own `<category>:<level>`; a blvm log target is on when any enabled category
    /// covers it.
    pub fn directives(&self, levels: &[String]) -> String {
        let global = levels.iter().rfind(|l| !l.contains(':')).map(String::as_str).unwrap_or("debug");
        let covers = |name: &str, target: &str| logopts_targets(name).is_some_and(|t| t.contains(&target));
        let level_of = |target: &str| {
            levels
                .iter()
                .filter_map(|l| l.split_once(':'))
                .filter(|(c, _)| covers(c, target))
                .map(|(_, l)| l)
                .next_back()
                .unwrap_or(global)
        };
        let mut filter = String::from("info");
        let push = |filter: &mut String, target: &str, level: &str| {
            filter.push_str(&format!(",blvm::{target}={level},blvm_node::{target}={level}"))
        };
        if self.everything {
            for c in OUR_CRATES {
                filter.push_str(&format!(",{c}={global}"));
            }
        }
        for target in BLVM_CATEGORIES {
            let enabled = self.on.iter().any(|n| covers(n, target));
            if enabled && (!self.everything || level_of(target) != global) {
                push(&mut filter, target, level_of(target));
            } else if !enabled && self.everything {
                push(&mut filter, target, "info");
            }
        }
        filter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(d: &[&str], x: &[&str], l: &[&str]) -> String {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Categories::from_args(&v(d), &v(x)).directives(&v(l))
    }

    #[test]
    fn debug_categories_become_directives() {
        assert_eq!(f(&[], &[], &[]), "info");
        assert_eq!(f(&["net"], &[], &[]), "info,blvm::net=debug,blvm_node::net=debug");
        assert_eq!(
            f(&["modules", "all"], &[], &[]),
            "info,blvm=debug,blvm_node=debug,blvm_module=debug"
        );
        assert_eq!(f(&["1", "none", "rpc"], &[], &[]), "info,blvm::rpc=debug,blvm_node::rpc=debug");
        // Core's names map onto blvm's categories; levels apply per category.
        assert_eq!(f(&["coindb"], &[], &["trace"]), "info,blvm::store=trace,blvm_node::store=trace");
        // Excluding leveldb leaves store on: coindb, prune and blockstorage still cover it.
        assert_eq!(
            f(&["1"], &["leveldb"], &["net:trace"]),
            "info,blvm=debug,blvm_node=debug,blvm_module=debug,blvm::net=trace,blvm_node::net=trace"
        );
        // Excluding every category that covers a target turns it down.
        assert_eq!(
            f(&["1"], &["zmq"], &[]),
            "info,blvm=debug,blvm_node=debug,blvm_module=debug,blvm::zmq=info,blvm_node::zmq=info"
        );
    }

    #[test]
    fn enable_and_disable_as_the_logging_rpc() {
        let mut c = Categories::default();
        c.enable("net").unwrap();
        assert!(c.is_on("net") && !c.is_on("http"));
        assert_eq!(c.enable("abc"), Err(UnknownCategory("abc".into())));
        c.enable("all").unwrap();
        assert!(names().all(|n| c.is_on(n)));
        c.disable("http").unwrap();
        assert!(!c.is_on("http") && c.is_on("rpc"));
        c.disable("1").unwrap();
        assert_eq!(c, Categories::default());
        assert!(names().any(|n| n == "chain") && names().filter(|n| *n == "net").count() == 1);
    }
}
