//! The settings of a process: the configuration file (or the embedded
//! default) with the command line's global options (and their environment
//! variables) applied over it.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use crate::config::Config;
use crate::store::{Store, StoreOptions};

/// What the command line may set over the configuration file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub database: Option<String>,
    /// Rule directories loaded after the config's.
    pub rules: Vec<PathBuf>,
    pub no_builtin_rules: bool,
    pub statement_timeout: Option<Duration>,
}

/// The database when neither the command line nor the file names one.
pub const DEFAULT_DATABASE: &str = "sqlite://accessaudit.db";

/// What every command and the daemon work with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: Config,
    /// The config file it came from (`None`: the embedded default).
    pub config_file: Option<PathBuf>,
    pub database: String,
    pub rules_dirs: Vec<PathBuf>,
    pub builtin_rules: bool,
    pub statement_timeout: Duration,
}

impl Settings {
    /// Reads the config file (or takes the embedded default) and applies
    /// the overrides over it.
    pub fn resolve(o: &Overrides) -> Result<Settings> {
        let config = match &o.config {
            Some(path) => Config::load(path).map_err(|e| {
                anyhow::anyhow!("{e}\nthe configuration was not used: fix the file above")
            })?,
            None => Config::embedded(),
        };
        Ok(Settings::from_config(config, o))
    }

    pub fn from_config(config: Config, o: &Overrides) -> Settings {
        let database = o
            .database
            .clone()
            .or_else(|| config.database.clone())
            .unwrap_or_else(|| DEFAULT_DATABASE.to_string());
        let mut rules_dirs = config.rules.clone();
        rules_dirs.extend(o.rules.iter().cloned());
        Settings {
            database,
            rules_dirs,
            builtin_rules: config.builtin_rules && !o.no_builtin_rules,
            statement_timeout: o.statement_timeout.unwrap_or(config.statement_timeout.0),
            config_file: o.config.clone(),
            config,
        }
    }

    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            statement_timeout: self.statement_timeout,
        }
    }

    /// Opens (and migrates) the store.
    pub async fn open_store(&self) -> Result<Store> {
        Ok(Store::open(&self.database, self.store_options()).await?)
    }

    /// The deployment's stable id: the configured one, else the store's.
    pub async fn deployment_id(&self, store: &Store) -> Result<String> {
        Ok(match &self.config.deployment {
            Some(id) => id.clone(),
            None => store.deployment_id().await?,
        })
    }
}
