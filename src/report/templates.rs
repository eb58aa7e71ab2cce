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
//! for the text/plain part, so no data reaches HTML unescaped. The whole set
//! is compiled and test-rendered with a sample report when loaded, so a broken
//! set (a syntax error, a missing variable, a template without its text or
//! HTML form) is refused as a whole: the daemon keeps its previous set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

/// A compiled, checked set of templates.
pub struct Templates {
    html: Handlebars<'static>,
    text: Handlebars<'static>,
    /// Template names (not partials) and where each came from.
    names: BTreeMap<String, String>,
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
        let mut html = registry(true);
        let mut text = registry(false);
        let mut forms: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
        for (file, (source, origin)) in &files {
            let Some((name, form)) = split_name(file) else {
                continue;
            };
            let reg = if form == "html" { &mut html } else { &mut text };
            reg.register_template_string(name, source)
                .map_err(|e| TemplateError::Invalid {
                    file: origin.clone(),
                    message: e.to_string(),
                })?;
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
        let templates = Templates { html, text, names };
        // Render every template once with a full sample report: strict mode
        // then refuses a variable the data does not have.
        let sample = Context::from(super::sample::sample_context());
        for name in templates.names.keys() {
            templates.render(name, &sample)?;
        }
        Ok(templates)
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
        Ok((render(&self.html, "html")?, render(&self.text, "txt")?))
    }
}
