//! Integration tests: the simulator on 127.0.0.1, driven over HTTP and through its handle.

mod api;
mod binary;
mod callbacks;
mod client;
mod control;
mod faults;
mod optout;
mod phones;
mod signature;
mod support;
