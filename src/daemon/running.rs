//! The set a running daemon works with, replaced whole on SIGHUP.

use anyhow::Result;

use crate::app::{Overrides, loaded::Loaded};
use crate::deliver::Transport;

/// What a reload replaces whole or not at all: the checked set of the
/// process (`app::Loaded`) and the mail transport its config names.
pub struct Running {
    pub app: Loaded,
    pub transport: Transport,
}

impl Running {
    pub fn load(o: &Overrides) -> Result<Running> {
        let app = Loaded::load(o)?;
        let transport = Transport::from_config(&app.settings.config.mail.transport)?;
        Ok(Running { app, transport })
    }
}
