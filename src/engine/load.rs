//! Loading rule directories: strict, located errors, all-or-nothing.
//!
//! Directories load in order (the shipped `rules/` first, then a deployment's
//! own). A file holds either a whole rule (`id:`) or an override of one loaded
//! before it (`override: <id>`), which may change `severity`, `enabled`,
//! `controls`, `remediation`, `references` and any of the `params`, without
//! editing the shipped file.
//! Files ending in `.test.yaml` are rule tests, not rules.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::kind::{Kind, ParamsMaker, ParamsOp};
use super::kinds::RuleKind;
use super::rule::{Control, Rule, Scope};
use crate::model::Severity;
use crate::yaml::{self, LocatedError, LocatedErrors};

/// The rules loaded from a set of directories, in id order.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
}

impl RuleSet {
    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    pub fn enabled(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().filter(|r| r.enabled)
    }
}

/// Is this a rule (or override) file, rather than a rule test or something else?
pub fn is_rule_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    (name.ends_with(".yaml") || name.ends_with(".yml")) && !is_test_file(path)
}

/// Is this a rule test file?
pub fn is_test_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".test.yaml") || name.ends_with(".test.yml")
}

/// The shipped rules and rule tests, embedded at build time from `rules/`.
pub mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));
}

/// A YAML file to load: where it is (for messages) and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

/// The embedded files that `keep` accepts.
pub fn builtin_files(keep: fn(&Path) -> bool) -> Vec<SourceFile> {
    builtin::BUILTIN
        .iter()
        .filter(|(path, _)| keep(Path::new(path)))
        .map(|(path, text)| SourceFile {
            path: PathBuf::from(path),
            text: text.to_string(),
        })
        .collect()
}

/// The files of `paths` that `keep` accepts (directories are listed and
/// sorted; files are taken as given), read.
pub fn read_files(
    paths: &[PathBuf],
    keep: fn(&Path) -> bool,
) -> Result<Vec<SourceFile>, LocatedErrors> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|e| io_error(path, &e))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && keep(p))
                .collect();
            found.sort();
            files.extend(found);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(io_error(
                path,
                &std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        }
    }
    files
        .into_iter()
        .map(|path| match std::fs::read_to_string(&path) {
            Ok(text) => Ok(SourceFile { path, text }),
            Err(e) => Err(io_error(&path, &e)),
        })
        .collect()
}

fn io_error(path: &Path, e: &std::io::Error) -> LocatedErrors {
    LocatedErrors::unreadable(path, "the file", e)
}

/// Loads the shipped rules (when `with_builtin`), then every rule and
/// override file under `paths`, in order.
pub fn load(paths: &[PathBuf], with_builtin: bool) -> Result<RuleSet, LocatedErrors> {
    load_sources(&layered(paths, with_builtin, is_rule_file)?)
}

/// The shipped files (when `with_builtin`) followed by those under `paths`.
/// A file on disk with the same name as a shipped one replaces it, as a unit
/// in /etc/systemd replaces its namesake in /usr/lib: this is also how the
/// shipped rules themselves are edited and checked (`rules validate rules/`).
pub fn layered(
    paths: &[PathBuf],
    with_builtin: bool,
    keep: fn(&Path) -> bool,
) -> Result<Vec<SourceFile>, LocatedErrors> {
    let on_disk = read_files(paths, keep)?;
    let mut files = if with_builtin {
        builtin_files(keep)
    } else {
        Vec::new()
    };
    files.retain(|shipped| {
        !on_disk
            .iter()
            .any(|f| f.path.file_name() == shipped.path.file_name())
    });
    files.extend(on_disk);
    Ok(files)
}

/// Loads rules and overrides from files already read.
pub fn load_sources(files: &[SourceFile]) -> Result<RuleSet, LocatedErrors> {
    let mut errors = Vec::new();
    let mut rules: BTreeMap<String, Rule> = BTreeMap::new();
    let mut overrides = Vec::new();

    for SourceFile {
        path: file,
        text: source,
    } in files
    {
        match classify(file, source) {
            Ok(FileKind::Rule) => match load_rule(file, source) {
                Ok(rule) => match rules.get(&rule.id) {
                    Some(first) => errors.push(LocatedError::at_field(
                        file,
                        source,
                        "id",
                        format!(
                            "duplicate rule id `{}` (first defined in {})",
                            rule.id,
                            first.sources[0].display()
                        ),
                    )),
                    None => {
                        rules.insert(rule.id.clone(), rule);
                    }
                },
                Err(e) => errors.push(e),
            },
            Ok(FileKind::Override) => overrides.push((file, source)),
            Err(e) => errors.push(e),
        }
    }

    for (file, source) in overrides {
        if let Err(e) = apply_override(file, source, &mut rules) {
            errors.push(e);
        }
    }

    if errors.is_empty() {
        Ok(RuleSet {
            rules: rules.into_values().collect(),
        })
    } else {
        Err(LocatedErrors(errors))
    }
}

