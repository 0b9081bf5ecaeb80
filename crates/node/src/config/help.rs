//! The `-help` text and docs/configuration.md's option table, both generated from [`OPTIONS`].

use super::settings::env_var_name;
use super::{core_args, OptKind, OptSpec, OPTIONS};

/// How an option is written: `name`, `name=<n>` or `name=<value>`.
fn form(o: &OptSpec) -> String {
    match o.kind {
        OptKind::Bool => o.name.to_string(),
        OptKind::Int => format!("{}=<n>", o.name),
        OptKind::Str => format!("{}=<value>", o.name),
    }
}

/// The `-help` text, generated from [`OPTIONS`] so it lists exactly what is accepted.
pub fn help_text() -> String {
    let mut s = String::from("Usage: blvm-node [options] [import FILE]\n\nCommands:\n  (none)        run the node until SIGINT/SIGTERM\n  import FILE   validate and connect blocks from FILE (hex lines or blk-framed), then exit\n\nOptions:\n");
    for o in OPTIONS {
        let (default, help) = (o.default, o.help);
        let form = format!("-{}", form(o));
        let def = if default.is_empty() {
            String::new()
        } else {
            format!(" (default: {default})")
        };
        s.push_str(&format!("  {form:<24} {help}{def}\n"));
    }
    s.push_str(&core_args::help_paragraph());
    s.push_str("\nOptions may also be written with two dashes (--regtest), and negated as Core's (-nolisten, -noconnect).\n");
    s.push_str(
        "\nEvery option except help, version and conf can also be set in a configuration file:\n\
         <datadir>/bitcoin.conf in Bitcoin Core's format (key=value, [main]/[test]/[testnet4]/[signet]/\n\
         [regtest] sections, includeconf=FILE), and <datadir>/blvm.toml (`dbcache = 100`, `regtest = true`,\n\
         lists for repeatable options, the same sections); -conf=FILE names one file instead (TOML when\n\
         it ends in .toml). Options can also be set as environment variables BLVM_<NAME>\n\
         (BLVM_DBCACHE=100). Precedence: command line > environment > network section > top of the\n\
         file > defaults; blvm.toml wins over bitcoin.conf.\n",
    );
    s
}

/// The options as a Markdown table (key, environment variable, default, section, networks, meaning), as in
/// docs/configuration.md.
pub fn options_markdown() -> String {
    let mut s = String::from("| key | environment | default | section | networks | meaning |\n| --- | --- | --- | --- | --- | --- |\n");
    for o in OPTIONS {
        let (name, default, help) = (o.name, o.default, o.help);
        let form = format!("`{}`", form(o));
        let env = if matches!(name, "help" | "version") {
            "-".to_string()
        } else {
            format!("`{}`", env_var_name(name))
        };
        let def = if default.is_empty() {
            "-".to_string()
        } else {
            format!("`{default}`")
        };
        let (section, networks) = (o.section.title(), o.networks.title());
        s.push_str(&format!(
            "| {form} | {env} | {def} | {section} | {networks} | {} |\n",
            help.replace('|', "\\|")
        ));
    }
    s
}
