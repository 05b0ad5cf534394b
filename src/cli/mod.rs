//! The command-line tool: one file per command over the `mcla` library's public API (the
//! statistics live in the library; here are only arguments, files, progress and printing).
//!
//! [`args`] (clap), [`options`] (arguments → library options), [`error`] (exit codes),
//! [`progress`] (the spinner), [`output`] (stdout), and the commands [`fit`], [`infer`] (the
//! inference options of `mcla fit`), [`compare`], [`simulate`], [`example`], [`bootstrap`], [`power`].

pub mod args;
pub mod bootstrap;
pub mod compare;
pub mod error;
pub mod example;
pub mod fit;
pub mod infer;
pub mod options;
pub mod output;
pub mod power;
pub mod progress;
pub mod simulate;