/// A copy of `rule` with some params replaced (a rule test's `params:`),
/// checked like an override.
pub fn with_params(
    rule: &Rule,
    params: &serde_json::Map<String, serde_json::Value>,
) -> Result<Rule, String> {
    let kind = rule.kind.map(&MergeParams(params))?;
    kind.check()
        .map_err(|(field, message)| format!("params.{field}: {message}"))?;
    Ok(Rule {
        kind,
        ..rule.clone()
    })
}

enum FileKind {
    Rule,
    Override,
}

#[derive(Deserialize)]
struct Probe {
    id: Option<IgnoredAny>,
    #[serde(rename = "override")]
    target: Option<IgnoredAny>,
}

fn classify(file: &Path, source: &str) -> Result<FileKind, LocatedError> {
    let probe: Probe = yaml::parse(file, source)?;
    match (probe.id.is_some(), probe.target.is_some()) {
        (true, false) => Ok(FileKind::Rule),
        (false, true) => Ok(FileKind::Override),
        (true, true) => Err(LocatedError::at_field(
            file,
            source,
            "override",
            "a file is either a rule (`id:`) or an override (`override:`), not both",
        )),
        (false, false) => Err(LocatedError {
            file: file.to_path_buf(),
            line: 1,
            column: 1,
            field: "id".into(),
            message: "missing field `id` (or `override:` naming the rule to change)".into(),
        }),
    }
}

/// A rule file, with the params of its kind.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDoc<P> {
    id: Spanned<String>,
    title: String,
    #[serde(default)]
    description: String,
    severity: Severity,
    #[serde(default)]
    controls: Vec<Control>,
    #[serde(default)]
    remediation: String,
    #[serde(default)]
    references: Vec<String>,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    scope: Scope,
    kind: Spanned<String>,
    params: Option<P>,
}

fn yes() -> bool {
    true
}

/// An override file, with the params of its target's kind.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideDoc<P> {
    #[serde(rename = "override")]
    target: Spanned<String>,
    severity: Option<Severity>,
    enabled: Option<bool>,
    controls: Option<Vec<Control>>,
    remediation: Option<String>,
    references: Option<Vec<String>>,
    scope: Option<Scope>,
    params: Option<P>,
}

fn load_rule(file: &Path, source: &str) -> Result<Rule, LocatedError> {
    // First pass: the fields every rule has, and which kind it is.
    let head: RuleDoc<IgnoredAny> = yaml::parse(file, source)?;
    let id = head.id.value.clone();
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(LocatedError::at_value(
            file,
            &head.id,
            "id",
            format!("rule id `{id}` must be lower-case letters, digits and `-`"),
        ));
    }
    // Second pass: the params, typed by the kind, so errors point into them.
    let kind =
        RuleKind::make(&head.kind.value, &FromRuleFile { file, source }).unwrap_or_else(|| {
            let kinds: Vec<String> = RuleKind::NAMES.iter().map(|n| format!("`{n}`")).collect();
            Err(LocatedError::at_value(
                file,
                &head.kind,
                "kind",
                format!(
                    "unknown variant `{}`, expected one of {}",
                    head.kind.value,
                    kinds.join(", ")
                ),
            ))
        })?;
    kind.check().map_err(|(field, message)| {
        LocatedError::at_field(file, source, &format!("params.{field}"), message)
    })?;
    head.scope
        .check()
        .map_err(|message| LocatedError::at_field(file, source, "scope.applications", message))?;
    Ok(Rule {
        id,
        title: head.title,
        description: head.description,
        severity: head.severity,
        controls: head.controls,
        remediation: head.remediation.trim().to_string(),
        references: head.references,
        enabled: head.enabled,
        scope: head.scope,
        kind,
        sources: vec![file.to_path_buf()],
    })
}

/// Makes a kind's params from a rule file: its `params:` read as that
/// kind's type (so an error points into them), or the kind's defaults.
struct FromRuleFile<'a> {
    file: &'a Path,
    source: &'a str,
}

