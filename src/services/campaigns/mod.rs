//! The SMS campaign manager (seed 000).

pub mod csvio;
pub mod encoding;
pub mod phone;
pub mod settings;
pub mod state;
pub mod stop_words;
pub mod template;
pub mod webhook;
