//! A program that fails on purpose (exit status 1), so that the tests can
//! prove a failing program fails the run. Not part of usertests.

#![no_std]
#![no_main]

use user::*;

entry!(main);

fn main() -> i32 {
    ensure!(
        getpid() < 0,
        "this program always fails (it proves failures are reported)"
    );
    failures()
}
