//! The settings of a process: the configuration file (or the embedded
//! default) with the command line's global options (and their environment
//! variables) applied over it.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use crate::config::Config;
use crate::store::{ScanPrivileges, Store, StoreOptions};

/// What the command line may set over the configuration file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub database: Option<String>,
    pub scan_database: Option<String>,
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
    /// The URL scans connect with (PostgreSQL), when apart from `database`.
    pub scan_database: Option<String>,
    pub require_least_privilege: bool,
    pub rules_dirs: Vec<PathBuf>,
    pub builtin_rules: bool,
    pub statement_timeout: Duration,
    /// The stores opened through these settings, closed by `close_stores`.
    opened: std::sync::Arc<std::sync::Mutex<Vec<Store>>>,
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
            scan_database: o
                .scan_database
                .clone()
                .or_else(|| config.scan_database.clone()),
            require_least_privilege: config.require_least_privilege,
            rules_dirs,
            builtin_rules: config.builtin_rules && !o.no_builtin_rules,
            statement_timeout: o.statement_timeout.unwrap_or(config.statement_timeout.0),
            config_file: o.config.clone(),
            config,
            opened: Default::default(),
        }
    }

    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            statement_timeout: self.statement_timeout,
        }
    }

    /// Opens (and migrates) the store, creating it when missing (the
    /// commands that write data in: migrate, import, sync, demo), its scans
    /// on their own role when one is configured, and marks abandoned the
    /// runs a dead process of this host left `running`.
    pub async fn create_store(&self) -> Result<Store> {
        let store = Store::open(&self.database, self.store_options()).await?;
        self.ready(store).await
    }

    /// The same for a store that must already exist with its schema (every
    /// other command): a mistyped path is an error, not an empty audit.
    pub async fn open_store(&self) -> Result<Store> {
        let store = Store::open_existing(&self.database, self.store_options()).await?;
        self.ready(store).await
    }

    async fn ready(&self, store: Store) -> Result<Store> {
        if !store.is_read_only() {
            store.abandon_dead_runs().await?;
        }
        if let Ok(mut opened) = self.opened.lock() {
            opened.push(store.clone());
        }
        self.prepare_scans(store).await
    }

    /// Closes every store opened through these settings: a command's last
    /// step, so that a SQLite file is left whole (its write-ahead log folded
    /// in), and a copy of the file alone is the complete database.
    pub async fn close_stores(&self) {
        let opened = match self.opened.lock() {
            Ok(mut opened) => std::mem::take(&mut *opened),
            Err(_) => return,
        };
        for store in opened {
            store.close().await;
        }
    }

    /// Points the store's scans at `scan_database`, when configured.
    pub async fn prepare_scans(&self, mut store: Store) -> Result<Store> {
        if let Some(url) = &self.scan_database {
            store.use_scan_database(url).await?;
        }
        Ok(store)
    }

    /// Measures what the scan role may do: each excess and each lack is
    /// logged as a warning; with `require_least_privilege` an excess refuses.
    pub async fn check_scan_privileges(&self, store: &Store) -> Result<ScanPrivileges> {
        let p = store.scan_privileges().await?;
        let excess = p.excess();
        for line in excess.iter().chain(&p.missing()) {
            tracing::warn!("{line}");
        }
        if self.require_least_privilege && !excess.is_empty() {
            anyhow::bail!(
                "require_least_privilege: the scan role may do more than read the canonical \
                 tables:\n- {}\nno rule was run: see README, \"Database roles\"",
                excess.join("\n- ")
            );
        }
        Ok(p)
    }

    /// The deployment's stable id: the configured one, else the store's.
    pub async fn deployment_id(&self, store: &Store) -> Result<String> {
        Ok(match &self.config.deployment {
            Some(id) => id.clone(),
            None => store.deployment_id().await?,
        })
    }
}
