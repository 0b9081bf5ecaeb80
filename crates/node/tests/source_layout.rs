//! The layout rules of docs/architecture.md, checked on the sources themselves: the top-level
//! modules of `crates/node/src` import each other without a cycle, no source file is over 800
//! lines and no function over 150 (test code excluded). Runs on the files in the repository.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Largest source file, in lines of non-test code.
const MAX_FILE_LINES: usize = 800;
/// Longest function, in lines from its signature to its closing brace.
const MAX_FN_LINES: usize = 150;
/// Files exempt from the file-size rule, with the reason (docs/architecture.md).
const LARGE_FILES: &[(&str, &str)] = &[(
    "crates/kernel-oracle/src/mutator.rs",
    "the differential mutator: one table of block mutations, read as one",
)];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// A source file with its `#[cfg(test)]` items removed, and the test-only files it declares.
struct Stripped {
    lines: Vec<String>,
    test_files: Vec<PathBuf>,
}

/// The line index where the item starting at `start` ends (rustfmt layout: a `;` on the item's
/// line, or the closing brace at the item's indentation).
fn item_end(lines: &[&str], start: usize) -> usize {
    let indent = lines[start].len() - lines[start].trim_start().len();
    let close = format!("{}}}", &lines[start][..indent]);
    let mut i = start;
    while i < lines.len() {
        let t = lines[i].trim_end();
        if i == start && t.ends_with(';') {
            return i;
        }
        if i > start && (t == close || t.starts_with(&format!("{close})")) || t.starts_with(&format!("{close};"))) {
            return i;
        }
        if i == start && t.ends_with('}') && t.contains('{') {
            return i;
        }
        i += 1;
    }
    lines.len() - 1
}

fn strip_tests(path: &Path, src: &str) -> Stripped {
    let lines: Vec<&str> = src.lines().collect();
    let dir = match path.file_name().and_then(|f| f.to_str()) {
        Some("mod.rs" | "lib.rs" | "main.rs") => path.parent().unwrap().to_path_buf(),
        _ => path.with_extension(""),
    };
    let parent = path.parent().unwrap();
    let mut out = Vec::new();
    let mut test_files = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() == "#[cfg(test)]" {
            let mut j = i + 1;
            let mut path_attr = None;
            while j < lines.len() && lines[j].trim_start().starts_with("#[") {
                if let Some(p) = lines[j].trim().strip_prefix("#[path = \"").and_then(|r| r.strip_suffix("\"]")) {
                    path_attr = Some(parent.join(p));
                }
                j += 1;
            }
            if j < lines.len() {
                let t = lines[j].trim();
                if let Some(name) = t.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
                    test_files.push(path_attr.unwrap_or_else(|| dir.join(format!("{name}.rs"))));
                }
                i = item_end(&lines, j) + 1;
                continue;
            }
        }
        out.push(lines[i].to_string());
        i += 1;
    }
    Stripped { lines: out, test_files }
}

/// Every non-test source file under `crates/*/src` and `modules/*/src`, stripped of test code.
fn sources() -> BTreeMap<PathBuf, Vec<String>> {
    let root = repo_root();
    let mut files = Vec::new();
    for group in ["crates", "modules"] {
        for e in std::fs::read_dir(root.join(group)).expect("source folder").flatten() {
            rust_files(&e.path().join("src"), &mut files);
        }
    }
    assert!(files.len() > 100, "source files not found under {}", root.display());
    let mut stripped = BTreeMap::new();
    let mut test_only = BTreeSet::new();
    for f in files {
        let src = std::fs::read_to_string(&f).expect("readable source");
        let s = strip_tests(&f, &src);
        test_only.extend(s.test_files.into_iter().filter_map(|p| p.canonicalize().ok()));
        stripped.insert(f.canonicalize().unwrap(), s.lines);
    }
    stripped.retain(|p, _| !test_only.contains(p));
    stripped
        .into_iter()
        .map(|(p, l)| (p.strip_prefix(&root).unwrap().to_path_buf(), l))
        .collect()
}

