//! `trace-cli`: finds why a goro stop-the-world never ends.

fn main() {
    eprintln!("trace-cli: no commands yet");
    std::process::exit(2);
}
