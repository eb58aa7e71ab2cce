//! The report templates: handlebars, strict mode, registered by name.
//!
//! The shipped templates (`report-templates/*.hbs`) are embedded in the
//! binary; a deployment's directory (`templates:` in the config) overrides any
//! of them by file name and may add its own. A file `NAME.html.hbs` is the HTML
//! form of template NAME, `NAME.txt.hbs` its plain-text form; names starting
//! with `_` are partials shared by the templates of the same form.
//!
//! HTML and text are two registries: the HTML one escapes every value
//! (handlebars' default), the text one escapes nothing and is only ever used
//! for the text/plain part, so no data reaches HTML unescaped. A deployment's
//! set is compiled and test-rendered with a sample report when loaded, so a broken
//! set (a syntax error, a missing variable, a template without its text or
//! HTML form) is refused as a whole: the daemon keeps its previous set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use handlebars::{Context, Handlebars};

/// The shipped templates, by file name.
const SHIPPED: &[(&str, &str)] = &[
    (
        "monthly.html.hbs",
        include_str!("../../report-templates/monthly.html.hbs"),
    ),
    (
        "monthly.txt.hbs",
        include_str!("../../report-templates/monthly.txt.hbs"),
    ),
    (
        "alert.html.hbs",
        include_str!("../../report-templates/alert.html.hbs"),
    ),
    (
        "alert.txt.hbs",
        include_str!("../../report-templates/alert.txt.hbs"),
    ),
    (
        "_findings.html.hbs",
        include_str!("../../report-templates/_findings.html.hbs"),
    ),
    (
        "_findings.txt.hbs",
        include_str!("../../report-templates/_findings.txt.hbs"),
    ),
    (
        "_proof.html.hbs",
        include_str!("../../report-templates/_proof.html.hbs"),
    ),
    (
        "_proof.txt.hbs",
        include_str!("../../report-templates/_proof.txt.hbs"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read templates in {dir}: {source}")]
    Read {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("template {file}: {message}")]
    Invalid { file: String, message: String },
    #[error("template `{0}` has no {1} form (expected {0}.{1}.hbs)")]
    MissingForm(String, &'static str),
    #[error("no template `{0}`; loaded: {1}")]
    Unknown(String, String),
    #[error("rendering template `{name}` ({form}): {message}")]
    Render {
        name: String,
        form: &'static str,
        message: String,
    },
}

/// A checked set of templates.
///
/// A deployment's own directory is compiled and test-rendered when loaded,
/// so that every command refuses a broken set as the daemon would. The
/// shipped set alone cannot be broken (the tests render it), so it is
/// compiled on first use: handlebars takes ~15 ms to compile it (it works
/// out a line and column for every element), a third of a small `run`'s
/// start-up, and a `run` renders nothing.
pub struct Templates {
    /// Template names (not partials) and where each came from.
    names: BTreeMap<String, String>,
    /// The template files (file name → (source, origin)), kept until compiled.
    files: BTreeMap<String, (String, String)>,
    /// The compiled set, or the file that did not compile and why.
    compiled: OnceLock<Result<Compiled, (String, String)>>,
}

/// The two registries: HTML (escaping) and plain text.
struct Compiled {
    html: Handlebars<'static>,
    text: Handlebars<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("names", &self.names)
            .finish()
    }
}

fn registry(escape: bool) -> Handlebars<'static> {
    let mut h = Handlebars::new();
    h.set_strict_mode(true);
    if !escape {
        // The text/plain part: no HTML escaping, but a value from data can
        // neither break its line nor carry a terminal control sequence.
        h.register_escape_fn(crate::support::text::for_plain_text);
    }
    h
}

/// `monthly.html.hbs` → (`monthly`, `html`).
fn split_name(file: &str) -> Option<(&str, &'static str)> {
    let stem = file.strip_suffix(".hbs")?;
    if let Some(name) = stem.strip_suffix(".html") {
        Some((name, "html"))
    } else {
        stem.strip_suffix(".txt").map(|name| (name, "txt"))
    }
}

/// Registers every file in its form's registry; the error names the file.
fn compile(files: &BTreeMap<String, (String, String)>) -> Result<Compiled, (String, String)> {
    let mut html = registry(true);
    let mut text = registry(false);
    for (file, (source, origin)) in files {
        let Some((name, form)) = split_name(file) else {
            continue;
        };
        let reg = if form == "html" { &mut html } else { &mut text };
        reg.register_template_string(name, source)
            .map_err(|e| (origin.clone(), e.to_string()))?;
    }
    Ok(Compiled { html, text })
}

impl Templates {
    /// The shipped templates, overridden by name by those in `dir`.
    pub fn load(dir: Option<&Path>) -> Result<Templates, TemplateError> {
        let mut files: BTreeMap<String, (String, String)> = SHIPPED
            .iter()
            .map(|(name, text)| {
                (
                    name.to_string(),
                    (text.to_string(), format!("<shipped>/{name}")),
                )
            })
            .collect();
        if let Some(dir) = dir {
            let read_err = |source| TemplateError::Read {
                dir: dir.to_path_buf(),
                source,
            };
            let mut entries: Vec<_> = std::fs::read_dir(dir)
                .map_err(read_err)?
                .collect::<Result<_, _>>()
                .map_err(read_err)?;
            entries.sort_by_key(|e| e.file_name());
            for entry in entries {
                let name = entry.file_name().to_string_lossy().into_owned();
                if split_name(&name).is_none() {
                    continue;
                }
                let path = entry.path();
                let text = std::fs::read_to_string(&path).map_err(read_err)?;
                files.insert(name, (text, path.display().to_string()));
            }
        }
        let mut forms: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
        for (file, (_, origin)) in &files {
            let Some((name, form)) = split_name(file) else {
                continue;
            };
            if !name.starts_with('_') {
                let slot = forms.entry(name.to_string()).or_default();
                if form == "html" {
                    slot.0 = Some(origin.clone());
                } else {
                    slot.1 = Some(origin.clone());
                }
            }
        }
        let mut names = BTreeMap::new();
        for (name, (h, t)) in forms {
            let h = h.ok_or_else(|| TemplateError::MissingForm(name.clone(), "html"))?;
            let t = t.ok_or_else(|| TemplateError::MissingForm(name.clone(), "txt"))?;
            names.insert(name, format!("{h}, {t}"));
        }
        let templates = Templates {
            names,
            files,
            compiled: OnceLock::new(),
        };
        if dir.is_some() {
            templates.check()?;
        }
        Ok(templates)
    }

    /// Compiles the set (once) and renders every template with a full
    /// sample report: strict mode then refuses a variable the data does not
    /// have.
    pub fn check(&self) -> Result<(), TemplateError> {
        let sample = Context::from(super::sample::sample_context());
        for name in self.names.keys() {
            self.render(name, &sample)?;
        }
        Ok(())
    }

    fn compiled(&self) -> Result<&Compiled, TemplateError> {
        self.compiled
            .get_or_init(|| compile(&self.files))
            .as_ref()
            .map_err(|(file, message)| TemplateError::Invalid {
                file: file.clone(),
                message: message.clone(),
            })
    }

    /// Template names (without partials), each with its source files.
    pub fn names(&self) -> &BTreeMap<String, String> {
        &self.names
    }

    /// Renders template `name` as (HTML, plain text).
    ///
    /// The data is a handlebars `Context` made once by the caller
    /// (`Context::from(value)` moves the value in): `Handlebars::render`
    /// would copy a large report's data for every form it renders.
    pub fn render(&self, name: &str, data: &Context) -> Result<(String, String), TemplateError> {
        if !self.names.contains_key(name) {
            return Err(TemplateError::Unknown(
                name.to_string(),
                self.names.keys().cloned().collect::<Vec<_>>().join(", "),
            ));
        }
        let render = |registry: &Handlebars<'static>, form: &'static str| {
            registry
                .render_with_context(name, data)
                .map_err(|e| TemplateError::Render {
                    name: name.to_string(),
                    form,
                    message: e.to_string(),
                })
        };
        let compiled = self.compiled()?;
        Ok((
            render(&compiled.html, "html")?,
            render(&compiled.text, "txt")?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped set is compiled on first use, not when loaded: it must
    /// compile and render the sample report, or every report would fail late.
    #[test]
    fn shipped_templates_compile_and_render_the_sample() {
        let templates = Templates::load(None).expect("shipped templates load");
        assert!(
            templates.compiled.get().is_none(),
            "the shipped set is compiled only when a report needs it"
        );
        templates
            .check()
            .expect("shipped templates render the sample");
        assert_eq!(
            templates.names().keys().collect::<Vec<_>>(),
            ["alert", "monthly"]
        );
    }

    /// A deployment's directory is compiled when loaded: a syntax error is
    /// refused at once, naming its file.
    #[test]
    fn a_broken_deployment_template_is_refused_when_loaded() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("monthly.html.hbs"), "{{#if x}}").expect("write");
        let e = Templates::load(Some(dir.path())).expect_err("refused");
        assert!(
            matches!(&e, TemplateError::Invalid { file, .. } if file.ends_with("monthly.html.hbs")),
            "{e}"
        );
    }
}
