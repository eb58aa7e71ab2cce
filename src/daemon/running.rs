//! The set a running daemon works with, replaced whole on SIGHUP.

use anyhow::Result;

use crate::app::{Overrides, loaded::Loaded};
use crate::deliver::Transport;
use crate::deliver::webhook::Webhooks;

/// What a reload replaces whole or not at all: the checked set of the
/// process (`app::Loaded`) and the mail transport its config names.
pub struct Running {
    pub app: Loaded,
    pub transport: Transport,
    pub webhooks: Webhooks,
}

impl Running {
    pub fn load(o: &Overrides) -> Result<Running> {
        let app = Loaded::load(o)?;
        let config = &app.settings.config;
        let transport = Transport::from_config(&config.mail.transport)?;
        let webhooks = Webhooks::from_config(&config.webhooks)?;
        // A key that cannot be read stops the start (or the reload), not a job.
        if config.pii.key_file.is_some() || config.pii.key_env.is_some() {
            config.pii.key_ref().read()?;
        }
        Ok(Running {
            app,
            transport,
            webhooks,
        })
    }
}
