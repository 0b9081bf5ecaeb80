//! Loading the configuration: the command line, `BLVM_<NAME>` environment variables and the
//! configuration files, merged by precedence and handed to [`super::parse_args`].

use super::files::{core_conf_settings, file_settings};
use super::settings::{
    attribute, canonical, env_var_name, group_of, highest, is_repeatable, Setting, Source, COMBINED_LISTS, CONFIG_SECTIONS, NETWORK_ONLY,
};
use super::{bitcoin_conf, default_datadir, parse_args, Command, ConfigError, NodeConfig, OPTIONS};
use bitcoin::Network;
use std::path::{Path, PathBuf};

/// Splits `-name=value` (any number of leading dashes) into the name and the value.
pub(super) fn split_arg(arg: &str) -> (String, Option<String>) {
    let body = arg.trim_start_matches('-');
    match body.split_once('=') {
        Some((n, v)) => (n.to_string(), Some(v.to_string())),
        None => (body.to_string(), None),
    }
}

/// The command line's options as settings (layer 3) and its positional arguments.
fn command_line_settings(args: &[String]) -> (Vec<Setting>, Vec<String>) {
    let mut positional = Vec::new();
    let mut settings = Vec::new();
    for arg in args {
        if !arg.starts_with('-') || arg == "-" {
            positional.push(arg.clone());
            continue;
        }
        let (name, value) = split_arg(arg);
        settings.push(Setting {
            name,
            value,
            source: Source::CommandLine,
            layer: 3,
        });
    }
    (settings, positional)
}

/// Appends the `BLVM_<NAME>` environment variables as settings (layer 2).
fn env_settings(env: &dyn Fn(&str) -> Option<String>, settings: &mut Vec<Setting>) {
    for o in OPTIONS {
        let name = o.name;
        if matches!(name, "help" | "version") {
            continue;
        }
        let var = env_var_name(name);
        let Some(val) = env(&var).filter(|v| !v.is_empty()) else { continue };
        let values: Vec<String> = if is_repeatable(name) {
            val.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
        } else {
            vec![val]
        };
        for v in values {
            settings.push(Setting {
                name: name.to_string(),
                value: Some(v),
                source: Source::Env(var.clone()),
                layer: 2,
            });
        }
    }
}

/// What the configuration files hold: every entry (tagged with its network section), the top
/// level of `bitcoin.conf` (for Core's network-only rule), the files read and their warnings.
#[derive(Default)]
struct FileSettings {
    entries: Vec<(Option<String>, Setting)>,
    core_top_level: Vec<Setting>,
    files: Vec<PathBuf>,
    warnings: Vec<String>,
}

