//! The loaded set: settings, rules, templates and schedules, read and
//! checked together. The daemon swaps it whole on SIGHUP (a broken set is
//! refused and the old one keeps running); the CLI commands load the same
//! set, so a configuration the daemon would refuse is refused everywhere,
//! with the same located errors.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail};

use super::settings::{Overrides, Settings};
use crate::engine::{Rule, RuleSet, load as rules};
use crate::report::templates::Templates;
use crate::schedule::Schedule;
use crate::support::signing::SigningKey;

/// Slots of scheduled source syncs are named `sync:<source>`.
pub const SYNC_PREFIX: &str = "sync:";

/// The checked set of a process.
pub struct Loaded {
    pub settings: Settings,
    pub rules: RuleSet,
    pub templates: Templates,
    /// Jobs by name and source syncs (`sync:<source>`) with a schedule.
    pub schedules: BTreeMap<String, Schedule>,
    /// The key reports are signed with (`report.signing_key_file`), read
    /// with the rest: a key that cannot be read refuses the set.
    pub signing_key: Option<SigningKey>,
}

impl Loaded {
    /// Resolves the settings and loads the set they name.
    pub fn load(o: &Overrides) -> Result<Loaded> {
        Loaded::from_settings(Settings::resolve(o)?)
    }

    /// Loads rules and templates and checks every reference the config
    /// makes to them (and to recipient groups), located in the config file.
    pub fn from_settings(settings: Settings) -> Result<Loaded> {
        let rules = rules::load(&settings.rules_dirs, settings.builtin_rules)
            .map_err(|e| anyhow!("{e}\nno rule was run: fix the rule files above"))?;
        let config = &settings.config;
        let templates = Templates::load(config.templates.as_deref())
            .map_err(|e| anyhow!("{e}\nno report was rendered: fix the templates above"))?;
        let mut problems: Vec<(String, String)> = Vec::new();
        let mut schedules = BTreeMap::new();
        for (name, job) in &config.jobs {
            for id in &job.rules {
                if rules.get(id).is_none() {
                    problems.push((
                        format!("jobs.{name}.rules"),
                        format!("no rule `{id}` is loaded"),
                    ));
                }
            }
            if !templates.names().contains_key(&job.template) {
                problems.push((
                    format!("jobs.{name}.template"),
                    format!(
                        "no template `{}` (there are: {})",
                        job.template,
                        templates
                            .names()
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            if config.addresses(&job.recipients).is_empty() {
                problems.push((
                    format!("jobs.{name}.recipients"),
                    "no recipients".to_string(),
                ));
            }
            if let Some(text) = &job.schedule {
                // Checked when the config was read; cannot fail here.
                let s = Schedule::parse(text, config.tz()).map_err(|e| anyhow!(e))?;
                schedules.insert(name.clone(), s);
            }
        }
        for (name, source) in &config.sources {
            if let Some(text) = &source.schedule {
                let s = Schedule::parse(text, config.tz()).map_err(|e| anyhow!(e))?;
                schedules.insert(format!("{SYNC_PREFIX}{name}"), s);
            }
        }
        if !problems.is_empty() {
            // Located in the config file when there is one.
            let (file, text) = match &settings.config_file {
                Some(path) => (
                    path.clone(),
                    std::fs::read_to_string(path).unwrap_or_default(),
                ),
                None => (
                    std::path::PathBuf::from("<embedded>"),
                    crate::config::EMBEDDED.to_string(),
                ),
            };
            let errors: Vec<String> = problems
                .iter()
                .map(|(field, message)| {
                    crate::yaml::LocatedError::at_field(&file, &text, field, message.clone())
                        .to_string()
                })
                .collect();
            bail!("{}", errors.join("\n"));
        }
        let signing_key = SigningKey::read(config.report.signing_key_ref()).map_err(|e| {
            anyhow!("{e}\nnothing was run: fix report.signing_key_file or report.signing_key_env")
        })?;
        Ok(Loaded {
            settings,
            rules,
            templates,
            schedules,
            signing_key,
        })
    }

    /// The rules a run evaluates. A job of the config file runs its own
    /// rules (all enabled rules when it names none): a run with only some
    /// of them would make the next run's "new" and "resolved" wrong, so
    /// `explicit` rules are refused for it. Any other run (an ad-hoc job, or
    /// none) evaluates `explicit`, or every enabled rule.
    pub fn rules_for(&self, job: Option<&str>, explicit: &[String]) -> Result<Vec<&Rule>> {
        let configured = job.and_then(|j| self.settings.config.jobs.get(j).map(|c| (j, c)));
        let wanted: &[String] = match configured {
            Some((job, _)) if !explicit.is_empty() => bail!(
                "--rule cannot be combined with --job {job}: job `{job}` runs the rules of its configuration \
                 (give another job name for an ad-hoc selection)"
            ),
            Some((_, config)) => &config.rules,
            None => explicit,
        };
        if wanted.is_empty() {
            return Ok(self.rules.enabled().collect());
        }
        wanted
            .iter()
            .map(|id| {
                self.rules.get(id).with_context(|| {
                    format!(
                        "no rule `{id}`; loaded rules: {}",
                        self.rules
                            .rules
                            .iter()
                            .map(|r| r.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
            })
            .collect()
    }

    /// The recipients (addresses) of a job's reports; none for a run of no
    /// configured job.
    pub fn recipients(&self, job: Option<&str>) -> Vec<String> {
        let config = &self.settings.config;
        job.and_then(|j| config.jobs.get(j))
            .map(|j| config.addresses(&j.recipients))
            .unwrap_or_default()
    }
}

impl Loaded {
    /// What is in force for a run of `job` over `rules` as of `as_of`, as
    /// recorded with the run (`Store::set_run_settings`): the SHA-256 of
    /// the config file, each rule as loaded (digest, files, definition),
    /// the exceptions that apply at `as_of` and the job's schedule and
    /// recipients. The monthly report lists what changed between two runs.
    pub async fn in_force(
        &self,
        store: &crate::store::Store,
        job: Option<&str>,
        rules: &[&Rule],
        as_of: chrono::DateTime<chrono::Utc>,
    ) -> Result<serde_json::Value> {
        use sha2::{Digest, Sha256};
        let config_bytes = match &self.settings.config_file {
            Some(path) => std::fs::read(path)
                .with_context(|| format!("reading {} again to record it", path.display()))?,
            None => crate::config::EMBEDDED.as_bytes().to_vec(),
        };
        let config_sha256 = format!("{:x}", Sha256::digest(&config_bytes));
        let mut in_force = serde_json::Map::new();
        for rule in rules {
            in_force.insert(
                rule.id.clone(),
                serde_json::json!({
                    "sha256": crate::report::view::rule_digest(rule),
                    "files": rule.sources.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
                    "definition": rule,
                }),
            );
        }
        let exceptions: Vec<serde_json::Value> = crate::report::exceptions::list(store)
            .await?
            .into_iter()
            .filter(|e| e.expires_at > as_of)
            .map(|e| serde_json::to_value(&e).unwrap_or_default())
            .collect();
        let config = &self.settings.config;
        let job = job.and_then(|j| config.jobs.get(j)).map(|j| {
            serde_json::json!({
                "schedule": j.schedule,
                "recipients": config.addresses(&j.recipients),
                "template": j.template,
            })
        });
        Ok(serde_json::json!({
            "config_file": self.settings.config_file.as_ref().map_or_else(|| "<embedded>".to_string(), |p| p.display().to_string()),
            "config_sha256": config_sha256,
            "as_of": crate::model::format_instant(as_of),
            "rules": in_force,
            "exceptions": exceptions,
            "job": job,
        }))
    }
}

impl Loaded {
    /// Runs `rules` as of `as_of` over `scan`, records the run in `record`
    /// (the same store, or a scratch one) with what was in force for it
    /// (`in_force`): the one way the CLI, the demo and the daemon run rules.
    pub async fn run(
        &self,
        scan: &crate::store::Store,
        record: &crate::store::Store,
        rules: &[&Rule],
        as_of: chrono::DateTime<chrono::Utc>,
        job: Option<&str>,
    ) -> Result<crate::engine::RunSummary> {
        let in_force = self.in_force(scan, job, rules, as_of).await?;
        let summary = crate::engine::run_recorded_in(
            scan,
            record,
            rules,
            as_of,
            job,
            &self.settings.config.deployment(),
        )
        .await?;
        record.set_run_settings(summary.run_id, &in_force).await?;
        Ok(summary)
    }
}
