//! placeholder
use super::World;
pub fn zfs_main(_world: &mut World, _args: &[String], _stdin: &str) -> (i32, String, String) { (2, String::new(), String::new()) }
pub fn zpool_main(_world: &mut World, _args: &[String]) -> (i32, String, String) { (2, String::new(), String::new()) }