/// Reads the configuration files `-conf` names, or `<datadir>/bitcoin.conf` and
/// `<datadir>/blvm.toml` when present.
fn read_config_files(settings: &[Setting]) -> Result<FileSettings, ConfigError> {
    let datadir = highest(settings, "datadir").map(PathBuf::from).unwrap_or_else(default_datadir);
    if settings.iter().any(|s| s.name == "includeconf") {
        return Err(ConfigError::Core(
            "-includeconf cannot be used from commandline; -includeconf=<file> goes in the configuration file".into(),
        ));
    }
    // -conf names Core's bitcoin.conf, or blvm's TOML file when it ends in .toml; without -conf
    // both <datadir>/bitcoin.conf and <datadir>/blvm.toml are read when present (TOML last, so
    // it wins over bitcoin.conf for single-valued options).
    let explicit = highest(settings, "conf").map(|p| {
        if Path::new(&p).is_relative() {
            datadir.join(p)
        } else {
            PathBuf::from(p)
        }
    });
    let (core_conf, toml_conf) = match &explicit {
        Some(p) if p.extension().is_some_and(|e| e == "toml") => (None, Some(p.clone())),
        Some(p) => (Some(p.clone()), None),
        None => (Some(datadir.join("bitcoin.conf")), Some(datadir.join("blvm.toml"))),
    };
    let mut out = FileSettings::default();
    if let Some(path) = core_conf.filter(|p| explicit.is_some() || p.exists()) {
        if explicit.is_some() && !path.exists() {
            return Err(ConfigError::File {
                path: path.display().to_string(),
                message: "cannot read it: No such file or directory".into(),
            });
        }
        let lines = bitcoin_conf::read_with_includes(&path, &datadir, &mut out.warnings)?;
        out.entries.extend(core_conf_settings(lines, &mut out.warnings)?);
        out.core_top_level = out.entries.iter().filter(|(s, _)| s.is_none()).map(|(_, s)| s.clone()).collect();
        out.files.push(path);
    }
    if let Some(conf_path) = toml_conf {
        match std::fs::read_to_string(&conf_path) {
            Ok(text) => {
                out.entries.extend(file_settings(&conf_path, &text)?);
                out.files.push(conf_path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {}
            Err(e) => {
                return Err(ConfigError::File {
                    path: conf_path.display().to_string(),
                    message: format!("cannot read it: {e}"),
                })
            }
        }
    }
    Ok(out)
}

/// The network the settings choose; it decides which file section applies, so it is chosen
/// first, as one group.
fn chosen_network(settings: &[Setting]) -> Result<Network, ConfigError> {
    Ok(
        match settings.iter().filter(|s| group_of(&s.name) == "<network>").map(|s| s.layer).max() {
            Some(layer) => {
                let chosen: Vec<Setting> = settings
                    .iter()
                    .filter(|s| s.layer == layer && group_of(&s.name) == "<network>")
                    .cloned()
                    .collect();
                parse_args(chosen.iter().map(Setting::arg))
                    .map_err(|e| attribute(e, &chosen))?
                    .0
                    .network
            }
            None => parse_args(Vec::<String>::new())?.0.network,
        },
    )
}

/// Core's rule for network-only options (`-port`, `-bind`, ...) at the top of `bitcoin.conf`:
/// they apply to mainnet only, and are an error on another network unless the command line or
/// the network's section sets them. Drops them from `settings`.
fn apply_network_only(
    settings: &mut Vec<Setting>,
    core_top_level: &[Setting],
    in_section: &[Setting],
    section_name: &str,
) -> Result<(), ConfigError> {
    for s in core_top_level
        .iter()
        .filter(|s| NETWORK_ONLY.contains(&canonical(&s.name).as_str()))
    {
        let c = canonical(&s.name);
        let overridden =
            settings.iter().any(|o| o.layer >= 2 && canonical(&o.name) == c) || in_section.iter().any(|o| canonical(&o.name) == c);
        if !overridden {
            return Err(ConfigError::Core(format!(
                "Config setting for -{c} only applied on {section_name} network when in [{section_name}] section."
            )));
        }
    }
    settings.retain(|s| {
        !(NETWORK_ONLY.contains(&canonical(&s.name).as_str()) && core_top_level.iter().any(|t| t.source == s.source && t.name == s.name))
    });
    Ok(())
}

/// The settings that win: for each group, those of its highest layer (all layers for the
/// combined lists), lowest layer first.
fn winning(settings: Vec<Setting>) -> Vec<Setting> {
    let mut winner: std::collections::HashMap<String, u8> = std::collections::HashMap::new();
    for s in &settings {
        let w = winner.entry(group_of(&s.name)).or_insert(s.layer);
        *w = (*w).max(s.layer);
    }
    let mut chosen: Vec<Setting> = settings
        .into_iter()
        .filter(|s| winner.get(&group_of(&s.name)) == Some(&s.layer) || COMBINED_LISTS.contains(&canonical(&s.name).as_str()))
        .collect();
    chosen.sort_by_key(|s| s.layer);
    chosen
}

/// Parses the command line, `BLVM_<NAME>` environment variables (`env` looks them up; empty
/// values count as unset; repeatable options take comma-separated lists) and the configuration
/// file (`-conf`, default `<datadir>/blvm.toml`; its `[main]`, `[test]`, `[testnet4]`, `[signet]`
/// and `[regtest]` sections apply to that network only). Precedence, highest first: command line,
/// environment, file section, file top level, defaults; the highest source that sets an option
/// wins, for repeatable options with all its values. `-help` and `-version` read neither file nor
/// environment.
pub fn load_config<I: IntoIterator<Item = String>>(
    args: I,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(NodeConfig, Command), ConfigError> {
    let args: Vec<String> = args.into_iter().collect();
    let (mut settings, positional) = command_line_settings(&args);
    if settings.iter().any(|s| matches!(group_of(&s.name).as_str(), "help" | "version")) {
        return parse_args(args);
    }
    env_settings(env, &mut settings);
    let files = read_config_files(&settings)?;
    let mut sections: Vec<(String, Setting)> = Vec::new();
    for (section, s) in files.entries {
        match section {
            Some(sec) => sections.push((sec, s)),
            None => settings.push(s),
        }
    }
    let network = chosen_network(&settings)?;
    let section_name = CONFIG_SECTIONS.iter().find(|s| s.1 == network).map(|s| s.0).unwrap_or("main");
    let in_section: Vec<Setting> = sections
        .into_iter()
        .filter(|(sec, _)| sec == section_name)
        .map(|(_, s)| s)
        .collect();
    // blvm's default network is regtest, not Core's mainnet: when no network was chosen anywhere,
    // the top of the file is taken to be written for the default network.
    let network_chosen = settings.iter().any(|s| group_of(&s.name) == "<network>");
    if network != Network::Bitcoin && network_chosen {
        apply_network_only(&mut settings, &files.core_top_level, &in_section, section_name)?;
    }
    settings.extend(in_section);
    let chosen = winning(settings);
    let (mut cfg, command) = parse_args(chosen.iter().map(Setting::arg).chain(positional)).map_err(|e| attribute(e, &chosen))?;
    cfg.config_files = files.files;
    cfg.warnings = files.warnings;
    Ok((cfg, command))
}
