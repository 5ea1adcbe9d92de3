//! Retention policy: keys like `f100 h24 d7`, classes and their ranks, due and keep decisions.
//!
//! Pure: no I/O, no clock (now is a parameter), no logging.