impl ParamsMaker for FromRuleFile<'_> {
    type Error = LocatedError;
    fn make<K: Kind>(&self) -> Result<K, LocatedError> {
        let doc: RuleDoc<K> = yaml::parse(self.file, self.source)?;
        match doc.params {
            Some(params) => Ok(params),
            None => K::defaults()
                .map_err(|message| LocatedError::at_field(self.file, self.source, "kind", message)),
        }
    }
}

/// An override file's params merged onto a rule's.
struct FromOverride<'a> {
    file: &'a Path,
    source: &'a str,
}

impl ParamsOp for FromOverride<'_> {
    type Error = LocatedError;
    fn apply<K: Kind>(&self, base: &K) -> Result<K, LocatedError> {
        merge(self.file, self.source, base, K::PARAM_ALIASES)
    }
}

/// A rule test's `params:` merged onto a rule's.
struct MergeParams<'a>(&'a serde_json::Map<String, serde_json::Value>);

impl ParamsOp for MergeParams<'_> {
    type Error = String;
    fn apply<K: Kind>(&self, base: &K) -> Result<K, String> {
        merge_params(base, self.0, K::PARAM_ALIASES)
    }
}

fn apply_override(
    file: &Path,
    source: &str,
    rules: &mut BTreeMap<String, Rule>,
) -> Result<(), LocatedError> {
    let head: OverrideDoc<IgnoredAny> = yaml::parse(file, source)?;
    let target = head.target.value.clone();
    let Some(rule) = rules.get_mut(&target) else {
        return Err(LocatedError::at_value(
            file,
            &head.target,
            "override",
            format!("no rule `{target}` is loaded before this override"),
        ));
    };
    let located = |field: &str, message: String| {
        LocatedError::at_field(file, source, &format!("params.{field}"), message)
    };
    let kind = rule.kind.map(&FromOverride { file, source })?;
    kind.check()
        .map_err(|(field, message)| located(&field, message))?;
    rule.kind = kind;
    if let Some(severity) = head.severity {
        rule.severity = severity;
    }
    if let Some(enabled) = head.enabled {
        rule.enabled = enabled;
    }
    if let Some(controls) = head.controls {
        rule.controls = controls;
    }
    if let Some(remediation) = head.remediation {
        rule.remediation = remediation.trim().to_string();
    }
    if let Some(references) = head.references {
        rule.references = references;
    }
    if let Some(scope) = head.scope {
        scope.check().map_err(|message| {
            LocatedError::at_field(file, source, "scope.applications", message)
        })?;
        rule.scope = scope;
    }
    rule.sources.push(file.to_path_buf());
    Ok(())
}

/// Applies the params an override sets onto `base`, key by key. The override's
/// params are first checked alone against the kind's type, so that an unknown
/// field or a bad value is reported at its place in the override file.
fn merge<P>(
    file: &Path,
    source: &str,
    base: &P,
    aliases: &[(&str, &str)],
) -> Result<P, LocatedError>
where
    P: Serialize + DeserializeOwned,
{
    let _checked: OverrideDoc<PartialCheck<P>> = yaml::parse(file, source)?;
    let doc: OverrideDoc<serde_json::Map<String, serde_json::Value>> = yaml::parse(file, source)?;
    merge_params(base, &doc.params.unwrap_or_default(), aliases)
        .map_err(|message| LocatedError::at_field(file, source, "params", message))
}

/// `base` with the keys of `params` replaced; a key under a parameter's
/// former name (`aliases`: former, current) replaces the current one.
fn merge_params<P: Serialize + DeserializeOwned>(
    base: &P,
    params: &serde_json::Map<String, serde_json::Value>,
    aliases: &[(&str, &str)],
) -> Result<P, String> {
    let mut merged = match serde_json::to_value(base) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    for (former, current) in aliases {
        if params.contains_key(*former) {
            merged.remove(*current);
        }
    }
    merged.extend(params.clone());
    serde_json::from_value(serde_json::Value::Object(merged)).map_err(|e| e.to_string())
}

/// Deserializes an override's partial params through `P` itself: the params
/// structs default every missing field, so a partial map type-checks exactly.
struct PartialCheck<P>(std::marker::PhantomData<P>);

impl<'de, P: DeserializeOwned> Deserialize<'de> for PartialCheck<P> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        P::deserialize(d).map(|_| PartialCheck(std::marker::PhantomData))
    }
}
