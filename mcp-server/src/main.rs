//! `container-kit-mcp`: not implemented yet, see the mcp-server issue.

fn main() {
    eprintln!("container-kit-mcp: the server is not implemented yet");
    std::process::exit(2);
}