/// `(function name, first line, length)` of every function longer than the limit.
fn long_functions(lines: &[String]) -> Vec<(String, usize, usize)> {
    let refs: Vec<&str> = lines.iter().map(|s| s.as_str()).collect();
    let mut found = Vec::new();
    for (i, l) in refs.iter().enumerate() {
        let t = l.trim_start();
        let sig = ["pub ", "pub(crate) ", "pub(super) ", "async ", "const ", "unsafe ", "extern \"C\" "]
            .iter()
            .fold(t, |t, p| t.strip_prefix(p).unwrap_or(t));
        let sig = ["async ", "const ", "unsafe "]
            .iter()
            .fold(sig, |t, p| t.strip_prefix(p).unwrap_or(t));
        let Some(rest) = sig.strip_prefix("fn ") else { continue };
        // A declaration without a body (trait item, extern block) ends in `;` before any `{`.
        let Some(open) = (i..refs.len()).find(|&j| refs[j].trim_end().ends_with('{') || refs[j].trim_end().ends_with(';')) else {
            continue;
        };
        if refs[open].trim_end().ends_with(';') {
            continue;
        }
        let end = item_end(&refs, i);
        let len = end - i + 1;
        if len > MAX_FN_LINES {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            found.push((name, i + 1, len));
        }
    }
    found
}

#[test]
fn no_file_over_800_lines_and_no_function_over_150() {
    let mut problems = Vec::new();
    for (path, lines) in sources() {
        let shown = path.display().to_string();
        if lines.len() > MAX_FILE_LINES && !LARGE_FILES.iter().any(|(f, _)| *f == shown) {
            problems.push(format!("{shown}: {} lines of non-test code (limit {MAX_FILE_LINES})", lines.len()));
        }
        for (name, line, len) in long_functions(&lines) {
            problems.push(format!(
                "{shown}: fn {name} (stripped line {line}) is {len} lines (limit {MAX_FN_LINES})"
            ));
        }
    }
    assert!(problems.is_empty(), "layout rules broken:\n{}", problems.join("\n"));
}

/// The top-level module of the node crate a `crate::` path names.
fn imports(lines: &[String]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for l in lines {
        let code = l.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let before_ok = at == 0 || !rest[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_');
            let tail = &rest[at + "crate::".len()..];
            let name: String = tail.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if before_ok && !name.is_empty() {
                found.insert(name);
            }
            rest = tail;
        }
    }
    found
}

/// Strongly connected components of more than one module (the import cycles).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_string()];
        while let Some(n) = stack.pop() {
            for m in graph.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    stack.push(m.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&String, BTreeSet<String>> = graph.keys().map(|k| (k, reach(k))).collect();
    let mut out: Vec<Vec<String>> = Vec::new();
    for k in graph.keys() {
        let mut scc: Vec<String> = graph
            .keys()
            .filter(|m| m != &k && reachable[k].contains(*m) && reachable[*m].contains(k))
            .cloned()
            .collect();
        if scc.is_empty() {
            continue;
        }
        scc.push(k.clone());
        scc.sort();
        if !out.contains(&scc) {
            out.push(scc);
        }
    }
    out
}

#[test]
fn top_level_modules_of_the_node_crate_import_no_cycle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, lines) in sources() {
        let Ok(rel) = path.strip_prefix("crates/node/src") else { continue };
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy().to_string();
        let top = first.trim_end_matches(".rs").to_string();
        if top == "main" || top == "lib" {
            continue;
        }
        let deps = graph.entry(top.clone()).or_default();
        deps.extend(imports(&lines).into_iter().filter(|d| *d != top));
    }
    assert!(graph.len() > 10, "node modules not found");
    let found = cycles(&graph);
    assert!(
        found.is_empty(),
        "import cycles between top-level modules of crates/node/src: {found:?}\ngraph: {graph:#?}"
    );
}

#[test]
fn the_checks_see_what_they_check() {
    // The checkers themselves: a long function and a cycle are found, test code is not counted.
    let long: Vec<String> = std::iter::once("fn big() {".to_string())
        .chain((0..MAX_FN_LINES).map(|i| format!("    let _x{i} = {i};")))
        .chain(std::iter::once("}".to_string()))
        .collect();
    assert_eq!(long_functions(&long).len(), 1);
    let src = "fn a() {}\n#[cfg(test)]\nmod tests {\n    fn t() {}\n}\n#[cfg(test)]\n#[path = \"x_tests.rs\"]\nmod more;\n";
    let s = strip_tests(Path::new("/r/p/a.rs"), src);
    assert_eq!(s.lines, vec!["fn a() {}".to_string()]);
    assert_eq!(s.test_files, vec![PathBuf::from("/r/p/x_tests.rs")]);
    let g: BTreeMap<String, BTreeSet<String>> = [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]
        .iter()
        .map(|(x, y)| (x.to_string(), BTreeSet::from([y.to_string()])))
        .collect();
    assert_eq!(cycles(&g), vec![vec!["a".to_string(), "b".to_string(), "c".to_string()]]);
}
