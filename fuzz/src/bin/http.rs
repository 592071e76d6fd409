//! `cargo afl fuzz -i fuzz/corpora/http -o target/fuzz/http target/debug/fuzz-http`

fn main() {
    afl::fuzz!(|data: &[u8]| scim_fuzz::http(data));
}
