//! End-to-end tests: the server as a client drives it over HTTP, each on SQLite and on
//! PostgreSQL.

mod auth;
mod bad_input;
mod common;
mod forms;
mod isolation;
mod openapi;
mod plugin_sandbox;
mod plugins;
mod records;
