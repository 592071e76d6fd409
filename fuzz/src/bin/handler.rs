//! `cargo afl fuzz -i fuzz/corpora/handler -o target/fuzz/handler target/debug/fuzz-handler`

fn main() {
    afl::fuzz!(|data: &[u8]| scim_fuzz::handler(data));
}
